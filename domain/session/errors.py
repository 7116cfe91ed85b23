"""Errors of a conversation session."""

from __future__ import annotations

from uuid import UUID

from domain.errors import InvalidCommand, StateConflict


class SessionAlreadyStarted(StateConflict):
    """A session with this id exists already; nothing was recorded."""

    def __init__(self, session_id: UUID) -> None:
        super().__init__(str(session_id), "session already started")
        self.session_id = session_id


class SessionClosedError(StateConflict):
    """The session is closed: it takes no more messages and cannot be closed again."""

    def __init__(self, session_id: UUID) -> None:
        super().__init__(str(session_id), "session is closed")
        self.session_id = session_id


class TextTooLong(InvalidCommand):
    """A text of `length` characters exceeds `limit`."""

    def __init__(self, field: str, length: int, limit: int) -> None:
        super().__init__(field, f"must be at most {limit} characters, got {length}")
        self.length = length
        self.limit = limit


class ReplyCancelledError(StateConflict):
    """The reply was cancelled (ReplyCancelled after the message it answers): nothing more of it is recorded."""

    def __init__(self, session_id: UUID) -> None:
        super().__init__(str(session_id), "the reply was cancelled")
        self.session_id = session_id
