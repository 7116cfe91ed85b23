"""The exactly-once step: dedupe check, view change and stored offset in one atomic Redis script.

Each projection keeps, per stream, a bitmap of the stream versions it has applied and the
highest event-store position applied (what read-your-writes waits for), and per Kafka partition
the next offset to read. For each event of a batch the script checks the event's bit; if it is
set (a redelivery or a replay) it only advances the offset; otherwise it checks that every key
the event touches has the right type, runs the view operations, sets the bit and advances the
offset. A batch is one script call, so it is applied atomically as a whole; it travels as one
MessagePack argument, which Redis's Lua reads (cmsgpack) faster than JSON and Python packs 3x faster.

Batches are pipelined on a connection of the applier's own: the next batch is sent before the reply
to the last one is read, so Redis runs them back to back, in the order sent.

An event whose operations cannot run (a key of the wrong type, say) stops the batch before any
of its writes: the script returns how far it got and the error, and the caller retries or
dead-letters that event. It also halts the sender's run (ARGV[2]): batches sent behind it with the
same run id do nothing, so no offset moves past the event before the caller has set it aside.
Views are written so that the order of events from different topics does not matter (see
IFNEWER), because one stream's events can arrive on two topics; where the order is what clients see
(a session's live updates), INORDER puts the events back in stream-version order.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import msgpack
import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection as Connection

from observability.redisconn import own_connection

# Ops are Redis commands, plus two of ours:
#   IFNEWER key version index_prefix field value ...: set the hash's fields only if `version` is
#     newer than its `_version`; when the hash's `status` changes, move the id (the key's last
#     segment) between the `index_prefix<status>` sets.
#   INORDER order_key version pending_key legacy_key [command ...]: run the command once, in stream-version
#     order: `order_key`'s bits are the versions done (a bitmap outliving the view's key versions); a
#     version that comes before an earlier one waits in the `pending_key` hash and runs when the gap
#     closes. Every version of the stream must come, with or without a command (live updates of a
#     session arrive on two topics: a reply must not overtake its question, nor the closing a reply).
#     A stream with `legacy_key` (the ONCE flags of earlier releases) starts from its first new version.
_SCRIPT = """
local TYPES = {HSET='hash', HSETNX='hash', HINCRBY='hash', IFNEWER='hash', ZADD='zset', SADD='set',
  SREM='set', XADD='stream', INORDER='string'}
local known = {}  -- key -> type already checked in this batch
-- an op is read from index `at` on: INORDER's command is the rest of its own op
local function wrongtype(op, at)
  local name, key = op[at], op[at + 1]
  local want = TYPES[name]
  if want and known[key] ~= want then
    local have = redis.call('TYPE', key).ok
    if have ~= 'none' and have ~= want then return key .. ' holds a ' .. have .. ', not a ' .. want end
    known[key] = want
  end
  if name == 'INORDER' and #op > at + 4 then return wrongtype(op, at + 5) end
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
local function inorder(op, at)
  local order, version, pending, legacy = op[at + 1], tonumber(op[at + 2]), op[at + 3], op[at + 4]
  if redis.call('GETBIT', order, version) == 1 then return end  -- done already
  -- bit 0 stands for "nothing before version 1", so the first clear bit is the next version due
  if redis.call('SETBIT', order, 0, 1) == 0 and redis.call('EXISTS', legacy) == 1 then
    for v = 1, version - 1 do redis.call('SETBIT', order, v, 1) end
  end
  local command = {unpack(op, at + 5)}
  if redis.call('BITPOS', order, 0) ~= version then
    redis.call('HSET', pending, version, cmsgpack.pack(command))
    return
  end
  while command do
    if #command > 0 then redis.call(unpack(command)) end
    redis.call('SETBIT', order, version, 1)
    version = version + 1
    local kept = redis.call('HGET', pending, version)
    command = kept and cmsgpack.unpack(kept)
    if kept then redis.call('HDEL', pending, version) end
  end
end
local function run(op, at)
  local name = op[at]
  if name == 'IFNEWER' then ifnewer(op, at)
  elseif name == 'INORDER' then inorder(op, at)
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
local offsets, positions, state, run = KEYS[1], KEYS[2], KEYS[3], ARGV[2]
if run ~= '' and redis.call('HGET', state, 'halted') == run then return {0, 0, 'halted'} end
local nexts, tops, top, newest = {}, {}, 0, 0
-- raise each field of `hash` to its number in `values` where that is higher, in two calls whatever
-- their count (a batch's streams: fewer than unpack's limit of 8000 values)
local function raise(hash, values)
  local fields, higher = {}, {}
  for field in pairs(values) do fields[#fields + 1] = field end
  if #fields == 0 then return end
  local stored = redis.call('HMGET', hash, unpack(fields))
  for i, field in ipairs(fields) do
    if values[field] > tonumber(stored[i] or '0') then
      higher[#higher + 1] = field
      higher[#higher + 1] = values[field]
    end
  end
  if #higher > 0 then redis.call('HSET', hash, unpack(higher)) end
end
local function flush()
  -- raised, never lowered: a process paused past its session may land a batch after the partition's new owner
  raise(offsets, nexts)
  raise(positions, tops)
  raise(state, {position = top, event_ms = newest})
end
local done, applied = 0, 0
for _, d in ipairs(cmsgpack.unpack(ARGV[1])) do
  local bitmap, version, stream, position, partition, offset, at, ops = unpack(d)
  if bitmap ~= '' and redis.call('SETBIT', bitmap, version, 1) == 0 then
    local wrong = problem(ops)
    if wrong then
      redis.call('SETBIT', bitmap, version, 0)  -- not applied after all
      if run ~= '' then redis.call('HSET', state, 'halted', run) end
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
    """Runs batches of deliveries through the script, one atomic step per batch, on a connection of its
    own: `send` puts a batch on the wire at once, `receive` reads the replies in the order sent."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self._connection: Connection | None = None
        self._sent: deque[asyncio.Future[None]] = deque()  # writes whose replies are not read yet

    def send(self, keys: tuple[str, str, str], deliveries: Sequence[Delivery], run: str = "") -> None:
        """Send a batch behind those sent before; `keys` are the view's (offsets, positions, state) hashes,
        `run` names the sender's run that a failing batch halts ("" for none)."""
        command = ("EVAL", _SCRIPT, 3, *keys, msgpack.packb(deliveries), run)  # Redis caches the script by hash
        previous = self._sent[-1] if self._sent else None
        write = asyncio.ensure_future(self._write(previous, command, keys[0]))
        write.add_done_callback(_retrieved)
        self._sent.append(write)

    async def _write(self, previous: asyncio.Future[None] | None, command: tuple[object, ...], key: str) -> None:
        if previous is not None:
            await previous  # in order, whatever the socket takes at once
        if self._connection is None:  # on the server holding the view's keys (one slot: a hash tag per view)
            self._connection = await own_connection(self.client, key)
        await self._connection.send_command(*command)

    async def receive(self) -> Applied:
        """The reply to the oldest batch sent; on any failure, what was sent and not read is dropped."""
        try:
            await self._sent.popleft()
            assert self._connection is not None
            done, applied, error = await self._connection.read_response()
        except BaseException:
            await self.reset()
            raise
        return Applied(int(done), int(applied), error.decode() if isinstance(error, bytes) else str(error))

    async def apply(self, keys: tuple[str, str, str], deliveries: Sequence[Delivery]) -> Applied:
        """Send a batch and wait for its reply; nothing else may be in flight, so it halts nothing."""
        self.send(keys, deliveries)
        return await self.receive()

    async def reset(self) -> None:
        """Forget what is in flight: the connection is closed (reopened by the next send), so no reply to an
        earlier batch can be read as a later one's. Batches Redis already ran stay applied."""
        for write in self._sent:
            write.cancel()
        self._sent.clear()
        if self._connection is not None:
            await self._connection.disconnect(nowait=True)


def _retrieved(write: asyncio.Future[None]) -> None:
    """A failed write's error is raised by `receive`, or was made moot by `reset`: never "never retrieved"."""
    if not write.cancelled():
        write.exception()
