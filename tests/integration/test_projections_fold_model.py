"""The unit tests' picture of Redis (tests/unit/projections/model.py) matches the real script on real Redis."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import redis.asyncio as aioredis

from domain.session.events import Role, SessionClosed
from observability import redisconn
from projections.apply import Applier
from projections.pipeline import FROM_STORE, Incoming, Projector
from projections.views import VIEWS, Keys
from tests.support.projections import dead_letters
from tests.unit.projections import test_budgets, test_delegation, test_sessions, test_tools, test_transcript
from tests.unit.projections.model import Folded, recorded
from tests.unit.projections.test_model_profiles import profile_set


def scenarios() -> dict[str, list]:
    """Per view, events in an order that exercises its out-of-order and redelivery rules."""
    session, reply, request, task = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    started, hi, hello, closed = test_sessions.session_events(session)
    chunks = [test_transcript.chunk(reply, 2, 0, "Hel"), test_transcript.chunk(reply, 3, 1, "lo")]
    final = test_transcript.posted(reply, 4, "Hello", Role.ASSISTANT)
    end = recorded(SessionClosed(session_id=test_transcript.SESSION, reason="done"), test_transcript.SESSION, 5)
    tool_done = test_tools.requested(request, session)
    return {
        "sessions": [started, hello, closed, hi, hello],
        "transcript": [chunks[0], final, test_transcript.started(), chunks[1], end, final],  # held back, then in order
        "tools": [tool_done, test_tools.requested(uuid.uuid4(), session, 3)],
        "budgets": [
            test_budgets.consumed(2, 50, 80),
            test_budgets.exceeded(3, 50, 20),
            test_budgets.consumed(1, 30, 30),
        ],
        "delegation": test_delegation.lifecycle(task)[::-1] + test_delegation.lifecycle(uuid.uuid4())[:2],
        "model_profiles": [profile_set(2, "large", 0.1), profile_set(1, "small")],
    }


async def redis_state(client: aioredis.Redis, raw: aioredis.Redis, keys: Keys) -> dict:
    """Every key of the view the folds wrote, as the model pictures it (the script's bookkeeping left out)."""
    bookkeeping = [keys("applied", ""), keys("offsets"), keys("positions"), keys("state")]
    state: dict = {}
    async for key in client.scan_iter(match=keys.shared("*")):
        if any(key.startswith(kept) for kept in bookkeeping):
            continue
        kind = await client.type(key)
        if kind == "hash":
            state[key] = await client.hgetall(key)
        elif kind == "zset":
            pairs: Any = await client.zrange(key, 0, -1, withscores=True)
            state[key] = dict(pairs)
        elif kind == "set":
            state[key] = await client.smembers(key)
        elif kind == "stream":
            entries: Any = await client.xrange(key)
            state[key] = [fields for _, fields in entries]
        else:  # a bitmap (INORDER's versions done)
            bits: Any = await raw.get(key) or b""
            state[key] = {i for i in range(len(bits) * 8) if bits[i // 8] >> (7 - i % 8) & 1}
    return state


@pytest.mark.parametrize("name", list(VIEWS))
async def test_the_model_folds_every_view_as_the_script_on_redis_does(name, servers, codec, redis_prefix):
    view, events = VIEWS[name], scenarios()[name]
    keys = Keys(redis_prefix, name)
    client = redisconn.connect(servers.redis_url, decode_responses=True)
    raw = redisconn.connect(servers.redis_url)
    try:
        projector = Projector(view, codec, Applier(raw), keys, dead_letters(servers, codec))
        encoded = [codec.encode(event) for event in events]
        await projector.project(
            [Incoming(e.value, e.key, e.topic, FROM_STORE, 0, n, 0) for n, e in enumerate(encoded, 1)]
        )
        assert projector.dead_lettered == 0

        assert await redis_state(client, raw, keys) == Folded(view, keys).fold(events).state
    finally:
        await client.aclose()
        await raw.aclose()
