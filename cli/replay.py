"""`agentlog replay export` (the selected events of the event store to JSON Lines, Avro or Parquet),
`agentlog replay state` (an aggregate's state at a version or a moment) and `agentlog replay into` (a range of
positions re-fed into a view); see docs/replay.md."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import asyncpg
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from cli.console import err, native_stderr_held, out, print_json
from cli.errors import CliError, Exit, build
from cli.readside import NameArg, codec_of, dead_letters_of, views_named
from contracts.convert import to_plain
from contracts.schemas import event_contracts
from domain.errors import NotFound
from domain.history import PastState, state_at
from eventstore.store import PostgresEventStore
from observability import redisconn
from projections.settings import ProjectionSettings
from projections.views import View
from replay.export import FORMATS, Exporter, Summary, run
from replay.kafka_source import run_kafka, topic_offsets
from replay.redact import UnknownField, fields_to_redact
from replay.selection import Selection

if TYPE_CHECKING:
    from projections.rebuild import Refed

app = typer.Typer(no_args_is_help=True)  # its help: cli.main.COMMANDS
EVERY = 5.0  # seconds between progress lines off a terminal


@app.command()
def export(
    out_path: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="file (jsonl, avro) or folder (parquet); JSON Lines go to stdout without it"),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help=f"one of {', '.join(FORMATS)}")] = "jsonl",
    stream_type: Annotated[list[str] | None, typer.Option(help="stream type (session, tool, budget, ...)")] = None,
    event_type: Annotated[list[str] | None, typer.Option(help="event type: MessagePosted or its full name")] = None,
    tenant: Annotated[list[str] | None, typer.Option(help="tenant id")] = None,
    stream: Annotated[list[str] | None, typer.Option(help="stream id (a session's id, ...)")] = None,
    since: Annotated[datetime | None, typer.Option(help="occurred at or after (ISO 8601, UTC unless it says)")] = None,
    until: Annotated[datetime | None, typer.Option(help="occurred before (ISO 8601)")] = None,
    after_position: Annotated[int, typer.Option(min=0, help="start after this position (resume)")] = 0,
    to_position: Annotated[int | None, typer.Option(min=0, help="stop at this position")] = None,
    redact: Annotated[str, typer.Option(help="fields to mask, comma-separated: text,attachments,metadata")] = "",
    partition_by_day: Annotated[bool, typer.Option("--partition-by-day", help="parquet: a folder per day")] = False,
    avro_codec: Annotated[str, typer.Option(help="avro: null or deflate")] = "null",
    source: Annotated[str, typer.Option(help="read the event store ('store') or the event topics ('kafka')")] = "store",
    offset: Annotated[list[str] | None, typer.Option(help="kafka: start TOPIC:PARTITION at OFFSET")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON on stdout")] = False,
) -> None:
    """Export events in position order at flat memory; resume with --after-position at the last one written.
    From Kafka (--source kafka) per partition in offset order, --since/--until by the records' timestamps;
    resume with the summary's offsets as --offset."""
    starts = _checked(fmt, out_path, as_json, partition_by_day, source, offset or [])
    settings = build(ProjectionSettings)
    contracts = {name: c.schema for name, c in event_contracts().items()}
    selection = Selection(
        stream_types=tuple(stream_type or ()),
        event_types=tuple(_event_type(e, contracts) for e in event_type or ()),
        tenants=tuple(tenant or ()),
        stream_ids=tuple(stream or ()),
        since=_utc(since),
        until=_utc(until),
        after_position=after_position,
        to_position=to_position,
    )
    chosen = {n: s for n, s in contracts.items() if not selection.event_types or n in selection.event_types}
    try:
        redactions = fields_to_redact(redact.split(","), chosen) if redact else {}
    except UnknownField as e:
        raise CliError(f"--redact: {e}", "name fields of the events exported (docs/replay.md)", Exit.USAGE) from e
    codec = codec_of(settings)
    try:
        exporter = Exporter(codec, fmt, out_path, stream=sys.stdout.buffer if out_path is None else None,
                            redactions=redactions, avro_codec=avro_codec, by_day=partition_by_day,
                            registry_url=settings.schema_registry_url)  # fmt: skip
    except (OSError, ValueError) as e:
        raise CliError(f"cannot write {out_path}: {e}", "give a path that can be written", Exit.USAGE) from e
    with _progress() as (started, advanced):
        if source == "kafka":
            try:
                with native_stderr_held():
                    summary = run_kafka(settings.kafka_bootstrap_servers, codec, selection, exporter, starts, started,
                                        advanced)  # fmt: skip
            except ValueError as e:
                raise CliError(f"--offset: {e}", "name a partition of the event topics", Exit.USAGE) from e
            except TimeoutError as e:
                raise CliError(str(e), "check the topics' retention, or export from the store") from e
        else:
            summary = asyncio.run(_from_store(settings, selection, exporter, started, advanced))
    if as_json:
        print_json([summary.as_dict()])
    elif out_path is not None:
        out.print(
            f"exported {summary.events} event(s), positions {summary.after_position + 1}..{summary.to_position}, "
            f"in {summary.seconds:.1f} s ({summary.events_per_second:,.0f}/s) to {', '.join(summary.files) or '-'}; "
            f"resume with {_resume(summary)}",
            highlight=False,
        )


@app.command()
def state(
    stream: Annotated[str, typer.Argument(help="stream id: a session's id, a tool request's id, ...")],
    at: Annotated[str | None, typer.Option(help="a version (1, 2, ...) or a moment (ISO 8601) [default: now]")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """An aggregate's state at a version or a moment: its events up to there, folded (time travel)."""
    version, moment = _point(at)
    settings = build(ProjectionSettings)
    past = asyncio.run(_state(settings, stream, version, moment))
    found = {"stream_id": past.stream_id, "stream_type": past.stream_type, "tenant_id": past.tenant_id,
             "version": past.version, "state": to_plain(past.state)}  # fmt: skip
    text = json.dumps(found if as_json else found["state"], indent=2, default=str)
    if not as_json:
        out.print(f"{past.stream_type} {past.stream_id} at version {past.version} (tenant {past.tenant_id})",
                  highlight=False)  # fmt: skip
    sys.stdout.write(text + "\n")


@app.command("into")
def into(
    name: NameArg,
    first: Annotated[int, typer.Option("--from", min=1, help="the first position to re-feed")] = 1,
    last: Annotated[int | None, typer.Option("--to", min=1, help="the last position [default: the newest]")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """Re-feed the event store's events of a range of positions into a view (its current version), exactly once:
    what the view holds already is passed over. Into a sandbox copy with AGENTLOG_REDIS_PREFIX."""
    [view] = views_named([name])
    if last is not None and last < first:
        raise CliError(f"--to {last} is before --from {first}", "give a range that goes forward", Exit.USAGE)
    settings = build(ProjectionSettings)
    from projections.rebuild import RebuildInProgress  # noqa: PLC0415 - the projections pipeline: `into` only

    try:
        with native_stderr_held():
            done = asyncio.run(_into(settings, view, first - 1, last))
    except RebuildInProgress as e:
        raise CliError(str(e), "re-feed once the rebuild is done") from e
    if as_json:
        print_json([asdict(done)])
        return
    out.print(f"re-fed {done.view} (v{done.version}): {done.events} event(s) read, {done.applied} applied, "
              f"{done.duplicates} already there, in {done.seconds:.1f} s", highlight=False)  # fmt: skip


async def _into(settings: ProjectionSettings, view: View, after: int, upto: int | None) -> Refed:
    from projections.rebuild import StoreSource, refeed  # noqa: PLC0415 - see `into`

    client = redisconn.connect(settings.redis_url)
    try:
        store = StoreSource(settings.postgres_dsn, settings.db_schema)
        return await refeed(view, codec_of(settings), client, dead_letters_of(settings), store, after=after, upto=upto,
                            prefix=settings.redis_prefix, batch=settings.projection_batch)  # fmt: skip
    finally:
        await client.aclose()


def _point(at: str | None) -> tuple[int | None, datetime | None]:
    """(version, moment) of --at: a positive whole number is a version, anything else a moment."""
    if at is None:
        return None, None
    if at.isdigit():
        if int(at) < 1:
            raise CliError("--at 0: versions start at 1", "give a version of 1 or more, or a moment", Exit.USAGE)
        return int(at), None
    try:
        return None, _utc(datetime.fromisoformat(at))
    except ValueError as e:
        raise CliError(f"--at {at!r} is neither a version nor a moment", "give 3 or 2026-12-02T10:00:00Z",
                       Exit.USAGE) from e  # fmt: skip


async def _state(settings: ProjectionSettings, stream: str, version: int | None, moment: datetime | None) -> PastState:
    codec = codec_of(settings)
    store = await PostgresEventStore.connect(settings.postgres_dsn, codec, schema=settings.db_schema, pool_size=1)
    try:
        return await state_at(store, stream, version=version, moment=moment)
    except NotFound as e:
        raise CliError(f"no events of stream {stream!r} at that point", "check the id (`replay export "
                       f"--stream {stream}` lists them) or give a later --at", Exit.FAILED) from e  # fmt: skip
    finally:
        await store.close()


def _checked(
    fmt: str, out_path: Path | None, as_json: bool, partition_by_day: bool, source: str, offset: list[str]
) -> dict[tuple[str, int], int]:
    """The export's options that do not go together are usage errors; the Kafka start offsets given."""
    if source not in ("store", "kafka"):
        raise CliError(f"--source {source!r} is not a source", "choose 'store' or 'kafka'", Exit.USAGE)
    if offset and source != "kafka":
        raise CliError("--offset is for --source kafka", "drop it, or export from Kafka", Exit.USAGE)
    try:
        starts = topic_offsets(offset)
    except ValueError as e:
        raise CliError(f"--offset {e}", "give TOPIC:PARTITION:OFFSET, as the summary's offsets name them",
                       Exit.USAGE) from e  # fmt: skip
    if fmt not in FORMATS:
        raise CliError(f"unknown format {fmt!r}", f"use one of {', '.join(FORMATS)}", Exit.USAGE)
    if out_path is None and fmt != "jsonl":
        raise CliError(f"--format {fmt} needs --out", "give a file (avro) or a folder (parquet)", Exit.USAGE)
    if out_path is None and as_json:
        raise CliError("--json prints the summary on stdout, where the events would go", "give --out", Exit.USAGE)
    if partition_by_day and fmt != "parquet":
        raise CliError("--partition-by-day is for --format parquet", "drop it, or export to Parquet", Exit.USAGE)
    return starts


def _resume(summary: Summary) -> str:
    if summary.offsets is None:
        return f"--after-position {summary.to_position}"
    return " ".join(f"--offset {tp}:{offset}" for tp, offset in summary.offsets.items()) or "(no partitions)"


def _event_type(given: str, contracts: Mapping[str, object]) -> str:
    """The full contract name of `given` (a full name, or the part after the last dot)."""
    found = [name for name in contracts if given in (name, name.rsplit(".", 1)[-1])]
    if len(found) != 1:
        raise CliError(f"unknown event type {given!r}", f"one of {', '.join(sorted(contracts))}", Exit.USAGE)
    return found[0]


def _utc(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


Started = Callable[[int], None]  # told the number of events coming
Advanced = Callable[[int], None]  # told how many more were written


@contextmanager
def _progress() -> Iterator[tuple[Started, Advanced]]:
    """(started(total), advanced(count)): a bar with rate and time left on a terminal, else plain lines."""
    if not err.is_terminal:
        lines = _Lines()
        yield lines.started, lines.advanced
        return
    progress = Progress(TextColumn("exporting"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
                        TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), console=err,
                        transient=True)  # fmt: skip
    with progress:
        task = progress.add_task("export", total=None, rate="")
        began = time.monotonic()

        def advanced(count: int) -> None:
            progress.advance(task, count)
            done = progress.tasks[0].completed
            progress.update(task, rate=f"{done / max(time.monotonic() - began, 1e-9):,.0f}/s")

        yield (lambda total: progress.update(task, total=total)), advanced


async def _from_store(
    settings: ProjectionSettings, selection: Selection, exporter: Exporter, started: Started, advanced: Advanced
) -> Summary:
    pool = await asyncpg.create_pool(
        settings.postgres_dsn, min_size=1, max_size=2, server_settings={"search_path": settings.db_schema}
    )
    try:
        return await run(pool, selection, exporter, started, advanced)
    finally:
        await pool.close()


class _Lines:
    """Progress off a terminal: a plain line on stderr every EVERY seconds."""

    def __init__(self) -> None:
        self.total = self.done = 0
        self.began = self.last = time.monotonic()

    def started(self, total: int) -> None:
        self.total = total
        err.print(f"exporting {total} event(s)", highlight=False)

    def advanced(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if now - self.last >= EVERY:
            rate = self.done / (now - self.began)
            left = (self.total - self.done) / rate if rate else 0
            err.print(f"exported {self.done}/{self.total} ({rate:,.0f}/s, {left:.0f} s left)", highlight=False)
            self.last = now
