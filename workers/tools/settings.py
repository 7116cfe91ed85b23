"""Settings of the tool executor (`agentlog worker tools`); every value has an environment name."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from projections.settings import NameList
from workers.settings import WorkerSettings

TENANT = r"^[a-z0-9][a-z0-9._-]{1,62}$"


class ToolSettings(WorkerSettings):
    """The worker settings, plus AGENTLOG_TOOLS_*: policy, concurrency, approval deadlines and http_fetch's limits."""

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
    tools_fail_open_tenants: NameList = Field(
        default_factory=list, description="tenants whose calls are allowed when policy fails (comma-separated)"
    )
    tools_max_concurrent: int = Field(default=8, ge=1, le=1024, description="tool runs at once")
    tools_approval_timeout_s: float = Field(
        default=3600.0,
        gt=0,
        le=30 * 86_400,
        description="seconds a call may await a person's approval; then it ends timed out (recorded with the call)",
    )
    tools_approval_check_s: float = Field(
        default=5.0, gt=0, le=600, description="seconds between looks for calls past their approval deadline"
    )
    tools_http_allow_hosts: NameList = Field(
        default_factory=list, description="hosts http_fetch may fetch from (comma-separated)"
    )
    tools_http_allow_private_hosts: NameList = Field(
        default_factory=list, description="allowed hosts that may also be at private or loopback addresses"
    )
    tools_http_max_bytes: int = Field(default=1_048_576, ge=1, le=64 * 1_048_576, description="body bytes kept")
    tools_http_timeout: float = Field(default=10.0, gt=0, le=600, description="seconds one fetch may take")
