"""An export: the selected events, read in position order, written in one format, with progress.

`Exporter` turns pages of stored rows into one format: JSON Lines (one object per event: position,
recorded_at, event_type, and the event as its contract has it, ids as text and times as epoch
milliseconds), an Avro container file (`avro_file`), or a Parquet folder (`parquet`). `run` drives
it over a selection and says what it wrote.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import asyncpg
import orjson

from contracts import registry
from contracts.codec import EventCodec
from replay import avro_file
from replay.redact import redact
from replay.selection import Selection, bound, read

FORMATS = ("jsonl", "avro", "parquet")
PARALLEL_FROM = 20_000  # events from which a JSON Lines export decodes in worker processes
WORKERS = max(1, min(4, os.cpu_count() or 1))


def jsonl_page(codec: EventCodec, redactions: Mapping[str, frozenset[str]], rows: Sequence[Sequence[Any]]) -> bytes:
    """Rows of (position, recorded_ms, payload) as JSON lines: position, recorded_at, event_type, event."""
    read, dumps, lines = codec.read, orjson.dumps, []
    for position, recorded_ms, payload in rows:
        name, record = read(payload)
        if name in redactions:
            redact(record, redactions[name])
        line = {"position": position, "recorded_at": recorded_ms, "event_type": name, "event": record}
        lines.append(dumps(line, default=str))
    lines.append(b"")
    return b"\n".join(lines)


_worker: tuple[EventCodec, Mapping[str, frozenset[str]]] | None = None  # the codec and redactions workers use


def _own_registry_client(registry_url: str) -> None:
    """In a forked worker: a registry client of its own (the parent's connections stay the parent's)."""
    assert _worker is not None
    _worker[0].registry = registry.connect(registry_url)


def _worker_page(rows: Sequence[Sequence[Any]]) -> bytes:
    assert _worker is not None, "started by ProcessPoolExecutor's initializer"
    return jsonl_page(*_worker, rows)


@dataclass
class Summary:
    """What an export wrote: how many events, the positions it covered (resume after `to_position`)."""

    format: str
    events: int
    after_position: int
    to_position: int
    last_position: int | None
    files: list[str] = field(default_factory=list)
    seconds: float = 0.0
    offsets: dict[str, int] | None = None  # from Kafka: where each partition stopped (TOPIC:PARTITION -> offset)

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "events_per_second": round(self.events_per_second)}


class Exporter:
    """Writes pages of (position, recorded_ms, payload) rows in `format` to `out` (a file, or for Parquet a
    folder; JSON Lines may go to `stream` instead), each event in the current schema, `redactions` applied."""

    def __init__(
        self,
        codec: EventCodec,
        format: str,
        out: Path | None,
        *,
        stream: IO[bytes] | None = None,
        redactions: Mapping[str, frozenset[str]] | None = None,
        avro_codec: str = "null",
        by_day: bool = False,
        registry_url: str | None = None,
        parallel_from: int = PARALLEL_FROM,
    ) -> None:
        self.codec, self.format, self.out = codec, format, out
        self.registry_url, self.parallel_from = registry_url, parallel_from
        self.pool: ProcessPoolExecutor | None = None
        self.pages: deque[Future[bytes]] = deque()
        self.redactions = dict(redactions or {})
        contracts = {name: c.schema for name, c in codec.contracts.items()}
        self.parquet = None
        if format == "parquet" and out:
            from replay.parquet import ParquetFolder  # noqa: PLC0415 - pyarrow is imported by Parquet exports only

            self.parquet = ParquetFolder(out, contracts, by_day=by_day)
        self.sink = stream if stream is not None else open(out, "wb") if out and format != "parquet" else None  # noqa: SIM115
        self.avro = None
        if format == "avro" and self.sink:
            self.avro = avro_file.ContainerWriter(self.sink, avro_file.envelope(contracts), avro_codec)
            self.branches = {name: avro_file.long_bytes(i) for i, name in enumerate(contracts)}
            self.names = {name: avro_file.string_bytes(name) for name in contracts}
        self.write = {"jsonl": self._jsonl, "avro": self._avro, "parquet": self._parquet}[format]

    def start(self, total: int) -> None:
        """Told how many events are coming: a large JSON Lines export decodes in worker processes (decoding
        is most of its work), pages in order, while this one reads the next pages and writes."""
        if self.format == "jsonl" and self.registry_url and total >= self.parallel_from:
            global _worker  # noqa: PLW0603 - what the forked workers inherit (a spawned one would start in a second)
            _worker = self.codec, self.redactions
            context = multiprocessing.get_context("fork")
            self.pool = ProcessPoolExecutor(WORKERS, context, initializer=_own_registry_client,
                                            initargs=(self.registry_url,))  # fmt: skip

    def _jsonl(self, rows: Sequence[asyncpg.Record]) -> None:
        if self.pool is None:
            self._sink().write(jsonl_page(self.codec, self.redactions, rows))
            return
        self.pages.append(self.pool.submit(_worker_page, [tuple(r) for r in rows]))
        while len(self.pages) > WORKERS + 1 or (self.pages and self.pages[0].done()):
            self._sink().write(self.pages.popleft().result())

    def _sink(self) -> IO[bytes]:
        assert self.sink is not None
        return self.sink

    def _avro(self, rows: Sequence[asyncpg.Record]) -> None:
        current, long_bytes, datums = self.codec.current_body, avro_file.long_bytes, []
        for position, recorded_ms, payload in rows:
            name, body = current(payload)
            if name in self.redactions:
                body = self.codec.current_body_of(name, redact(self.codec.read(payload)[1], self.redactions[name]))
            datums.append(b"".join((long_bytes(position), long_bytes(recorded_ms), self.names[name],
                                    self.branches[name], body)))  # fmt: skip
        assert self.avro is not None
        self.avro.append(datums)

    def _parquet(self, rows: Sequence[asyncpg.Record]) -> None:
        read, redactions = self.codec.read, self.redactions
        assert self.parquet is not None
        for position, recorded_ms, payload in rows:
            name, record = read(payload)
            if name in redactions:
                redact(record, redactions[name])
            self.parquet.append(name, position, recorded_ms, record)

    def close(self) -> list[str]:
        """Finish the files; the paths written."""
        if self.pool:
            while self.pages:
                self._sink().write(self.pages.popleft().result())
            self.pool.shutdown(cancel_futures=True)
        if self.parquet:
            return [str(p) for p in self.parquet.close()]
        if self.avro:
            self.avro.flush()
        if self.sink:
            self.sink.flush()
            if self.out:
                self.sink.close()
        return [str(self.out)] if self.out else []


async def run(
    pool: asyncpg.Pool,
    selection: Selection,
    exporter: Exporter,
    started: Callable[[int], None] = lambda total: None,
    advanced: Callable[[int], None] = lambda count: None,
) -> Summary:
    """Export what `selection` takes; `started(total)` once the range is known, `advanced(n)` after each page."""
    began = time.monotonic()
    top, total = await bound(pool, selection)
    exporter.start(total)
    started(total)
    summary = Summary(exporter.format, 0, selection.after_position, top, None)
    try:
        async for rows in read(pool, selection, top):
            exporter.write(rows)
            summary.events += len(rows)
            summary.last_position = rows[-1][0]
            advanced(len(rows))
    finally:
        summary.files = exporter.close()
    summary.seconds = time.monotonic() - began
    return summary
