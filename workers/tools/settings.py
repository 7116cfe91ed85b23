"""Settings of the tool executor (`agentlog worker tools`); every value has an environment name."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from domain.delegation.callback import normal_host
from workers.settings import WorkerSettings

TENANT = r"^[a-z0-9][a-z0-9._-]{1,62}$"


class ToolSettings(WorkerSettings):
    """The worker settings, plus AGENTLOG_TOOLS_*: policy, concurrency and http_fetch's limits."""

    tools_policy_dir: Path = Field(
        default=Path("policies"), description="Rego files: default.rego and <tenant>.rego (read on change)"
    )
    tools_policy_package: str = Field(
        default="agentlog.tools", pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"
    )
    tools_opa_url: str | None = Field(
        default=None, pattern=r"^https?://", description="an OPA server to ask instead of the files"
    )
    tools_opa_timeout: float = Field(default=2.0, gt=0, le=60, description="seconds to wait for OPA's answer")
    tools_fail_open_tenants: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="tenants whose calls are allowed when policy fails (comma-separated)"
    )
    tools_max_concurrent: int = Field(default=8, ge=1, le=1024, description="tool runs at once")
    tools_http_allow_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="hosts http_fetch may fetch from (comma-separated)"
    )
    tools_http_allow_private_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="allowed hosts that may also be at private or loopback addresses"
    )
    tools_http_max_bytes: int = Field(default=1_048_576, ge=1, le=64 * 1_048_576, description="body bytes kept")
    tools_http_timeout: float = Field(default=10.0, gt=0, le=600, description="seconds one fetch may take")

    @field_validator(
        "tools_fail_open_tenants", "tools_http_allow_hosts", "tools_http_allow_private_hosts", mode="before"
    )
    @classmethod
    def _list(cls, value: object) -> object:
        """Comma-separated text or a list, in normal form (lower case; hosts without brackets or final dot)."""
        items = value.split(",") if isinstance(value, str) else value
        if isinstance(items, list | tuple):
            return [normal_host(str(item)) for item in items if str(item).strip()]
        return items
