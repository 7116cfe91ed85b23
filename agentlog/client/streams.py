"""Live transcript updates: the Server-Sent Events decoder and the WebSocket address, for both clients."""

from __future__ import annotations

import json
from urllib.parse import urlencode, urlsplit, urlunsplit

from agentlog.client.models import StreamEvent


class SseDecoder:
    """Turns `text/event-stream` lines into StreamEvents (the WHATWG rules: fields up to a blank line,
    `:` lines are comments, multi-line `data` joined with newlines; `data` is JSON on this API)."""

    def __init__(self) -> None:
        self._id: str | None = None
        self._kind = "message"
        self._data: list[str] = []

    def feed(self, line: str) -> StreamEvent | None:
        """The event a blank line completes, else None."""
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None  # a keep-alive comment
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "id":
            self._id = value
        elif name == "event":
            self._kind = value
        elif name == "data":
            self._data.append(value)
        return None

    def _dispatch(self) -> StreamEvent | None:
        if not self._data:
            self._kind = "message"
            return None
        text = "\n".join(self._data)
        event = StreamEvent(id=self._id, kind=self._kind, data=json.loads(text))
        self._kind, self._data = "message", []
        return event


def websocket_url(base_url: str, session_id: str, last_event_id: str | None) -> str:
    """The session's WebSocket URL: ws(s) for http(s), with `last_event_id` to resume."""
    parts = urlsplit(base_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    path = f"{parts.path.rstrip('/')}/v1/sessions/{session_id}/ws"
    query = urlencode({"last_event_id": last_event_id}) if last_event_id else ""
    return urlunsplit((scheme, parts.netloc, path, query, ""))


def socket_event(text: str | bytes) -> StreamEvent:
    """A WebSocket message `{"id", "kind", "data"}` as a StreamEvent."""
    message = json.loads(text)
    return StreamEvent(id=message.get("id"), kind=message["kind"], data=message.get("data"))


def socket_refusal(code: int, reason: str) -> tuple[int, str] | None:
    """The HTTP status and detail of a refusal close (4000 + status), None for a normal end."""
    return (code - 4000, reason) if 4000 <= code < 5000 else None
