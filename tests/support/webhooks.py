"""A real webhook receiver for callback tests: an HTTP server on loopback answering with scripted statuses."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    """One request as the receiver read it: lower-cased headers, the body's bytes, the monotonic time."""

    path: str
    headers: dict[str, str]
    body: bytes
    at: float


class Receiver:
    """Answers each POST with the next of `answers`, then `then` for ever; records every request.

    Use as a context manager: the server runs in a thread on 127.0.0.1 at a free port until exit.
    """

    def __init__(self, answers: Iterable[int] = (), then: int = 204) -> None:
        self.answers = list(answers)
        self.then = then
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks/agentlog"

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, received: Received) -> int:
        with self._lock:
            self.received.append(received)
            return self.answers.pop(0) if self.answers else self.then

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                status = receiver._answer(Received(self.path, headers, body, time.monotonic()))
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass  # quiet: the tests read `received`

        return Handler
