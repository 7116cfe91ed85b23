"""Settings of the delegation worker: the signing secret, the callback allow-list, retries and timeouts."""

from __future__ import annotations

import base64
import binascii
import secrets

from pydantic import Field, SecretStr, field_validator, model_validator

from projections.settings import NameList
from workers.settings import WorkerSettings

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
ALLOW_HOSTS_SETTING = "AGENTLOG_WORKER_CALLBACK_ALLOW_HOSTS"


class DelegationSettings(WorkerSettings):
    """The worker settings (see WorkerSettings), plus AGENTLOG_WORKER_CALLBACK_*.

    A callback is tried at most `worker_callback_attempts` times; the waits between attempts grow
    from `worker_callback_wait_initial` seconds, doubling, to at most `worker_callback_wait_max`
    (with jitter); each attempt gives up after `worker_callback_timeout` seconds.
    """

    worker_callback_secret: SecretStr = Field(
        description="the Standard Webhooks signing secret, `whsec_` and 24 to 64 random bytes in base64; "
        "receivers verify the webhook-signature header with it"
    )
    worker_callback_allow_hosts: NameList = Field(
        default_factory=list,
        description="hosts a callback may reach although they resolve to a loopback, private or link-local "
        "address (comma-separated in the environment: `hooks.internal,127.0.0.1`)",
    )
    worker_callback_attempts: int = Field(default=5, ge=1, le=20, description="tries of one callback")
    worker_callback_wait_initial: float = Field(default=1.0, gt=0, le=60, description="first wait in seconds")
    worker_callback_wait_max: float = Field(default=10.0, gt=0, le=300, description="longest wait in seconds")
    worker_callback_timeout: float = Field(default=5.0, gt=0, le=60, description="seconds per attempt")

    @field_validator("worker_callback_secret")
    @classmethod
    def _whsec(cls, value: SecretStr) -> SecretStr:
        """`whsec_` then base64 of 24 to 64 bytes, as the Standard Webhooks specification recommends."""
        text = value.get_secret_value()
        if not text.startswith(SECRET_PREFIX):
            raise ValueError(
                f"the secret starts with {SECRET_PREFIX!r}: generate one with `agentlog worker callback-secret`"
            )
        try:
            raw = base64.b64decode(text.removeprefix(SECRET_PREFIX), validate=True)
        except binascii.Error as e:
            raise ValueError(f"after {SECRET_PREFIX!r} the secret is base64: {e}") from e
        if not 24 <= len(raw) <= 64:
            raise ValueError(f"the secret holds 24 to 64 bytes, this one {len(raw)}")
        return value

    @model_validator(mode="after")
    def _waits_in_order(self) -> DelegationSettings:
        if self.worker_callback_wait_max < self.worker_callback_wait_initial:
            raise ValueError("AGENTLOG_WORKER_CALLBACK_WAIT_MAX is at least AGENTLOG_WORKER_CALLBACK_WAIT_INITIAL")
        return self


def new_secret() -> str:
    """A fresh signing secret in the `whsec_` form: 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()
