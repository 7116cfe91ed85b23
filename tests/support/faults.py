"""Fault-tier helpers: writers that post through the real API as a careful client would, and the checks
that compare what was accepted with the store, Kafka and the read models afterwards."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import httpx
import psycopg
import redis
from confluent_kafka import Message

from projections.views import VIEWS as VIEW_DEFINITIONS
from projections.views import Keys
from tests.support.kafka import header, read_until

REDIS_PREFIX = "agentlog:"  # a stack's processes run with the default prefixes
VIEWS = ("sessions", "transcript")


@dataclass
class Tally:
    """What the writers saw: accepted commands (event id -> session), and every status or error."""

    accepted: dict[str, str] = field(default_factory=dict)
    statuses: Counter[str] = field(default_factory=Counter)
    accepted_at: list[float] = field(default_factory=list)  # monotonic clock

    def longest_gap(self, since: float) -> float:
        """The longest time without an accepted write from `since` to the last one accepted."""
        times = [since, *(t for t in self.accepted_at if t > since)]
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)

    @property
    def server_errors(self) -> int:
        """5xx answers other than 503 (a dependency down, retried): each is a bug."""
        return sum(n for status, n in self.statuses.items() if status.startswith("5") and status != "503")


class Writer:
    """Posts messages to its own sessions, retrying each one with its Idempotency-Key until accepted:
    503 and dropped connections are expected during faults, anything else is counted."""

    def __init__(self, url: str, key: str, tally: Tally, sessions: int = 5, pause: float = 0.4) -> None:
        self.client = httpx.AsyncClient(base_url=url, headers={"X-API-Key": key}, timeout=10)
        self.tally = tally
        self.sessions: list[str] = []
        self.wanted = sessions
        self.pause = pause  # between messages: the workers answer each one, and must keep up

    async def run(self, stop: asyncio.Event) -> None:
        """Start its sessions, then post to them in turn until `stop`."""
        try:
            while len(self.sessions) < self.wanted and not stop.is_set():
                if started := await self._post({"message": "hello"}, stop):
                    self.sessions.append(started)
            turn = 0
            while self.sessions and not stop.is_set():
                # every fourth message goes through the calculator tool, the others get a plain answer
                text = f"Calculate {turn} + 1" if turn % 4 == 0 else f"m{turn}"
                await self._post({"session_id": self.sessions[turn % len(self.sessions)], "message": text}, stop)
                turn += 1
                await asyncio.sleep(self.pause)
        finally:
            await self.client.aclose()

    async def _post(self, body: dict[str, str], stop: asyncio.Event) -> str | None:
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        while True:
            try:
                response = await self.client.post("/v1/session/message", json=body, headers=headers)
            except httpx.TransportError as e:
                self.tally.statuses[type(e).__name__] += 1
            else:
                self.tally.statuses[str(response.status_code)] += 1
                if response.status_code == 202:
                    answer = response.json()
                    self.tally.accepted[answer["event_id"]] = answer["session_id"]
                    self.tally.accepted_at.append(time.monotonic())
                    return str(answer["session_id"])
                if response.status_code != 503:
                    return None  # counted; the writer moves on
            if stop.is_set():
                return None
            await asyncio.sleep(0.05)


def stored_events(dsn: str, tenant: str) -> dict[str, list[tuple[int, str]]]:
    """Per stream of the tenant: (version, event id) in version order, as the store holds them."""
    streams: dict[str, list[tuple[int, str]]] = defaultdict(list)
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT stream_id, version, event_id::text FROM events WHERE tenant_id = %s ORDER BY stream_id, version",
            (tenant,),
        ).fetchall()
    for stream, version, event_id in rows:
        streams[stream].append((version, event_id))
    return streams


@dataclass(frozen=True)
class KafkaCheck:
    lost: int
    duplicated: int
    reordered: int


def check_kafka(bootstrap: str, topics: list[str], stored: dict[str, list[tuple[int, str]]]) -> KafkaCheck:
    """Every stored event of the tenant on Kafka exactly once, each stream's events in version order on
    each topic (a session's user messages and its replies travel on different topics)."""
    wanted = {event_id: stream for stream, events in stored.items() for _, event_id in events}
    messages: list[Message] = read_until(bootstrap, topics, set(wanted), timeout=60)
    order = {event_id: version for events in stored.values() for version, event_id in events}
    seen: dict[tuple[str, str | None], list[int]] = defaultdict(list)
    counts: Counter[str] = Counter()
    for message in messages:
        event_id = header(message, "event_id")
        counts[event_id] += 1
        seen[(wanted[event_id], message.topic())].append(order[event_id])
    duplicated = sum(n - 1 for n in counts.values() if n > 1)
    reordered = sum(1 for versions in seen.values() if versions != sorted(versions))
    return KafkaCheck(lost=len(set(wanted) - set(counts)), duplicated=duplicated, reordered=reordered)


def wait_for(check, timeout: float, what: str) -> float:
    """Poll `check()` until true; the seconds it took. Fails naming `what` after `timeout`."""
    began = time.monotonic()
    while not check():
        assert time.monotonic() - began < timeout, f"{what} did not happen within {timeout} s"
        time.sleep(0.1)
    return time.monotonic() - began


def transcript(client: httpx.Client, session: str) -> list[dict]:
    """A session's messages as the API shows them, every page."""
    messages: list[dict] = []
    cursor = None
    while True:
        params = {"limit": 500} | ({"cursor": cursor} if cursor else {})
        answer = client.get(f"/v1/sessions/{session}/messages", params=params)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        messages += page["items"]
        if not (cursor := page["next_cursor"]):
            return messages


def replies_wrong(client: httpx.Client, session: str) -> list[str]:
    """What is wrong with the answers in a session's transcript: a user message with no reply or with more
    than one, a calculation answered without its result."""
    messages = transcript(client, session)
    replies: dict[str, list[str]] = defaultdict(list)
    for m in messages:
        if m["role"] == "assistant":
            replies[m["metadata"].get("in_reply_to", "")].append(m["text"])
    wrong = []
    for m in messages:
        if m["role"] != "user":
            continue
        got = replies.get(m["message_id"], [])
        if len(got) != 1:
            wrong.append(f"{m['message_id']} has {len(got)} replies")
        elif m["text"].startswith("Calculate ") and str(int(m["text"].split()[1]) + 1) not in got[0]:
            wrong.append(f"{m['text']!r} answered {got[0]!r}")
    return wrong


def head(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return int(conn.execute("SELECT coalesce(max(position), 0) FROM events").fetchall()[0][0])


def relay_has(dsn: str, position: int) -> bool:
    """The relay published every event up to `position`."""
    with psycopg.connect(dsn) as conn:
        waiting = conn.execute(
            "SELECT count(*) FROM events e LEFT JOIN relay_checkpoints c ON c.relay = 'main' "
            "WHERE e.position <= %s AND (c.relay IS NULL OR (e.txid, e.position) > (c.txid, c.position))",
            (position,),
        ).fetchall()[0][0]
    return waiting == 0


def views_have(redis_url: str, dsn: str, position: int) -> bool:
    """Both session views applied every event of their topics up to `position` (a view's position moves only
    with the events it reads: a budget event recorded last, as a settlement beside its reply, never reaches it)."""
    topics = sorted({topic for view in VIEWS for topic in VIEW_DEFINITIONS[view].topics})
    with psycopg.connect(dsn) as conn:
        sql = "SELECT coalesce(max(position), 0) FROM events WHERE position <= %s AND topic = ANY(%s)"
        target = int(conn.execute(sql, (position, topics)).fetchall()[0][0])
    with redis.Redis.from_url(redis_url, decode_responses=True) as client:
        for view in VIEWS:
            keys = Keys(REDIS_PREFIX, view)
            state = keys.at(int(client.get(keys.shared("current")) or 1))("state")
            if int(client.hget(state, "position") or 0) < target:
                return False
    return True


def read_models_mismatching(url: str, key: str, dsn: str, sessions: set[str]) -> list[str]:
    """Sessions whose read models differ from a fold of the store (message count, message versions)."""
    wrong = []
    with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=30) as client, psycopg.connect(dsn) as conn:
        for session in sessions:
            versions = [
                row[0]
                for row in conn.execute(
                    "SELECT version FROM events WHERE stream_id = %s AND event_type = 'agentlog.session.MessagePosted' "
                    "ORDER BY version",
                    (session,),
                ).fetchall()
            ]
            shown = [m["version"] for m in transcript(client, session)]
            count = client.get(f"/v1/sessions/{session}").json()["messages"]
            if shown != versions or count != len(versions):
                wrong.append(session)
    return wrong


def start_writers(
    url: str, key: str, tally: Tally, writers: int
) -> tuple[threading.Thread, asyncio.AbstractEventLoop, asyncio.Event]:
    """`writers` Writers posting on a thread of their own until the returned event is set (on the loop)."""
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def write() -> None:
        await asyncio.gather(*(Writer(url, key, tally).run(stop) for _ in range(writers)))

    def run() -> None:
        loop.run_until_complete(write())

    thread = threading.Thread(target=run, name="fault-writers", daemon=True)
    thread.start()
    return thread, loop, stop
