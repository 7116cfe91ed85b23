"""`agentlog replay export` on real data: events appended through the real event store come out of every
format as the store holds them, event by event; selections, resuming, redaction and upcasting."""

from __future__ import annotations

import asyncio
import json
import struct
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any, cast

import asyncpg
import avro.datafile
import avro.io
import duckdb
import fastavro
import pyarrow.parquet as pq
import pytest
from confluent_kafka.schema_registry import Schema

from api.session_events import raw_events
from cli.relay_samples import samples
from contracts.codec import as_written
from contracts.messages import to_content
from contracts.routing import Routing
from contracts.schemas import event_contracts
from domain.events import CommandContext
from domain.history import state_at
from domain.session import aggregate as session_aggregate
from domain.session.events import Attachment, MessagePosted, Role, SessionStarted
from eventstore.queries import settled_position
from replay.export import Exporter, run
from replay.kafka_source import run_kafka, topic_offsets
from replay.redact import MASK, fields_to_redact
from replay.selection import Selection
from tests.support.cli import agentlog
from tests.support.projections import publish

TENANTS = ("acme", "globex", "initech")
POSTED, STARTED = MessagePosted.type_name(), SessionStarted.type_name()


def ctx(tenant: str, at: datetime | None = None) -> CommandContext:
    return CommandContext(tenant_id=tenant, correlation_id=uuid.uuid4(), occurred_at=at or datetime.now(UTC))


@pytest.fixture
async def stored(event_store, pg_schema):
    """One event of every type per tenant (three tenants), then the store's rows in position order."""
    for tenant in TENANTS:
        for stream in samples(tenant):
            await event_store.append(f"{tenant}-{stream.stream_id}", stream.stream_type, 0, stream.events, ctx(tenant))
    return await rows_of(pg_schema)


async def rows_of(pg_schema) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(pg_schema.dsn, server_settings={"search_path": pg_schema.name})
    try:
        return await conn.fetch("SELECT position, event_type, tenant_id, stream_type, stream_id, occurred_at, payload "
                                "FROM events ORDER BY position")  # fmt: skip
    finally:
        await conn.close()


async def export(pg_schema, codec, fmt: str, out: Path | None, selection: Selection | None = None, **options):
    pool = await asyncpg.create_pool(pg_schema.dsn, min_size=1, max_size=2,
                                     server_settings={"search_path": pg_schema.name})  # fmt: skip
    try:
        return await run(pool, selection or Selection(), Exporter(codec, fmt, out, **options))
    finally:
        await pool.close()


def records(reader: Iterable[object]) -> list[dict[str, Any]]:
    """What an Avro reader gives: records, as dicts."""
    return [cast(dict[str, Any], r) for r in reader]


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_each_format_holds_every_stored_event_in_position_order_as_the_store_has_it(
    stored, pg_schema, codec, tmp_path
):
    expected = [(r["position"], r["event_type"], to_content(codec.read(r["payload"])[1])) for r in stored]
    assert len({e[1] for e in expected}) == len(event_contracts())  # every event type is in the data

    summary = await export(pg_schema, codec, "jsonl", tmp_path / "all.jsonl")
    assert (summary.events, summary.to_position, summary.last_position) == (len(stored), stored[-1][0], stored[-1][0])
    assert [(e["position"], e["event_type"], e["event"]) for e in lines(tmp_path / "all.jsonl")] == expected

    await export(pg_schema, codec, "avro", tmp_path / "all.avro")
    with open(tmp_path / "all.avro", "rb") as f:
        read = [(r["position"], r["event_type"], to_content(r["event"])) for r in records(fastavro.reader(f))]
    assert read == expected
    with avro.datafile.DataFileReader(open(tmp_path / "all.avro", "rb"), avro.io.DatumReader()) as apache:
        assert [r["position"] for r in records(apache)] == [e[0] for e in expected]  # the reference library too

    summary = await export(pg_schema, codec, "parquet", tmp_path / "parquet")
    assert len(summary.files) == len(event_contracts())
    for file in summary.files:
        table = pq.read_table(file)
        event_type = Path(file).parent.name.removeprefix("event_type=")
        assert table.column("position").to_pylist() == [e[0] for e in expected if e[1] == event_type]
    every = f"read_parquet('{tmp_path}/parquet/**/*.parquet', hive_partitioning = true, union_by_name = true)"
    counted = duckdb.connect().execute(f"SELECT event_type, count(*) FROM {every} GROUP BY 1").fetchall()
    assert dict(counted) == {t: sum(e[1] == t for e in expected) for t in event_contracts()}
    posted = duckdb.connect().execute(f"SELECT position, text, meta.tenant_id FROM read_parquet('{tmp_path}/parquet/"
                        f"event_type={POSTED}/*.parquet') ORDER BY position").fetchall()  # fmt: skip
    assert posted == [(e[0], e[2]["text"], e[2]["meta"]["tenant_id"]) for e in expected if e[1] == POSTED]


async def test_json_lines_decoded_in_worker_processes_are_the_same_bytes(stored, pg_schema, codec, servers, tmp_path):
    await export(pg_schema, codec, "jsonl", tmp_path / "one.jsonl")
    await export(pg_schema, codec, "jsonl", tmp_path / "many.jsonl", registry_url=servers.schema_registry_url,
                 parallel_from=0)  # fmt: skip
    assert (tmp_path / "many.jsonl").read_bytes() == (tmp_path / "one.jsonl").read_bytes()


async def test_a_selection_takes_exactly_the_events_it_names(stored, pg_schema, codec, tmp_path):
    middle = stored[len(stored) // 2]["position"]
    cases: list[tuple[Selection, Callable[[asyncpg.Record], bool]]] = [
        (Selection(tenants=("globex",)), lambda r: r["tenant_id"] == "globex"),
        (Selection(event_types=(POSTED,), stream_types=("session",)), lambda r: r["event_type"] == POSTED),
        (Selection(stream_types=("tool",), tenants=("acme", "initech")),
         lambda r: r["stream_type"] == "tool" and r["tenant_id"] in ("acme", "initech")),
        (Selection(stream_ids=(stored[0]["stream_id"],)), lambda r: r["stream_id"] == stored[0]["stream_id"]),
        (Selection(after_position=middle, to_position=middle + 5), lambda r: middle < r["position"] <= middle + 5),
        (Selection(since=stored[0]["occurred_at"], until=stored[0]["occurred_at"] + timedelta(milliseconds=1)),
         lambda r: r["occurred_at"] == stored[0]["occurred_at"]),
    ]  # fmt: skip
    for selection, wanted in cases:
        summary = await export(pg_schema, codec, "jsonl", tmp_path / "part.jsonl", selection)
        positions = [e["position"] for e in lines(tmp_path / "part.jsonl")]
        assert positions == [r["position"] for r in stored if wanted(r)], selection
        assert summary.events == len(positions) > 0


async def test_resuming_after_the_last_position_written_gives_the_rest_exactly_once(
    stored, pg_schema, codec, event_store, tmp_path
):
    first = await export(pg_schema, codec, "jsonl", tmp_path / "first.jsonl", Selection(to_position=stored[9][0]))
    for stream in samples("late"):  # written between the two runs
        await event_store.append(f"late-{stream.stream_id}", stream.stream_type, 0, stream.events, ctx("late"))
    rest = await export(pg_schema, codec, "jsonl", tmp_path / "rest.jsonl", Selection(after_position=first.to_position))

    both = [e["position"] for e in lines(tmp_path / "first.jsonl") + lines(tmp_path / "rest.jsonl")]
    assert both == [r["position"] for r in await rows_of(pg_schema)]
    assert rest.to_position == both[-1]


async def test_redacted_fields_leave_no_byte_of_the_original_text_in_any_format(
    event_store, pg_schema, codec, tmp_path
):
    secret = {name: f"{name}-{uuid.uuid4().hex}" for name in ("text", "file", "url", "value")}
    event = MessagePosted(
        session_id=uuid.uuid4(), message_id=uuid.uuid4(), role=Role.USER, text=secret["text"],
        attachments=(Attachment(name=secret["file"], media_type="text/plain", url=secret["url"], size_bytes=12),),
        metadata={"client": secret["value"]},
    )  # fmt: skip
    await event_store.append(str(event.session_id), "session", 0, [event], ctx("acme"))
    redactions = fields_to_redact(["text", "attachments", "metadata"], {POSTED: event_contracts()[POSTED].schema})
    for fmt, out in (("jsonl", tmp_path / "r.jsonl"), ("avro", tmp_path / "r.avro"), ("parquet", tmp_path / "rp")):
        summary = await export(pg_schema, codec, fmt, out, redactions=redactions)
        for file in summary.files:
            data = Path(file).read_bytes()
            assert not [name for name, value in secret.items() if value.encode() in data], (fmt, file)
    (kept,) = lines(tmp_path / "r.jsonl")
    assert kept["event"]["text"] == MASK and kept["event"]["metadata"] == {"client": MASK}
    assert kept["event"]["attachments"] == [{"name": MASK, "media_type": MASK, "url": MASK, "size_bytes": 12}]
    with open(tmp_path / "r.avro", "rb") as f:
        assert records(fastavro.reader(f))[0]["event"]["text"] == MASK


async def test_events_stored_under_older_schemas_come_out_in_the_current_ones_everywhere(
    event_store, pg_schema, codec, registry, subject_prefix, tmp_path
):
    routing, conversation = Routing(prefix=subject_prefix), uuid.uuid4()
    # SessionStarted as it was before forks (no forked_from), MessagePosted before metadata
    older = {STARTED: "forked_from", POSTED: "metadata"}
    asked = MessagePosted(session_id=conversation, message_id=uuid.uuid4(), role=Role.USER, text="from v1")
    events = [SessionStarted(session_id=conversation, tenant_id="acme"), asked]
    await event_store.append(str(conversation), "session", 0, events, ctx("acme"))
    conn = await asyncpg.connect(pg_schema.dsn, server_settings={"search_path": pg_schema.name})
    for row in await rows_of(pg_schema):  # rewritten as an older agentlog stored them
        name, record = codec.read(row["payload"])
        old = json.loads(event_contracts()[name].schema_str)
        old["fields"] = [f for f in old["fields"] if f["name"] != older[name]]
        del record[older[name]]
        subject = routing.subject(routing.prefix + "conversation.inbound", name)  # a subject of the test's own
        old_id = registry.register_schema(subject, Schema(json.dumps(old), "AVRO"))
        body = BytesIO()
        fastavro.schemaless_writer(body, fastavro.parse_schema(as_written(old)), record)
        await conn.execute("UPDATE events SET payload = $1, schema_id = $2 WHERE position = $3",
                           struct.pack(">bI", 0, old_id) + body.getvalue(), old_id, row["position"])  # fmt: skip
    await conn.close()

    await export(pg_schema, codec, "jsonl", tmp_path / "up.jsonl")
    await export(pg_schema, codec, "avro", tmp_path / "up.avro")
    past = await state_at(event_store, str(conversation), version=2)
    shown = await raw_events(event_store, "session", str(conversation), "acme")

    started, posted = (e["event"] for e in lines(tmp_path / "up.jsonl"))  # the fields they lack, at their defaults
    assert (started["forked_from"], posted["metadata"], posted["text"]) == (None, {}, "from v1")
    with open(tmp_path / "up.avro", "rb") as f:
        assert [r["event"].get(older[r["event_type"]]) for r in records(fastavro.reader(f))] == [None, {}]
    assert past.state == session_aggregate.DECIDER.fold(events)  # replays fold them as the current events
    assert [e.data.get(older[e.event_type]) for e in shown] == [None, {}]  # the API's raw events
    assert {e.schema_id for e in shown}.isdisjoint(codec.schema_ids.values())  # stored under the older ids


async def test_the_settled_position_waits_for_a_transaction_holding_a_lower_position(event_store, pg_schema, codec):
    event = MessagePosted(session_id=uuid.uuid4(), message_id=uuid.uuid4(), role=Role.USER, text="first")
    await event_store.append(str(event.session_id), "session", 0, [event], ctx("acme"))
    (row,) = await rows_of(pg_schema)
    holder = await asyncpg.connect(pg_schema.dsn, server_settings={"search_path": pg_schema.name})
    pool = await asyncpg.create_pool(pg_schema.dsn, min_size=1, max_size=2,
                                     server_settings={"search_path": pg_schema.name})  # fmt: skip
    copy = """INSERT INTO events (stream_id, stream_type, version, event_type, event_id, schema_id, topic, payload,
              tenant_id, correlation_id, occurred_at) SELECT stream_id || $1, stream_type, version, event_type, $2,
              schema_id, topic, payload, tenant_id, correlation_id, occurred_at FROM events WHERE position = $3
              RETURNING position"""
    try:
        held = holder.transaction()
        await held.start()
        lower = await holder.fetchval(copy, "-held", uuid.uuid4(), row["position"])
        higher = await pool.fetchval(copy, "-later", uuid.uuid4(), row["position"])  # committed at once
        assert lower < higher

        waiting = asyncio.create_task(settled_position(pool))
        await asyncio.sleep(0.3)
        assert not waiting.done()  # stopping at `higher` now could skip `lower` for good
        await held.commit()

        assert await asyncio.wait_for(waiting, 10) == higher
    finally:
        await holder.close()
        await pool.close()


def test_the_command_writes_a_file_says_where_to_resume_and_refuses_bad_input(stored, pg_schema, tmp_path):
    env = {"POSTGRES_DSN": pg_schema.dsn, "AGENTLOG_DB_SCHEMA": pg_schema.name}
    done = agentlog("replay", "export", "-f", "avro", "-o", str(tmp_path / "cli.avro"), "--tenant", "acme",
                    "--event-type", "MessagePosted", "--json", env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    (summary,) = json.loads(done.stdout)
    acme_posted = [r["position"] for r in stored if r["tenant_id"] == "acme" and r["event_type"] == POSTED]
    assert (summary["events"], summary["last_position"]) == (len(acme_posted), acme_posted[-1])
    assert summary["files"] == [str(tmp_path / "cli.avro")] and summary["to_position"] == stored[-1]["position"]
    assert "exporting" in done.stderr  # progress goes to stderr, the summary to stdout

    plain = agentlog("replay", "export", "--to-position", "3", env=env)  # JSON Lines on stdout
    assert [json.loads(line)["position"] for line in plain.stdout.splitlines()] == [1, 2, 3]

    for args, said in [
        (("-f", "csv"), "unknown format 'csv'"),
        (("-f", "avro"), "--format avro needs --out"),
        (("--event-type", "MessageSent"), "unknown event type 'MessageSent'"),
        (("--redact", "txt"), "--redact: no selected event type has a field 'txt'"),
        (("--redact", "role"), "is not free text"),
        (("--partition-by-day",), "--partition-by-day is for --format parquet"),
        (("--offset", "events:0:5"), "--offset is for --source kafka"),
        (("--source", "kafka", "--offset", "events:zero:5"), "--offset 'events:zero:5' is not TOPIC:PARTITION:OFFSET"),
        (("--source", "s3"), "--source 's3' is not a source"),
    ]:
        refused = agentlog("replay", "export", *args, env=env)
        assert refused.returncode == 2 and said in refused.stderr, (args, refused.stderr)
        assert "Traceback" not in refused.stderr


async def test_from_kafka_the_same_events_come_out_per_partition_and_resume_from_the_offsets_said(
    own_store, pg_schema, own_codec, servers, tmp_path
):
    for tenant in ("acme", "globex"):
        for stream in samples(tenant):
            await own_store.append(f"{tenant}-{stream.stream_id}", stream.stream_type, 0, stream.events, ctx(tenant))
    await publish(own_store, pg_schema.dsn, pg_schema.name, servers)
    await export(pg_schema, own_codec, "jsonl", tmp_path / "store.jsonl")
    kafka = servers.kafka_bootstrap_servers

    first = run_kafka(kafka, own_codec, Selection(), Exporter(own_codec, "jsonl", tmp_path / "kafka.jsonl"))
    assert same_but_times(lines(tmp_path / "kafka.jsonl"), lines(tmp_path / "store.jsonl"))
    assert first.offsets and sum(first.offsets.values()) == first.events == len(lines(tmp_path / "store.jsonl"))

    globex = run_kafka(kafka, own_codec, Selection(tenants=("globex",), event_types=(POSTED,)),
                       Exporter(own_codec, "jsonl", tmp_path / "globex.jsonl"))  # fmt: skip
    taken = lines(tmp_path / "globex.jsonl")
    assert globex.events == len(taken) > 0
    assert {(e["event"]["meta"]["tenant_id"], e["event_type"]) for e in taken} == {("globex", POSTED)}

    nothing_new = run_kafka(kafka, own_codec, Selection(), Exporter(own_codec, "jsonl", tmp_path / "none.jsonl"),
                            offsets=topic_offsets([f"{tp}:{o}" for tp, o in first.offsets.items()]))  # fmt: skip
    for stream in samples("late"):
        await own_store.append(f"late-{stream.stream_id}", stream.stream_type, 0, stream.events, ctx("late"))
    await publish(own_store, pg_schema.dsn, pg_schema.name, servers)
    rest = run_kafka(kafka, own_codec, Selection(), Exporter(own_codec, "jsonl", tmp_path / "rest.jsonl"),
                     offsets=topic_offsets([f"{tp}:{o}" for tp, o in first.offsets.items()]))  # fmt: skip
    assert nothing_new.events == 0
    assert {e["event"]["meta"]["tenant_id"] for e in lines(tmp_path / "rest.jsonl")} == {"late"}
    assert rest.events == len(samples_events("late"))
    later = datetime.now(UTC) + timedelta(hours=1)
    none_yet = Exporter(own_codec, "jsonl", tmp_path / "later.jsonl")
    assert run_kafka(kafka, own_codec, Selection(since=later), none_yet).events == 0


def samples_events(tenant: str) -> list:
    return [event for stream in samples(tenant) for event in stream.events]


def same_but_times(kafka: list[dict], store: list[dict]) -> bool:
    """The same events, sorted by position; `recorded_at` from Kafka is when the relay published them."""

    def timeless(event: dict) -> dict:
        return {k: v for k, v in event.items() if k != "recorded_at"}

    return sorted(map(timeless, kafka), key=lambda e: e["position"]) == list(map(timeless, store))
