"""Request and response models shared by the routers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from domain.events import AppendResult

Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:-]+$")]
Metadata = Annotated[
    dict[Annotated[str, Field(min_length=1, max_length=100)], Annotated[str, Field(max_length=2000)]],
    Field(max_length=50, description="client-defined string pairs, kept with the event"),
]


class Strict(BaseModel):
    """A request body: unknown fields are refused (422), not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class Recorded(BaseModel):
    """What a command recorded: pass `position` as `min_position` to a query to read your write."""

    event_id: UUID = Field(description="id of the last event the command recorded")
    position: int = Field(description="the event store's global position of that event", examples=[1234])


def recorded(result: AppendResult) -> dict[str, object]:
    return {"event_id": result.event_ids[-1] if result.event_ids else None, "position": result.position}


class Page(BaseModel):
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


def from_millis(value: str | int | None) -> datetime | None:
    """A view's epoch-milliseconds field as a UTC time."""
    return datetime.fromtimestamp(int(value) / 1000, UTC) if value not in (None, "") else None
