"""Events of a model profile."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from domain.events import DomainEvent


@dataclass(frozen=True, kw_only=True)
class ModelProfileEvent(DomainEvent):
    aggregate = "model_profile"
    role: str
    deployment_mode: str


@dataclass(frozen=True, kw_only=True)
class ModelProfileSet(ModelProfileEvent):
    model: str
    base_url: str
    api_path: str
    temperature: float
    extras: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class ModelProfileRemoved(ModelProfileEvent):
    pass


EVENTS = (ModelProfileSet, ModelProfileRemoved)
