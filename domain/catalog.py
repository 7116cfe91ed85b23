"""Every domain event type, by contract name: the list the contracts must cover exactly."""

from __future__ import annotations

from domain.budget import events as budget
from domain.delegation import events as delegation
from domain.events import DomainEvent
from domain.model_profile import events as model_profile
from domain.session import events as session
from domain.tool import events as tool

EVENT_TYPES: dict[str, type[DomainEvent]] = {
    event.type_name(): event for module in (session, tool, budget, delegation, model_profile) for event in module.EVENTS
}
