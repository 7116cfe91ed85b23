"""Commands of a model profile: set it (replacing any earlier one) or remove it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, kw_only=True)
class SetModelProfile:
    """Which model serves `role` in `deployment_mode`, at `base_url` + `api_path`, with which settings."""

    role: str
    deployment_mode: str
    model: str
    base_url: str
    api_path: str
    temperature: float
    extras: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class RemoveModelProfile:
    role: str
    deployment_mode: str
