"""Every domain event type, by contract name (the list the contracts must cover exactly), and every
aggregate's decider, by stream type."""

from __future__ import annotations

from typing import Any

from domain.budget import aggregate as budget_aggregate
from domain.budget import events as budget
from domain.decider import Decider
from domain.delegation import aggregate as delegation_aggregate
from domain.delegation import events as delegation
from domain.events import DomainEvent
from domain.model_profile import aggregate as model_profile_aggregate
from domain.model_profile import events as model_profile
from domain.session import aggregate as session_aggregate
from domain.session import events as session
from domain.tool import aggregate as tool_aggregate
from domain.tool import events as tool

EVENT_TYPES: dict[str, type[DomainEvent]] = {
    event.type_name(): event for module in (session, tool, budget, delegation, model_profile) for event in module.EVENTS
}

DECIDERS: dict[str, Decider[Any]] = {
    decider.stream_type: decider
    for decider in (
        session_aggregate.DECIDER,
        tool_aggregate.DECIDER,
        budget_aggregate.DECIDER,
        budget_aggregate.LIMITS_DECIDER,
        delegation_aggregate.DECIDER,
        model_profile_aggregate.DECIDER,
    )
}
