"""The model profile aggregate, one per (role, deployment mode): set, replaced, removed, set again."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from domain.decider import Decider
from domain.errors import InvalidCommand, NotFound, UnexpectedEvent
from domain.events import DomainEvent
from domain.model_profile.commands import RemoveModelProfile, SetModelProfile
from domain.model_profile.events import ModelProfileRemoved, ModelProfileSet
from domain.validation import require_http_url, require_text

STREAM_TYPE = "model_profile"
MIN_TEMPERATURE = 0.0
MAX_TEMPERATURE = 2.0


@dataclass(frozen=True, kw_only=True)
class ModelProfile:
    """The latest profile set for a (role, deployment mode), whether it was removed since, events folded."""

    role: str
    deployment_mode: str
    model: str
    base_url: str
    api_path: str
    temperature: float
    extras: Mapping[str, str] = field(default_factory=dict)
    removed: bool = False
    version: int = 0


def stream_id(role: str, deployment_mode: str) -> str:
    """The id of a model profile's stream."""
    return f"model-profile:{role}:{deployment_mode}"


def evolve(state: ModelProfile | None, event: DomainEvent) -> ModelProfile:
    """The state after one more event; a set replaces every setting and undoes a removal."""
    match state, event:
        case _, ModelProfileSet():
            return ModelProfile(
                role=event.role,
                deployment_mode=event.deployment_mode,
                model=event.model,
                base_url=event.base_url,
                api_path=event.api_path,
                temperature=event.temperature,
                extras=dict(event.extras),
                version=(state.version if state else 0) + 1,
            )
        case ModelProfile(removed=False), ModelProfileRemoved():
            return replace(state, removed=True, version=state.version + 1)
    raise UnexpectedEvent(STREAM_TYPE, event.type_name(), state.version if state else 0)


DECIDER = Decider(stream_type=STREAM_TYPE, evolve=evolve, state_type=ModelProfile, tenant_owned=False)  # platform-wide


def set_profile(state: ModelProfile | None, command: SetModelProfile) -> list[DomainEvent]:
    """Set the profile (new, replacing, or after a removal) once every setting is valid.

    Role and deployment mode are non-blank without ':' (they form the stream id); the model is
    non-blank; base_url is http(s); api_path starts with '/'; temperature is within 0..2.
    """
    for name, value in (("role", command.role), ("deployment_mode", command.deployment_mode)):
        _valid_key(name, value)
    if not command.api_path.startswith("/"):
        raise InvalidCommand("api_path", "must start with '/'")
    if not (math.isfinite(command.temperature) and MIN_TEMPERATURE <= command.temperature <= MAX_TEMPERATURE):
        raise InvalidCommand("temperature", f"must be within {MIN_TEMPERATURE}..{MAX_TEMPERATURE}")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in command.extras.items()):
        raise InvalidCommand("extras", "keys and values must be text")
    return [
        ModelProfileSet(
            role=command.role,
            deployment_mode=command.deployment_mode,
            model=require_text("model", command.model),
            base_url=require_http_url("base_url", command.base_url),
            api_path=command.api_path,
            temperature=command.temperature,
            extras=dict(command.extras),
        )
    ]


def remove(state: ModelProfile | None, command: RemoveModelProfile) -> list[DomainEvent]:
    """Remove the current profile; NotFound when there is none (never set, or removed already)."""
    if state is None or state.removed:
        raise NotFound(STREAM_TYPE, stream_id(command.role, command.deployment_mode))
    return [ModelProfileRemoved(role=command.role, deployment_mode=command.deployment_mode)]


def _valid_key(field: str, value: str) -> None:
    require_text(field, value)
    if ":" in value:
        raise InvalidCommand(field, "must not contain ':'")
