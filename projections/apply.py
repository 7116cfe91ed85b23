"""The exactly-once step: dedupe check, view change and stored offset in one atomic Redis script.

Each projection keeps, per stream, a bitmap of the stream versions it has applied and the
highest event-store position applied (what read-your-writes waits for), and per Kafka partition
the next offset to read. For each event of a batch the script checks the event's bit; if it is
set (a redelivery or a replay) it only advances the offset; otherwise it checks that every key
the event touches has the right type, runs the view operations, sets the bit and advances the
offset. A batch is one script call, so it is applied atomically as a whole; it travels as one
MessagePack argument, which Redis's Lua reads (cmsgpack) faster than JSON and Python packs 3x faster.

An event whose operations cannot run (a key of the wrong type, say) stops the batch before any
of its writes: the script returns how far it got and the error, and the caller retries or
dead-letters that event. Views are written so that the order of events from different topics
does not matter (see IFNEWER), because one stream's events can arrive on two topics.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import msgpack
import redis.asyncio as aioredis

# Ops are Redis commands, plus two of ours:
#   IFNEWER key version index_prefix field value ...: set the hash's fields only if `version` is
#     newer than its `_version`; when the hash's `status` changes, move the id (the key's last
#     segment) between the `index_prefix<status>` sets.
#   ONCE flag_key bit command ...: run the command only the first time `bit` is set in `flag_key`
#     (live updates, whose dedupe must outlive a view's key version).
_SCRIPT = """
local TYPES = {HSET='hash', HSETNX='hash', HINCRBY='hash', IFNEWER='hash', ZADD='zset', SADD='set',
  SREM='set', XADD='stream', ONCE='string'}
local known = {}  -- key -> type already checked in this batch
-- an op is read from index `at` on: ONCE's command is the rest of its own op, with no copy made
local function wrongtype(op, at)
  local name, key = op[at], op[at + 1]
  local want = TYPES[name]
  if want and known[key] ~= want then
    local have = redis.call('TYPE', key).ok
    if have ~= 'none' and have ~= want then return key .. ' holds a ' .. have .. ', not a ' .. want end
    known[key] = want
  end
  if name == 'ONCE' then return wrongtype(op, at + 3) end
end
local function ifnewer(op, at)
  local key, version, index = op[at + 1], tonumber(op[at + 2]), op[at + 3]
  local now = redis.call('HMGET', key, '_version', 'status')
  if version <= tonumber(now[1] or '0') then return end
  redis.call('HSET', key, '_version', version, unpack(op, at + 4))
  local old, new = now[2], now[2]
  for i = at + 4, #op, 2 do if op[i] == 'status' then new = op[i + 1] end end
  if index ~= '' and new and old ~= new then
    local id = string.match(key, '([^:]+)$')
    if old then redis.call('SREM', index .. old, id) end
    redis.call('SADD', index .. new, id)
  end
end
local function run(op, at)
  local name = op[at]
  if name == 'IFNEWER' then ifnewer(op, at)
  elseif name == 'ONCE' then
    if redis.call('SETBIT', op[at + 1], op[at + 2], 1) == 0 then run(op, at + 3) end
  else redis.call(unpack(op, at)) end
end
local function runall(ops) for i = 1, #ops do run(ops[i], 1) end end
local function problem(ops)
  for i = 1, #ops do
    local wrong = wrongtype(ops[i], 1)
    if wrong then return wrong end
  end
  local ok, err = pcall(runall, ops)
  if not ok then return tostring(err.err or err) end
end
-- offsets, positions and the view's state are written once per batch, for what was processed
local offsets, positions, state = KEYS[1], KEYS[2], KEYS[3]
local nexts, tops, top, newest = {}, {}, 0, 0
local function flush()
  for partition, offset in pairs(nexts) do redis.call('HSET', offsets, partition, offset) end
  for stream, position in pairs(tops) do
    if position > tonumber(redis.call('HGET', positions, stream) or '0') then
      redis.call('HSET', positions, stream, position)
    end
  end
  for field, value in pairs({position = top, event_ms = newest}) do
    if value > tonumber(redis.call('HGET', state, field) or '0') then redis.call('HSET', state, field, value) end
  end
end
local done, applied = 0, 0
for _, d in ipairs(cmsgpack.unpack(ARGV[1])) do
  local bitmap, version, stream, position, partition, offset, at, ops = unpack(d)
  if bitmap ~= '' and redis.call('SETBIT', bitmap, version, 1) == 0 then
    local wrong = problem(ops)
    if wrong then
      redis.call('SETBIT', bitmap, version, 0)  -- not applied after all
      flush()
      return {done, applied, wrong}
    end
    if position > (tops[stream] or 0) then tops[stream] = position end
    top, newest, applied = math.max(top, position), math.max(newest, at), applied + 1
  end
  if partition ~= '' then nexts[partition] = offset end
  done = done + 1
end
flush()
return {done, applied, ''}
"""

Op = Sequence[str | int | float]


class Delivery(NamedTuple):
    """One event for one view: where it came from and what it changes (packed as the script reads it).

    `bitmap` empty means "skip": only the offset advances (an event sent to the dead-letter topic).
    `partition` empty means the event did not come from Kafka (a rebuild from the event store).
    """

    bitmap: str  # the stream's bitmap of applied versions
    version: int
    stream_id: str
    position: int
    partition: str  # "topic:partition"
    next_offset: int
    event_ms: int
    ops: Sequence[Op]


@dataclass(frozen=True)
class Applied:
    """How a batch went: `done` deliveries processed (in order), `applied` of them changed the view;
    `error` (with done < len(batch)) says why delivery number `done` could not be applied."""

    done: int
    applied: int
    error: str = ""


class Applier:
    """Runs batches of deliveries through the script, one round trip and one atomic step per batch."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self.script = client.register_script(_SCRIPT)

    async def apply(self, keys: tuple[str, str, str], deliveries: Sequence[Delivery]) -> Applied:
        """Apply in order; `keys` are the view's (offsets, positions, state) hashes."""
        if not deliveries:
            return Applied(0, 0)
        payload = msgpack.packb(deliveries)
        done, applied, error = await self.script(keys=list(keys), args=[payload])
        return Applied(int(done), int(applied), error.decode() if isinstance(error, bytes) else str(error))
