"""Settings of the API process; every value has an environment name, checked at start-up."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from projections.settings import NameList, ReadSideSettings


class ApiSettings(ReadSideSettings):
    """The servers (see ReadSideSettings) and AGENTLOG_API_* / AGENTLOG_JWT_* settings.

    JWT bearer tokens are accepted when AGENTLOG_JWT_SECRET (HS256) or AGENTLOG_JWT_PUBLIC_KEY
    (RS256, PEM text) is set; API keys always are.
    """

    api_host: str = "127.0.0.1"
    api_port: int = Field(default=18000, ge=1, le=65535)
    api_workers: int = Field(default=1, ge=1, le=64, description="uvicorn worker processes")
    # 2 MiB: the largest body the document allows (a message with every field at its maximum, each character an
    # astral one that JSON clients may escape as a 12-byte \u pair) is about 1.8 MB (test_api_input_rules.py)
    api_max_body: int = Field(default=2 * 1_048_576, ge=1024, description="largest request body in bytes")
    api_read_wait: float = Field(default=2.0, ge=0, le=30, description="longest wait for a view to catch up")
    api_pool_size: int = Field(default=16, ge=1, le=256)
    api_supervisor_state: Path | None = Field(
        default=None,
        description="the supervisor's state file, for GET /v1/admin/processes and the restart metrics "
        "(`agentlog stack up` sets it)",
    )
    jwt_secret: str | None = Field(default=None, min_length=16)
    jwt_public_key: str | None = None
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    api_callback_allow_hosts: NameList = Field(
        default_factory=list,
        description="hosts a callback URL may name although they resolve to a loopback, private or link-local "
        "address (comma-separated in the environment: `hooks.internal,10.0.0.7`)",
    )

    @model_validator(mode="after")
    def _one_jwt_key(self) -> ApiSettings:
        if self.jwt_secret and self.jwt_public_key:
            raise ValueError("set AGENTLOG_JWT_SECRET (HS256) or AGENTLOG_JWT_PUBLIC_KEY (RS256), not both")
        return self
