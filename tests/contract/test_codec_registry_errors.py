"""Registry failures sorted once by the codec: unavailable is never undecodable, nor the event's fault."""

from __future__ import annotations

import socket
import struct
from urllib.parse import urlsplit

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient

from contracts.codec import EventCodec
from contracts.errors import RegistryUnavailable, SchemaNotRegistered, UndecodableRecord
from contracts.routing import Routing
from stack.ports import free_port
from tests.support.events import message
from tests.support.tcp import gateway


def codec_at(url: str, routing: Routing, **conf: object) -> EventCodec:
    """A codec with a registry client of its own (nothing cached), no client-side retries."""
    return EventCodec(SchemaRegistryClient({"url": url, "max.retries": 0, **conf}), routing)


def test_a_registry_that_does_not_answer_is_unavailable_for_every_codec_call(codec):
    value = codec.encode(message()).value
    closed = codec_at(f"http://127.0.0.1:{free_port()}/apis/ccompat/v7", codec.routing)

    for call in (lambda: closed.read(value), lambda: closed.decode(value), closed.resolve):
        with pytest.raises(RegistryUnavailable, match="cannot reach the schema registry"):
            call()
    with pytest.raises(RegistryUnavailable):
        closed.encode(message())  # a 503 at the API, not a 422 for the client's event


def test_a_registry_behind_a_gateway_answering_503_is_unavailable_not_undecodable(servers, codec):
    value = codec.encode(message()).value
    registry = urlsplit(servers.schema_registry_url)
    with gateway((registry.hostname or "", registry.port or 80)) as port:
        port.fail()
        behind = codec_at(f"http://127.0.0.1:{port.port}{registry.path}", codec.routing)

        for call in (lambda: behind.read(value), behind.resolve, lambda: behind.encode(message())):
            with pytest.raises(RegistryUnavailable, match="HTTP 503"):
                call()
        port.forward()
        assert behind.read(value) == codec.read(value)  # the same codec reads it once the registry answers


def test_a_registry_that_times_out_is_unavailable(codec):
    value = codec.encode(message()).value
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts connections, never answers
        hung = codec_at(f"http://127.0.0.1:{silent.getsockname()[1]}", codec.routing, timeout=0.5)

        with pytest.raises(RegistryUnavailable, match=r"(?i)timed? ?out"):
            hung.read(value)


def test_a_url_that_answers_but_not_like_a_registry_is_unavailable_not_a_missing_schema(servers, codec):
    """The registry's base URL without `/apis/ccompat/v7` answers 404 to everything: that 404 is no
    registry's verdict on the schema id, so the record must not be dead-lettered as undecodable."""
    url = urlsplit(servers.schema_registry_url)
    wrong_path = codec_at(f"{url.scheme}://{url.netloc}/", codec.routing)
    value = codec.encode(message()).value

    with pytest.raises(RegistryUnavailable, match="HTTP 404"):
        wrong_path.read(value)
    with pytest.raises(RegistryUnavailable, match="HTTP 404"):
        wrong_path.resolve()


def test_only_the_registrys_own_answer_makes_a_record_undecodable_or_a_schema_unregistered(
    servers, codec, subject_prefix
):
    fresh = codec_at(servers.schema_registry_url, codec.routing)
    with pytest.raises(UndecodableRecord, match="unknown to the registry"):
        fresh.read(struct.pack(">bI", 0, 2**31 - 1) + b"\x02a")
    unregistered = codec_at(servers.schema_registry_url, Routing(prefix=subject_prefix))
    with pytest.raises(SchemaNotRegistered, match=subject_prefix):
        unregistered.encode(message())
