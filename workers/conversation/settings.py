"""Settings of the conversation worker (AGENTLOG_CONVERSATION_*), beside every worker's."""

from __future__ import annotations

from pydantic import Field

from workers.settings import WorkerSettings


class ConversationSettings(WorkerSettings):
    """The worker settings, plus how the conversation worker answers."""

    conversation_role: str = Field(
        default="conversation",
        pattern=r"^[A-Za-z0-9._-]{1,100}$",
        description="the model profile role of sessions without a persona (a persona's own profile wins)",
    )
    conversation_deployment_mode: str = Field(
        default="local", pattern=r"^[A-Za-z0-9._-]{1,100}$", description="the model profiles' deployment mode"
    )
    conversation_max_steps: int = Field(default=8, ge=1, le=100, description="model calls per reply (tool loop)")
    conversation_history: int = Field(default=50, ge=1, le=10_000, description="messages of the session shown")
    conversation_tool_timeout_ms: int = Field(default=30_000, ge=1, le=600_000, description="a tool call's timeout")
    conversation_tool_grace: float = Field(
        default=10.0, ge=0, le=600, description="seconds past a tool's timeout before its outcome is given up"
    )
    conversation_approval_wait: float = Field(
        default=120.0, ge=0, le=280, description="seconds a tool call may await a person's approval"
    )
    conversation_max_age: float = Field(
        default=3600.0,
        gt=0,
        description="seconds after which a user message is no longer answered (a first deploy over old sessions, "
        "an outage longer than this): the person has gone; logged and counted instead",
    )
    conversation_chunk_interval_ms: int = Field(
        default=50,
        ge=0,
        le=10_000,
        description="text streamed within this many ms of the last chunk recorded is recorded with it, as one chunk",
    )
    conversation_chunk_delay: float = Field(
        default=0.0, ge=0, le=10, description="seconds between the deterministic responder's chunks"
    )
