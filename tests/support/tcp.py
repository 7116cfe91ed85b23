"""A real TCP port in front of a real server, to take that server away and bring it back in tests."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

from stack.ports import free_port

# what a load balancer answers while the server behind it is down
UNAVAILABLE = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 18\r\n"
    b"Connection: close\r\n\r\nno backend is up\r\n"
)


class Gateway:
    """A port in front of `target`, closed at first (connections are refused, as when the server is down).
    `fail()` makes it answer every connection with a 503, as a load balancer whose backend is down does;
    `forward()` relays every new connection to `target`."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._answer: bytes | None = None
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []

    def fail(self) -> None:
        self._answer = UNAVAILABLE
        self._listen()

    def forward(self) -> None:
        self._answer = None
        self._listen()

    def close(self) -> None:
        for s in [self._listener, *self._sockets]:
            if s is not None:
                with contextlib.suppress(OSError):
                    s.close()
        self._listener, self._sockets = None, []

    def _listen(self) -> None:
        if self._listener is None:
            self._listener = socket.create_server(("127.0.0.1", self.port))
            threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed
            self._sockets.append(client)
            threading.Thread(target=self._serve, args=(client, self._answer), daemon=True).start()

    def _serve(self, client: socket.socket, answer: bytes | None) -> None:
        with contextlib.suppress(OSError):
            if answer is not None:
                client.recv(65536)  # the request
                client.sendall(answer)
                client.close()
                return
            server = socket.create_connection(self.target, timeout=10)
            server.settimeout(None)  # an idle kept-alive connection must stay open
            self._sockets.append(server)
            threading.Thread(target=_pump, args=(server, client), daemon=True).start()
            _pump(client, server)


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


@contextlib.contextmanager
def gateway(target: tuple[str, int]) -> Iterator[Gateway]:
    """A Gateway to `target`, closed afterwards."""
    port = Gateway(target)
    try:
        yield port
    finally:
        port.close()
