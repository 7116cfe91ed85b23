"""The exactly-once step: dedupe check, view change and stored offset in one atomic Redis script.

Each projection keeps, per stream, a bitmap of the stream versions it has applied and the
highest event-store position applied (what read-your-writes waits for), and per Kafka partition
the next offset to read. The script sets the event's bit; if it was already
set (a redelivery or a replay) it only advances the offset; otherwise it runs the view
operations and advances the offset, all atomically. Views are written so that the order of
events from different topics does not matter (see IFNEWER), because one stream's events can
arrive on two topics.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis

# Ops are Redis commands, plus IFNEWER key version index_prefix field value ...: set the hash's
# fields only if `version` is newer than its `_version`; when it is and the hash has a `status`
# that changes, move the id (the key's last segment) between the `index_prefix<status>` sets.
_SCRIPT = """
local function ifnewer(op)
  local key, version, index = op[2], tonumber(op[3]), op[4]
  if version <= tonumber(redis.call('HGET', key, '_version') or '0') then return end
  local old = redis.call('HGET', key, 'status')
  redis.call('HSET', key, '_version', version, unpack(op, 5))
  local new = redis.call('HGET', key, 'status')
  if index ~= '' and new and old ~= new then
    local id = string.match(key, '([^:]+)$')
    if old then redis.call('SREM', index .. old, id) end
    redis.call('SADD', index .. new, id)
  end
end
if redis.call('SETBIT', KEYS[1], ARGV[1], 1) == 1 then
  redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
  return 0
end
for _, op in ipairs(cjson.decode(ARGV[4])) do
  if op[1] == 'IFNEWER' then ifnewer(op) else redis.call(unpack(op)) end
end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
local stream, position = ARGV[5], tonumber(ARGV[6])
if position > tonumber(redis.call('HGET', KEYS[3], stream) or '0') then
  redis.call('HSET', KEYS[3], stream, position)
end
return 1
"""

Op = Sequence[str | int | float]


@dataclass(frozen=True)
class Delivery:
    """Where an event came from and what it changes in one projection's view."""

    applied_key: str  # the stream's bitmap of applied versions
    offsets_key: str  # the projection's next offset per "topic:partition"
    positions_key: str  # the projection's highest applied store position per stream
    stream_id: str
    position: int
    version: int
    partition: str
    next_offset: int
    ops: list[Op]


class Applier:
    """Runs deliveries through the script, many per round trip (each one atomic on its own)."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self.script = client.register_script(_SCRIPT)

    async def apply(self, deliveries: Sequence[Delivery]) -> list[bool]:
        """Apply in order; True where the event changed the view, False for a duplicate."""
        async with self.client.pipeline(transaction=False) as pipe:
            for d in deliveries:
                await self.script(
                    keys=[d.applied_key, d.offsets_key, d.positions_key],
                    args=[d.version, d.partition, d.next_offset, json.dumps(d.ops), d.stream_id, d.position],
                    client=pipe,
                )
            results = await pipe.execute()
        return [result == 1 for result in results]
