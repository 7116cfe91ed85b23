"""Codec benchmark: a MessagePosted through agentlog's Avro codec next to stdlib json, interleaved."""

from __future__ import annotations

import json
import statistics
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from confluent_kafka.schema_registry import SchemaRegistryClient

from bench.common import Result, endpoints, interleaved, median, out, timed, write_results
from contracts.codec import EventCodec
from contracts.convert import from_record, to_record
from contracts.registry import check, register
from domain.events import EventMetadata, RecordedEvent, TraceContext
from domain.session.events import Attachment, MessagePosted, Role

PEER = "json"
TEXT = (
    "Can you summarise the attached incident report and list the three services that failed first? "
    "Please keep it under 200 words, quote the error codes exactly, and say which team owns each "
    "service. If the timeline is unclear, tell me what is missing instead of guessing."
)


def message(i: int, session: uuid.UUID, start: datetime) -> RecordedEvent:
    """A realistic user message: a paragraph of text, one attachment, client metadata, trace context."""
    meta = EventMetadata(
        event_id=uuid.uuid4(),
        stream_id=str(session),
        stream_type="session",
        stream_version=i + 2,
        tenant_id="tenant-acme-prod",
        occurred_at=start + timedelta(milliseconds=i),  # Avro keeps milliseconds
        correlation_id=uuid.uuid4(),
        causation_id=uuid.uuid4(),
        trace=TraceContext(traceparent=f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"),
    )
    attachment = Attachment(
        name="incident-2291.pdf",
        media_type="application/pdf",
        url=f"https://files.example.com/t/acme/{uuid.uuid4()}/incident-2291.pdf",
        size_bytes=482_113,
    )
    event = MessagePosted(
        session_id=session,
        message_id=uuid.uuid4(),
        role=Role.USER,
        text=TEXT,
        attachments=(attachment,),
        metadata={"client": "web", "locale": "en-GB", "model": "claude-sonnet"},
    )
    return RecordedEvent(meta=meta, event=event)


def _jsonable(value: Any) -> str:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def json_encode(recorded: RecordedEvent) -> bytes:
    """The json side of encode: the same dict the Avro codec writes, uuids and datetimes as strings."""
    return json.dumps(to_record(recorded), default=_jsonable, separators=(",", ":")).encode()


def json_decode(value: bytes) -> RecordedEvent:
    """The json side of decode: parse, turn the id and time strings back, rebuild with from_record."""
    record = json.loads(value)
    meta = record["meta"]
    for key in ("event_id", "correlation_id", "causation_id"):
        if meta[key] is not None:
            meta[key] = uuid.UUID(meta[key])
    meta["occurred_at"] = datetime.fromisoformat(meta["occurred_at"])
    record["session_id"] = uuid.UUID(record["session_id"])
    record["message_id"] = uuid.UUID(record["message_id"])
    return from_record(MessagePosted, record)


def ready_codec() -> EventCodec:
    """A codec on the local registry with every contract registered (idempotent) and resolved."""
    client = SchemaRegistryClient({"url": endpoints().schema_registry_url})
    register(client, check(client))
    codec = EventCodec(client)
    codec.resolve()
    return codec


def batch(step: Callable[[Any], object], items: Sequence[Any]) -> Callable[[], int]:
    """One timed batch: step over every item; returns how many it did."""

    def run() -> int:
        for item in items:
            step(item)
        return len(items)

    return run


def throughput(name: str, ours: Callable[[], int], peer: Callable[[], int], params: dict[str, Any]) -> Result:
    """Median records/s of ours and the json peer over params["rounds"] interleaved rounds."""
    mine, theirs = interleaved(params["rounds"], timed(ours), timed(peer))
    return Result(name, median(mine), "records/s", True, PEER, median(theirs), params)


def main(
    records: Annotated[int, typer.Option(help="records per timed batch")] = 20_000,
    rounds: Annotated[int, typer.Option(help="interleaved rounds; the median is reported")] = 5,
) -> None:
    """Encode and decode throughput and encoded size of MessagePosted: Avro codec vs stdlib json."""
    codec = ready_codec()
    session, start = uuid.uuid4(), datetime(2025, 6, 1, 9, 30, tzinfo=UTC)
    events = [message(i, session, start) for i in range(records)]
    avro = [codec.encode(e).value for e in events]
    plain = [json_encode(e) for e in events]
    assert codec.decode(avro[0]) == events[0] == json_decode(plain[0]), "a side does not round-trip"
    params = {"event": "MessagePosted", "records": records, "rounds": rounds}
    out.print(f"[dim]timing {records} records x {rounds} rounds per metric, interleaved with {PEER}[/dim]")
    results = [
        throughput(
            "encode+decode",
            batch(lambda e: codec.decode(codec.encode(e).value), events),
            batch(lambda e: json_decode(json_encode(e)), events),
            params,
        ),
        throughput("encode", batch(codec.encode, events), batch(json_encode, events), params),
        throughput("decode", batch(codec.decode, avro), batch(json_decode, plain), params),
        Result(
            "encoded size",
            statistics.fmean(map(len, avro)),
            "bytes",
            False,
            PEER,
            statistics.fmean(map(len, plain)),
            {"event": "MessagePosted", "records": records},
        ),
    ]
    write_results("codec", results)


if __name__ == "__main__":
    typer.run(main)
