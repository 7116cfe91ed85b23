"""Time travel: an aggregate's state at a version or a moment, by folding its events up to that point.

Nothing is stored for it: the stream's events up to the point are read and folded by the
aggregate's own decider, so the answer is, by construction, what replaying those events gives.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from domain.catalog import DECIDERS
from domain.errors import NotFound
from domain.events import RecordedEvent


class StreamReader(Protocol):
    async def read_stream(self, stream_id: str, *, upto: int | None = None) -> list[RecordedEvent]:
        """The stream's events in version order, up to version `upto` when given."""
        ...


@dataclass(frozen=True)
class PastState:
    """A stream's state after its events up to `version` (the last of them), and those events."""

    stream_id: str
    stream_type: str
    tenant_id: str
    version: int
    state: object
    events: Sequence[RecordedEvent]


async def state_at(
    reader: StreamReader,
    stream_id: str,
    *,
    version: int | None = None,
    moment: datetime | None = None,
    tenant_id: str | None = None,
    stream_type: str | None = None,
) -> PastState:
    """The state after the stream's events up to `version` and occurred at or before `moment` (each when
    given). NotFound when there is no such event, with `tenant_id` when the stream is another tenant's (a
    platform-wide stream, such as a model profile, is anyone's), with `stream_type` when it is of another."""
    events = await reader.read_stream(stream_id, upto=version)
    if moment is not None:
        events = [e for e in events if e.meta.occurred_at <= moment]
    decider = DECIDERS.get(events[0].meta.stream_type) if events else None
    others = tenant_id is not None and decider is not None and decider.tenant_owned
    if (
        decider is None
        or (others and events[0].meta.tenant_id != tenant_id)
        or stream_type not in (None, decider.stream_type)
    ):
        raise NotFound(stream_type or "stream", stream_id)
    state = decider.fold(e.event for e in events)
    first = events[0].meta
    return PastState(stream_id, first.stream_type, first.tenant_id, events[-1].meta.stream_version, state, events)
