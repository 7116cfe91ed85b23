"""The two sides of the conversation benchmark: agentlog through its HTTP API and SSE, and LangGraph."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import httpx
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.graph import START, MessagesState, StateGraph
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

REPLY_TIMEOUT = 120.0


@dataclass
class Chat:
    """One agentlog session: `arrivals[k]` is when the k-th assistant message showed in its SSE stream."""

    http: httpx.AsyncClient
    headers: dict[str, str]
    session_id: str
    sent: int = 1  # the session was started with its first message
    arrivals: list[float] = field(default_factory=list)
    failed: int = 0
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    reader: asyncio.Task[None] | None = None

    async def post(self, text: str) -> int:
        """Post the next user message; returns its index (the index of the reply that answers it)."""
        index, self.sent = self.sent, self.sent + 1
        body = {"message": text, "session_id": self.session_id}
        response = await self.http.post("/v1/session/message", json=body, headers=self.headers)
        response.raise_for_status()
        return index

    async def reply(self, index: int) -> float:
        """Wait until reply `index` is in the stream; when it arrived (perf_counter)."""
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(lambda: len(self.arrivals) > index), REPLY_TIMEOUT)
        return self.arrivals[index]

    async def turn(self, text: str) -> None:
        await self.reply(await self.post(text))

    async def follow(self) -> None:
        """Read the session's SSE stream, noting every assistant message (replayed ones included).

        A new session is 404 until the projection has it: retried, as is a stream that ends.
        """
        last = ""
        while True:
            url = f"/v1/sessions/{self.session_id}/stream"
            headers = {**self.headers, **({"Last-Event-ID": last} if last else {})}
            async with self.http.stream("GET", url, headers=headers, timeout=None) as stream:
                if stream.status_code == 200:
                    last = await self._read(stream, last)
                else:
                    await asyncio.sleep(0.005)

    async def _read(self, stream: httpx.Response, last: str) -> str:
        kind = ""
        async for line in stream.aiter_lines():
            if line.startswith("id: "):
                last = line[4:]
            elif line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: ") and kind == "message":
                await self._message(json.loads(line[6:]))
        return last

    async def _message(self, data: dict[str, Any]) -> None:
        if data.get("role") != "assistant":
            return
        at = time.perf_counter()
        self.failed += (data.get("metadata") or {}).get("status") != "answered"
        async with self.changed:
            self.arrivals.append(at)
            self.changed.notify_all()

    async def close(self) -> None:
        if self.reader:
            self.reader.cancel()
            with suppress(asyncio.CancelledError):
                await self.reader


@dataclass
class Ours:
    """agentlog's side: an HTTP client of the running stack, authenticated as a fresh tenant."""

    http: httpx.AsyncClient
    headers: dict[str, str]

    @classmethod
    async def start(cls, http: httpx.AsyncClient, tenant: str, key: str) -> Ours:
        """Raise the tenant's daily budget out of reach, so no turn is refused for tokens."""
        headers = {"X-API-Key": key}
        response = await http.put(f"/v1/budgets/{tenant}/limits", json={"daily_tokens": 2**53 - 1}, headers=headers)
        response.raise_for_status()
        return cls(http, headers)

    async def open(self, first: str) -> Chat:
        """Start a session with `first`, follow its stream and wait for the first reply (untimed setup)."""
        response = await self.http.post("/v1/session/message", json={"message": first}, headers=self.headers)
        response.raise_for_status()
        chat = Chat(self.http, self.headers, response.json()["session_id"])
        chat.reader = asyncio.create_task(chat.follow())
        await chat.reply(0)
        return chat

    async def sample_reply(self, text: str) -> str:
        """The deterministic responder's answer to `text`, to give the peer's fake model the same words."""
        chat = await self.open(text)
        response = await self.http.get(f"/v1/sessions/{chat.session_id}/messages", headers=self.headers)
        await chat.close()
        return str(next(m["text"] for m in response.json()["items"] if m["role"] == "assistant"))


class Peer:
    """LangGraph's side: a one-node graph (fake chat model) checkpointed by `AsyncPostgresSaver`."""

    def __init__(self, graph: Any) -> None:
        self.graph = graph

    @classmethod
    @asynccontextmanager
    async def start(cls, dsn: str, schema: str, pool_size: int, replies: Iterator[str]) -> AsyncIterator[Peer]:
        """The checkpointer's tables in `schema` (setup), a psycopg pool of `pool_size` as LangGraph documents it."""
        kwargs = {
            "autocommit": True,
            "prepare_threshold": 0,
            "row_factory": dict_row,
            "options": f"-c search_path={schema}",
        }
        async with AsyncConnectionPool(dsn, min_size=1, max_size=pool_size, kwargs=kwargs, open=False) as pool:
            saver = AsyncPostgresSaver(pool)  # type: ignore[arg-type]
            await saver.setup()
            model = GenericFakeChatModel(messages=(AIMessage(content=r) for r in replies))

            async def respond(state: MessagesState) -> dict[str, list[Any]]:
                return {"messages": [await model.ainvoke(state["messages"])]}

            builder = StateGraph(MessagesState)
            builder.add_node("respond", respond)
            builder.add_edge(START, "respond")
            yield cls(builder.compile(checkpointer=saver))

    async def turn(self, thread: str, text: str) -> None:
        """One turn, returning once its checkpoint is written (durability "sync")."""
        config = {"configurable": {"thread_id": thread}}
        await self.graph.ainvoke({"messages": [HumanMessage(text)]}, config, durability="sync")
