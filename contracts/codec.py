"""Avro codecs in the Confluent wire format (magic byte 0, 4-byte schema id, Avro body).

Both directions go through code generated per contract (contracts/compiled.py: the event straight to
its Avro body and back), falling back to fastavro with every schema parsed once, in the wire format
confluent-kafka's AvroSerializer and AvroDeserializer write and read (tests read our records with
them); the serializers' per-record overhead (a subject lookup, a context, their own schema
handling) would cost more than the Avro itself. Writers never register schemas: `resolve()` looks
every subject up at start-up and fails fast, naming the subject, when the local schema is not
registered. Decoding fetches the writer's schema from the registry (whose client caches it) and
parses it once per schema id. A writer schema equal to the local one is
read as it is; any other is resolved into the local (current) schema, so an event written under
an older version is read as the current one (Avro schema resolution).

`read()` is the fast path for consumers that copy values out (the projections): the Avro record
itself, with ids left as their text and times as epoch milliseconds, which is what read models
store; it builds no UUID, datetime or dataclass, and is about three times faster than `decode()`.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from io import BytesIO
from typing import Any

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from fastavro import schemaless_reader, schemaless_writer
from fastavro.schema import SchemaParseException, parse_schema
from fastavro.validation import ValidationError, validate

from contracts.compiled import Compiled, Refused, compile_contract
from contracts.convert import from_record, to_record
from contracts.errors import EventRejected, SchemaNotRegistered, UndecodableRecord, UnknownEventType
from contracts.registry_calls import registry_call
from contracts.routing import Routing
from contracts.schemas import Contract, event_contracts
from contracts.validation import logical_fields
from contracts.validation import problems as logical_problems
from domain.catalog import EVENT_TYPES
from domain.events import RecordedEvent

_HEADER = struct.Struct(">bI")
# What the generated writer raises for a value it does not write, and its reader for bytes it cannot read:
# the generic path then decides (writes the value, or names what is wrong)
_NOT_WRITTEN = (Refused, TypeError, ValueError, AttributeError, OverflowError, KeyError)
_NOT_READ = (ValueError, TypeError, IndexError, KeyError, UnicodeDecodeError, OverflowError)
# Logical types `read()` leaves as their underlying values: ids as text, times as epoch milliseconds.
_KEPT_AS_WRITTEN = frozenset({"uuid", "timestamp-millis"})
Record = dict[str, Any]  # an Avro record as fastavro reads it


@dataclass(frozen=True)
class Encoded:
    """An event ready for Kafka: where it goes, its key (the stream id) and its bytes."""

    topic: str
    key: bytes
    value: bytes
    schema_id: int
    event_type: str


@dataclass(frozen=True)
class _Writer:
    """A registered schema as decoding needs it: its record name, parsed, and the schema to read into;
    `plain` and `plain_reader` are the same without the logical types `read()` leaves as written."""

    name: str
    schema: Any
    reader: Any  # None when the writer schema is the local one: nothing to resolve
    plain: Any
    plain_reader: Any


class EventCodec:
    """Encodes recorded events for their topic and decodes any agentlog record back."""

    def __init__(
        self,
        registry: SchemaRegistryClient,
        routing: Routing | None = None,
        contracts: dict[str, Contract] | None = None,
    ) -> None:
        self.registry = registry
        self.routing = routing or Routing()
        self.contracts = contracts or event_contracts()
        self._parsed = {name: parse_schema(c.schema) for name, c in self.contracts.items()}
        self._plain = {name: parse_schema(as_written(c.schema)) for name, c in self.contracts.items()}
        self._logical = {name: list(logical_fields(c.schema)) for name, c in self.contracts.items()}
        self._writers: dict[int, _Writer] = {}
        self._compiled: dict[str, Compiled | None] = {}
        self.schema_ids: dict[str, int] = {}

    def resolve(self) -> dict[str, int]:
        """Look up the schema id of every subject; SchemaNotRegistered names the first one missing,
        RegistryUnavailable says the registry gave no verdict (see `registry_call`)."""
        for subject, event_type in self.routing.subjects():
            self._lookup(subject, event_type)
        return self.schema_ids

    def _lookup(self, subject: str, event_type: str) -> int:
        schema = Schema(self.contracts[event_type].schema_str, "AVRO")
        with registry_call(lambda: SchemaNotRegistered(subject)):
            found = int(self.registry.lookup_schema(subject, schema).schema_id or 0)
        self.schema_ids[subject] = found
        return found

    def encode(self, recorded: RecordedEvent) -> Encoded:
        """Validate and serialize; EventRejected (naming the fields at fault) when it does not fit,
        SchemaNotRegistered when its subject lacks the local schema (the server's fault, not the
        event's), RegistryUnavailable when the registry gives no verdict.

        The generated writer checks and writes in one pass; what it does not accept takes the generic
        path, where validation runs before fastavro's writer because that coerces some wrong values (a
        string into a boolean, a float into a long) instead of refusing them. The subject's schema id
        is looked up once per subject.
        """
        name = recorded.event.type_name()
        parsed = self._parsed.get(name)
        if parsed is None:
            raise UnknownEventType(name)
        topic = self.routing.topic_for(recorded.event)
        subject = self.routing.subject(topic, name)
        schema_id = self.schema_ids.get(subject) or self._lookup(subject, name)
        header = _HEADER.pack(0, schema_id)
        if compiled := self._compiled_for(name):
            out = bytearray(header)
            try:
                compiled.write(recorded, out)
                return Encoded(topic, recorded.meta.stream_id.encode(), bytes(out), schema_id, name)
            except _NOT_WRITTEN:
                pass  # the generic path below writes it or says what is wrong
        record = to_record(recorded)
        self._validate(name, record)
        body = BytesIO()
        body.write(header)
        try:
            schemaless_writer(body, parsed, record)
        except (TypeError, ValueError, KeyError, AttributeError, OverflowError, ArithmeticError) as e:
            raise EventRejected(name, [str(e)]) from e
        return Encoded(topic, recorded.meta.stream_id.encode(), body.getvalue(), schema_id, name)

    def _compiled_for(self, name: str) -> Compiled | None:
        """The generated writer and reader of a contract (contracts/compiled.py), made on first use."""
        if name not in self._compiled:
            known = name in self.contracts and name in EVENT_TYPES
            self._compiled[name] = compile_contract(self.contracts[name].schema, EVENT_TYPES[name]) if known else None
        return self._compiled[name]

    def _validate(self, name: str, record: dict[str, Any]) -> None:
        if wrong := logical_problems(name, self._logical[name], record):
            raise EventRejected(name, wrong)
        try:
            # a yes/no answer first: collecting the reasons builds an error per union branch tried
            if not validate(record, self._parsed[name], raise_errors=False, strict=True):
                validate(record, self._parsed[name], raise_errors=True, strict=True)
        except ValidationError as e:
            raise EventRejected(name, [str(problem) for problem in e.errors]) from e
        except (TypeError, ValueError, ArithmeticError) as e:  # raised by logical-type checks
            raise EventRejected(name, [f"{name}: {e}"]) from e

    def decode(self, value: bytes) -> RecordedEvent:
        """The recorded event a Kafka record carries, upcast to the current schema."""
        writer = self._writer(value)
        if writer.reader is None and (compiled := self._compiled_for(writer.name)):
            try:
                return compiled.read(value, _HEADER.size)
            except _NOT_READ:
                pass  # the generic path below says what is wrong
        # read as written (ids as text, times as epoch ms), about twice as fast as fastavro's
        # logical-type conversions; from_record turns them into UUIDs and datetimes
        record = self._body(value, writer, writer.plain, writer.plain_reader)
        return from_record(EVENT_TYPES[writer.name], record)

    def read(self, value: bytes) -> tuple[str, Record]:
        """The event's contract name and its record (with `meta`), upcast to the current schema, ids as
        text and times as epoch milliseconds; the same errors as `decode()`."""
        writer = self._writer(value)
        return writer.name, self._body(value, writer, writer.plain, writer.plain_reader)

    def current_body(self, value: bytes) -> tuple[str, bytes]:
        """The event's contract name and its Avro body (no header) under the current schema: the stored
        bytes themselves when they were written with it, else read (upcast) and written again."""
        writer = self._writer(value)
        if writer.reader is None and writer.name in self._parsed:
            return writer.name, value[_HEADER.size :]
        record = self._body(value, writer, writer.schema, writer.reader)
        body = BytesIO()
        schemaless_writer(body, self._parsed[writer.name], record)
        return writer.name, body.getvalue()

    def current_body_of(self, name: str, record: Record) -> bytes:
        """The Avro body of a record as `read()` gives it (ids as text, times as epoch ms) under the current
        schema of the contract `name`."""
        body = BytesIO()
        schemaless_writer(body, self._plain[name], record)
        return body.getvalue()

    def _body(self, value: bytes, writer: _Writer, schema: Any, reader: Any) -> Record:
        if writer.name not in self._parsed:
            raise UnknownEventType(writer.name)
        body = BytesIO(value)
        body.seek(_HEADER.size)
        try:
            record = schemaless_reader(body, schema, reader)
        except (ValueError, TypeError, EOFError, IndexError, StopIteration) as e:
            raise UndecodableRecord(f"{writer.name} body does not decode: {e}") from e
        assert isinstance(record, dict)
        return record

    def writer_name(self, value: bytes) -> str:
        """The full record name of the schema the record was written with."""
        return self._writer(value).name

    def _writer(self, value: bytes) -> _Writer:
        if len(value) < _HEADER.size or value[0] != 0:
            raise UndecodableRecord("not in the Confluent wire format (no magic byte 0)")
        schema_id = _HEADER.unpack_from(value)[1]
        writer = self._writers.get(schema_id)
        if writer is None:
            writer = self._writers[schema_id] = self._fetch(schema_id)
        return writer

    def _fetch(self, schema_id: int) -> _Writer:
        """The writer schema of `schema_id`: UndecodableRecord only when the registry answers that it does
        not know the id (or its schema does not parse); RegistryUnavailable when it gives no verdict."""
        with registry_call(lambda: UndecodableRecord(f"schema id {schema_id} is unknown to the registry")):
            registered = self.registry.get_schema(schema_id)
        try:
            raw = json.loads(registered.schema_str or "null")
            parsed, plain = parse_schema(raw), parse_schema(as_written(raw))
        except (ValueError, TypeError, KeyError, SchemaParseException) as e:
            raise UndecodableRecord(f"schema id {schema_id} does not parse as Avro: {e}") from e
        name = str(parsed["name"]) if isinstance(parsed, dict) else str(parsed)
        local, local_plain = self._parsed.get(name), self._plain.get(name)
        # Exact equality of the parsed schemas, fastavro's own test for skipping resolution: a
        # canonical form would also drop logical types and defaults, which change what is read.
        return _Writer(
            name, parsed, None if parsed == local else local, plain, None if plain == local_plain else local_plain
        )


def as_written(schema: Any) -> Any:
    """The schema (as JSON) without the logical types `read()` leaves as their underlying values."""
    if isinstance(schema, list):
        return [as_written(item) for item in schema]
    if isinstance(schema, dict):
        return {
            key: as_written(value)
            for key, value in schema.items()
            if not (key == "logicalType" and value in _KEPT_AS_WRITTEN)
        }
    return schema
