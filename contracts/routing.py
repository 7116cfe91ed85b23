"""The one routing table: event type -> Kafka topic, key = stream id, subject per TopicRecordNameStrategy."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from domain.events import DomainEvent
from domain.session.events import MessagePosted, Role

INBOUND = "conversation.inbound"
OUTBOUND = "conversation.outbound"
TOOL_REQUESTS = "tool.requests"
TOOL_RESULTS = "tool.results"
BUDGET_EVENTS = "budget.events"
DELEGATION_TASKS = "delegation.tasks"
MODEL_PROFILES = "model.profiles"

ROUTES: Mapping[str, str] = {
    "agentlog.session.SessionStarted": INBOUND,
    "agentlog.session.MessagePosted": INBOUND,  # assistant messages go OUTBOUND, see topic_for
    "agentlog.session.AssistantReplyChunk": OUTBOUND,
    "agentlog.session.SessionClosed": INBOUND,
    "agentlog.session.ReplyCancelled": OUTBOUND,  # beside the reply's chunks, in order on the session's key
    "agentlog.tool.ToolRequested": TOOL_REQUESTS,
    "agentlog.tool.ToolApproved": TOOL_REQUESTS,  # beside its request (same key, same partition): the executor runs it
    "agentlog.tool.ToolAllowed": TOOL_RESULTS,
    "agentlog.tool.ToolApprovalRequested": TOOL_RESULTS,
    "agentlog.tool.ToolDenied": TOOL_RESULTS,
    "agentlog.tool.ToolCompleted": TOOL_RESULTS,
    "agentlog.tool.ToolFailed": TOOL_RESULTS,
    "agentlog.budget.BudgetLimitSet": BUDGET_EVENTS,
    "agentlog.budget.TokensConsumed": BUDGET_EVENTS,
    "agentlog.budget.BudgetExceeded": BUDGET_EVENTS,
    "agentlog.budget.TokensReserved": BUDGET_EVENTS,
    "agentlog.budget.ReservationSettled": BUDGET_EVENTS,
    "agentlog.delegation.DelegationTaskCreated": DELEGATION_TASKS,
    "agentlog.delegation.DelegationTaskStarted": DELEGATION_TASKS,
    "agentlog.delegation.DelegationTaskCompleted": DELEGATION_TASKS,
    "agentlog.delegation.DelegationTaskFailed": DELEGATION_TASKS,
    "agentlog.delegation.DelegationCallbackDelivered": DELEGATION_TASKS,
    "agentlog.delegation.DelegationCallbackFailed": DELEGATION_TASKS,
    "agentlog.model_profile.ModelProfileSet": MODEL_PROFILES,
    "agentlog.model_profile.ModelProfileRemoved": MODEL_PROFILES,
}
# Event types published on more than their main topic (the subject exists once per topic).
ALSO: Mapping[str, tuple[str, ...]] = {"agentlog.session.MessagePosted": (OUTBOUND,)}
# Who reads what: the topics each worker's consumer group consumes (`agentlog worker NAME`; their freshness).
WORKER_TOPICS: Mapping[str, tuple[str, ...]] = {
    "conversation": (INBOUND,),
    "tools": (TOOL_REQUESTS,),  # requests, and the approvals of those that awaited one
    "delegation": (DELEGATION_TASKS,),
}


@dataclass(frozen=True)
class Routing:
    """Topic and subject names, optionally under a prefix (tests and side-by-side deployments)."""

    prefix: str = ""
    routes: Mapping[str, str] = field(default_factory=lambda: ROUTES)

    def topic_for(self, event: DomainEvent) -> str:
        """The topic this event is published to; assistant messages leave on the outbound topic."""
        if isinstance(event, MessagePosted) and event.role is Role.ASSISTANT:
            return self.prefix + OUTBOUND
        return self.prefix + self.routes[event.type_name()]

    def topics_for(self, event_type: str) -> tuple[str, ...]:
        """Every topic that can carry event_type."""
        return tuple(self.prefix + t for t in (self.routes[event_type], *ALSO.get(event_type, ())))

    def worker_group(self, worker: str) -> str:
        """The Kafka consumer group of the worker named `worker`: its committed offsets are its progress."""
        return f"{self.prefix}agentlog-worker-{worker}"

    def topics(self) -> list[str]:
        """All topics, sorted."""
        return sorted({topic for name in self.routes for topic in self.topics_for(name)})

    @staticmethod
    def subject(topic: str, record_name: str) -> str:
        """TopicRecordNameStrategy: `<topic>-<record full name>`."""
        return f"{topic}-{record_name}"

    def subjects(self) -> list[tuple[str, str]]:
        """(subject, event type) for every topic an event type is published on."""
        return [(self.subject(topic, name), name) for name in self.routes for topic in self.topics_for(name)]
