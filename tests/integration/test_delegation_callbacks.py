"""The delegation worker on real Kafka and Postgres, calling a real loopback receiver: signed callbacks
delivered, retried, given up, refused, and never sent twice once their outcome is recorded."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

from standardwebhooks import Webhook

from contracts.routing import DELEGATION_TASKS
from domain.delegation.commands import (
    CompleteDelegationTask,
    CreateDelegationTask,
    FailDelegationTask,
    StartDelegationTask,
)
from domain.delegation.events import DelegationCallbackDelivered, DelegationCallbackFailed
from domain.delegation.service import complete_task, create_task, fail_task, start_task
from eventstore.store import PostgresEventStore
from tests.support.projections import ctx, publish
from tests.support.webhooks import Receiver
from workers.delegation.message import callback_message
from workers.delegation.settings import DelegationSettings, new_secret
from workers.delegation.worker import make_handler
from workers.runtime import Delivered, Worker

SECRET = new_secret()


def settings(**overrides) -> DelegationSettings:
    """Fast retries for tests: waits of 50 ms growing to 200 ms, loopback allowed unless overridden."""
    values = {
        "worker_callback_secret": SECRET,
        "worker_callback_allow_hosts": ["127.0.0.1"],
        "worker_callback_attempts": 5,
        "worker_callback_wait_initial": 0.05,
        "worker_callback_wait_max": 0.2,
        "worker_callback_timeout": 2.0,
        **overrides,
    }
    return DelegationSettings(**values)


async def ended_task(store: PostgresEventStore, tenant: str, url: str, *, failed: bool = False) -> uuid.UUID:
    """A task created with callback `url`, started, then completed (or failed), through the services."""
    task = uuid.uuid4()
    create = CreateDelegationTask(task_id=task, title="Q3 summary", instructions="three bullets", callback_url=url)
    await create_task(store, ctx(tenant), create)
    await start_task(store, ctx(tenant), StartDelegationTask(task_id=task, worker="worker-7"))
    if failed:
        await fail_task(store, ctx(tenant), FailDelegationTask(task_id=task, error="source unavailable"))
    else:
        await complete_task(store, ctx(tenant), CompleteDelegationTask(task_id=task, result="- revenue up 4%"))
    return task


async def outcomes(store: PostgresEventStore, task: uuid.UUID) -> list[object]:
    """The callback events recorded on the task's stream."""
    events = [r.event for r in await store.read_stream(str(task))]
    return [e for e in events if isinstance(e, DelegationCallbackDelivered | DelegationCallbackFailed)]


async def run_worker(own_store, own_codec, servers, pg_schema, config: DelegationSettings, done: Callable) -> None:
    """Publish the store's events, then run the delegation worker until `done()` (a coroutine) holds."""
    await publish(own_store, pg_schema.dsn, pg_schema.name, servers)
    handler = await make_handler(config, own_store, own_codec)
    worker = Worker("delegation", [DELEGATION_TASKS], own_codec, servers.kafka_bootstrap_servers, handler)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    deadline = time.monotonic() + 60
    try:
        while not await done():
            assert time.monotonic() < deadline, "the worker did not finish in time"
            assert not running.done(), running.exception()
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await running


def recorded_outcome(store: PostgresEventStore, task: uuid.UUID) -> Callable:
    async def done() -> bool:
        return bool(await outcomes(store, task))

    return done


async def test_a_completed_task_is_posted_signed_and_recorded_delivered(
    own_store, own_codec, servers, pg_schema, tenant
):
    with Receiver() as receiver:
        task = await ended_task(own_store, tenant, receiver.url)
        await run_worker(own_store, own_codec, servers, pg_schema, settings(), recorded_outcome(own_store, task))

    [request] = receiver.received
    body = Webhook(SECRET).verify(request.body, request.headers)
    assert request.path == "/hooks/agentlog"
    assert request.headers["content-type"] == "application/json"
    assert body["type"] == "delegation.task.completed"
    assert body["data"]["task_id"] == str(task)
    assert (body["data"]["status"], body["data"]["result"], body["data"]["error"]) == (
        "completed",
        "- revenue up 4%",
        None,
    )
    assert body["data"]["tenant_id"] == tenant
    stream = await own_store.read_stream(str(task))
    assert request.headers["webhook-id"] == f"msg_{stream[2].meta.event_id}"  # the completion caused it
    assert await outcomes(own_store, task) == [
        DelegationCallbackDelivered(task_id=task, callback_url=receiver.url, status_code=204)
    ]
    assert stream[3].meta.causation_id == stream[2].meta.event_id


async def test_a_receiver_failing_twice_gets_it_on_the_third_attempt_under_the_same_id(
    own_store, own_codec, servers, pg_schema, tenant
):
    with Receiver(answers=[500, 503], then=200) as receiver:
        task = await ended_task(own_store, tenant, receiver.url, failed=True)
        await run_worker(own_store, own_codec, servers, pg_schema, settings(), recorded_outcome(own_store, task))

    assert len(receiver.received) == 3
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1
    assert len({r.body for r in receiver.received}) == 1
    for request in receiver.received:  # each attempt is signed for its own timestamp
        assert Webhook(SECRET).verify(request.body, request.headers)["data"]["error"] == "source unavailable"
    waits = [b.at - a.at for a, b in zip(receiver.received, receiver.received[1:], strict=False)]
    assert all(w >= 0.04 for w in waits), waits  # backed off between attempts
    assert await outcomes(own_store, task) == [
        DelegationCallbackDelivered(task_id=task, callback_url=receiver.url, status_code=200)
    ]


async def test_a_400_gives_up_at_once_and_records_the_failure(own_store, own_codec, servers, pg_schema, tenant):
    with Receiver(then=400) as receiver:
        task = await ended_task(own_store, tenant, receiver.url)
        await run_worker(own_store, own_codec, servers, pg_schema, settings(), recorded_outcome(own_store, task))

    assert len(receiver.received) == 1
    assert await outcomes(own_store, task) == [
        DelegationCallbackFailed(task_id=task, callback_url=receiver.url, error="answered 400", attempt=1)
    ]


async def test_a_receiver_that_keeps_failing_is_given_up_after_the_attempts_with_the_last_error(
    own_store, own_codec, servers, pg_schema, tenant
):
    with Receiver(then=503) as receiver:
        task = await ended_task(own_store, tenant, receiver.url)
        config = settings(worker_callback_attempts=3)
        await run_worker(own_store, own_codec, servers, pg_schema, config, recorded_outcome(own_store, task))

    assert len(receiver.received) == 3
    assert await outcomes(own_store, task) == [
        DelegationCallbackFailed(task_id=task, callback_url=receiver.url, error="answered 503", attempt=3)
    ]


async def test_a_loopback_url_not_allow_listed_is_refused_without_connecting(
    own_store, own_codec, servers, pg_schema, tenant
):
    with Receiver() as receiver:
        task = await ended_task(own_store, tenant, receiver.url)
        config = settings(worker_callback_allow_hosts=[])
        await run_worker(own_store, own_codec, servers, pg_schema, config, recorded_outcome(own_store, task))

    assert receiver.received == []
    [failed] = await outcomes(own_store, task)
    assert isinstance(failed, DelegationCallbackFailed)
    assert failed.attempt == 1
    assert "refused target" in failed.error
    assert "loopback" in failed.error
    assert "AGENTLOG_WORKER_CALLBACK_ALLOW_HOSTS" in failed.error


async def test_a_dead_receiver_is_retried_and_given_up(own_store, own_codec, servers, pg_schema, tenant):
    with Receiver() as receiver:
        dead_url = receiver.url
    task = await ended_task(own_store, tenant, dead_url)  # nothing listens there any more
    config = settings(worker_callback_attempts=2)
    await run_worker(own_store, own_codec, servers, pg_schema, config, recorded_outcome(own_store, task))

    [failed] = await outcomes(own_store, task)
    assert isinstance(failed, DelegationCallbackFailed)
    assert (failed.attempt, failed.error.startswith("cannot connect")) == (2, True)


async def test_a_retrying_callback_does_not_hold_up_another_tasks(own_store, own_codec, servers, pg_schema, tenant):
    with Receiver(then=503) as failing, Receiver() as healthy:
        slow = await ended_task(own_store, tenant, failing.url)
        fast = await ended_task(own_store, tenant, healthy.url)
        config = settings(worker_callback_attempts=4, worker_callback_wait_initial=0.5, worker_callback_wait_max=1.0)

        async def both_recorded() -> bool:
            return bool(await outcomes(own_store, slow)) and bool(await outcomes(own_store, fast))

        await run_worker(own_store, own_codec, servers, pg_schema, config, both_recorded)

    [delivered] = healthy.received
    assert len(failing.received) == 4
    assert delivered.at < failing.received[1].at  # delivered while the other was still waiting to retry


async def test_a_redelivered_ending_sends_nothing_once_the_outcome_is_recorded(
    own_store, own_codec, servers, pg_schema, tenant
):
    """Before the outcome is recorded (a worker killed after sending), a redelivery sends again with the
    same webhook-id and body; after it, nothing is sent and nothing more is recorded."""
    with Receiver() as receiver:
        task = await ended_task(own_store, tenant, receiver.url)
        stream = await own_store.read_stream(str(task))
        completion = Delivered(stream[-1], 0, DELEGATION_TASKS)
        handler = await make_handler(settings(), own_store, own_codec)
        sent_before_a_kill = callback_message(stream, stream[-1])

        await handler(completion)  # the worker after the restart: sends, records
        await handler(completion)  # the same event again
        await handler(completion)

    assert len(receiver.received) == 1
    assert receiver.received[0].headers["webhook-id"] == sent_before_a_kill.webhook_id
    assert receiver.received[0].body == sent_before_a_kill.body.encode()
    assert len(await outcomes(own_store, task)) == 1


async def test_a_task_without_a_callback_url_and_events_that_end_nothing_send_nothing(own_store, own_codec, tenant):
    task = uuid.uuid4()
    await create_task(own_store, ctx(tenant), CreateDelegationTask(task_id=task, title="t", instructions="i"))
    await start_task(own_store, ctx(tenant), StartDelegationTask(task_id=task, worker="w"))
    await complete_task(own_store, ctx(tenant), CompleteDelegationTask(task_id=task, result=""))
    handler = await make_handler(settings(), own_store, own_codec)

    for recorded in await own_store.read_stream(str(task)):
        await handler(Delivered(recorded, 0, DELEGATION_TASKS))

    assert await outcomes(own_store, task) == []
