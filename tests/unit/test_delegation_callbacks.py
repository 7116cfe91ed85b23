"""Delegation callbacks without servers: the body a receiver gets, its signature, how answers are sorted,
and the worker's settings."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
from pydantic import ValidationError
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from domain.delegation.events import (
    DelegationTaskCompleted,
    DelegationTaskCreated,
    DelegationTaskFailed,
    DelegationTaskStarted,
)
from domain.errors import InvalidCommand
from domain.events import DomainEvent, EventMetadata, RecordedEvent
from observability.resolve import Unreachable
from workers.delegation.delivery import GiveUp, Retryable, _settle
from workers.delegation.message import callback_message, signed_headers
from workers.delegation.settings import ALLOW_HOSTS_SETTING, DelegationSettings, new_secret
from workers.delegation.target import pin

T0 = datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)


def history(task: uuid.UUID, *events: DomainEvent, tenant: str = "acme") -> list[RecordedEvent]:
    """The task's events as stored: versions from 1, a minute apart from T0."""
    return [
        RecordedEvent(
            meta=EventMetadata(
                event_id=uuid.uuid4(),
                stream_id=str(task),
                stream_type="delegation",
                stream_version=n,
                tenant_id=tenant,
                occurred_at=T0 + timedelta(minutes=n - 1),
                correlation_id=uuid.uuid4(),
            ),
            event=event,
        )
        for n, event in enumerate(events, start=1)
    ]


def ended_task(outcome: str = "completed", url: str | None = "https://hooks.example/agentlog") -> list[RecordedEvent]:
    task, parent = uuid.uuid4(), uuid.uuid4()
    ending: DomainEvent = (
        DelegationTaskCompleted(task_id=task, result="- revenue up 4%")
        if outcome == "completed"
        else DelegationTaskFailed(task_id=task, error="source unavailable")
    )
    return history(
        task,
        DelegationTaskCreated(
            task_id=task, title="Q3", instructions="sum up", callback_url=url, parent_session_id=parent
        ),
        DelegationTaskStarted(task_id=task, worker="worker-7"),
        ending,
    )


def test_a_completed_task_is_sent_as_type_timestamp_and_data_with_its_result_and_times():
    events = ended_task("completed")
    created = events[0].event
    assert isinstance(created, DelegationTaskCreated)

    message = callback_message(events, events[-1])

    assert message.url == "https://hooks.example/agentlog"
    assert message.webhook_id == f"msg_{events[-1].meta.event_id}"
    assert json.loads(message.body) == {
        "type": "delegation.task.completed",
        "timestamp": "2026-03-04T05:08:07.123456Z",
        "data": {
            "task_id": str(created.task_id),
            "tenant_id": "acme",
            "status": "completed",
            "result": "- revenue up 4%",
            "error": None,
            "title": "Q3",
            "parent_session_id": str(created.parent_session_id),
            "worker": "worker-7",
            "created_at": "2026-03-04T05:06:07.123456Z",
            "started_at": "2026-03-04T05:07:07.123456Z",
            "ended_at": "2026-03-04T05:08:07.123456Z",
        },
    }


def test_a_failed_task_carries_its_error_and_no_result_and_the_same_events_give_the_same_bytes():
    events = ended_task("failed")

    first, again = callback_message(events, events[-1]), callback_message(list(events), events[-1])

    body = json.loads(first.body)
    assert body["type"] == "delegation.task.failed"
    assert (body["data"]["status"], body["data"]["result"], body["data"]["error"]) == (
        "failed",
        None,
        "source unavailable",
    )
    assert first == again


def test_only_an_ending_of_a_task_with_a_callback_url_makes_a_message():
    events = ended_task(url=None)
    with pytest.raises(ValueError, match="has no callback URL"):
        callback_message(events, events[-1])
    events = ended_task()
    with pytest.raises(ValueError, match="DelegationTaskStarted does not end a task"):
        callback_message(events, events[1])


def test_the_signature_verifies_with_the_secret_and_fails_for_another_body_or_secret():
    secret = new_secret()
    events = ended_task()
    message = callback_message(events, events[-1])
    now = datetime.now(UTC)

    headers = signed_headers(Webhook(secret), message, now)

    assert Webhook(secret).verify(message.body.encode(), headers) == json.loads(message.body)
    assert headers["webhook-id"] == message.webhook_id
    assert headers["webhook-timestamp"] == str(int(now.timestamp()))
    assert headers["webhook-signature"].startswith("v1,")
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(message.body.replace("Q3", "Q4").encode(), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(message.body.encode(), headers)


def test_each_attempt_signs_its_own_time_under_the_same_id():
    webhook = Webhook(new_secret())
    events = ended_task()
    message = callback_message(events, events[-1])
    later = datetime.now(UTC)
    earlier = later - timedelta(seconds=30)

    first, second = signed_headers(webhook, message, earlier), signed_headers(webhook, message, later)

    assert first["webhook-id"] == second["webhook-id"]
    assert first["webhook-signature"] != second["webhook-signature"]
    assert webhook.verify(message.body, first) == webhook.verify(message.body, second)


def test_a_local_time_is_signed_as_the_instant_it_is():
    webhook = Webhook(new_secret())
    events = ended_task()
    message = callback_message(events, events[-1])
    now = datetime.now(UTC)
    plus_two = now.astimezone(timezone(timedelta(hours=2)))

    assert signed_headers(webhook, message, plus_two) == signed_headers(webhook, message, now)
    assert webhook.verify(message.body, signed_headers(webhook, message, plus_two))


@pytest.mark.parametrize("code", [200, 201, 202, 204, 299])
def test_a_2xx_answer_is_delivered(code):
    assert _settle(httpx.Response(code)) == code


@pytest.mark.parametrize("code", [408, 429, 500, 502, 503, 504])
def test_408_429_and_5xx_are_tried_again(code):
    with pytest.raises(Retryable, match=f"answered {code}"):
        _settle(httpx.Response(code))


@pytest.mark.parametrize("code", [301, 302, 400, 401, 403, 404, 410, 422])
def test_other_answers_give_up_at_once(code):
    with pytest.raises(GiveUp, match=f"answered {code}"):
        _settle(httpx.Response(code))


def test_a_retry_after_in_seconds_is_kept_and_a_date_is_ignored():
    with pytest.raises(Retryable) as seconds:
        _settle(httpx.Response(429, headers={"Retry-After": "3"}))
    assert seconds.value.retry_after == 3.0
    with pytest.raises(Retryable) as date:
        _settle(httpx.Response(503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}))
    assert date.value.retry_after is None


def test_settings_take_a_whsec_secret_and_a_comma_separated_allow_list(monkeypatch):
    secret = new_secret()
    monkeypatch.setenv("AGENTLOG_WORKER_CALLBACK_SECRET", secret)
    monkeypatch.setenv("AGENTLOG_WORKER_CALLBACK_ALLOW_HOSTS", "Hooks.Internal., 127.0.0.1,[::1]")

    settings = DelegationSettings()  # type: ignore[call-arg]  # from the environment

    assert settings.worker_callback_secret.get_secret_value() == secret
    assert secret not in repr(settings)
    assert settings.worker_callback_allow_hosts == ["hooks.internal", "127.0.0.1", "::1"]


@pytest.mark.parametrize(
    ("secret", "reason"),
    [
        ("c2VjcmV0", "starts with 'whsec_'"),
        ("whsec_not base64!", "is base64"),
        ("whsec_c2hvcnQ=", "24 to 64 bytes, this one 5"),
    ],
)
def test_a_bad_secret_is_refused_saying_why(monkeypatch, secret, reason):
    monkeypatch.setenv("AGENTLOG_WORKER_CALLBACK_SECRET", secret)
    with pytest.raises(ValidationError, match=reason):
        DelegationSettings()  # type: ignore[call-arg]  # from the environment


def test_without_a_secret_the_worker_does_not_start(monkeypatch):
    monkeypatch.delenv("AGENTLOG_WORKER_CALLBACK_SECRET", raising=False)
    with pytest.raises(ValidationError, match="worker_callback_secret"):
        DelegationSettings()  # type: ignore[call-arg]  # from the environment


async def test_a_public_target_is_pinned_to_the_address_judged_with_its_name_kept_for_host_and_sni():
    target = await pin("https://93.184.216.34:8443/hooks?x=1", [], ALLOW_HOSTS_SETTING, 2.0)

    assert str(target.url) == "https://93.184.216.34:8443/hooks?x=1"
    assert target.headers == {"host": "93.184.216.34:8443"}
    assert target.extensions == {"sni_hostname": "93.184.216.34"}


async def test_a_loopback_or_private_target_is_refused_naming_the_workers_allow_list():
    for url in ("http://127.0.0.1:9/x", "http://[::1]/x", "http://10.1.2.3/x", "http://169.254.169.254/latest"):
        with pytest.raises(InvalidCommand, match="AGENTLOG_WORKER_CALLBACK_ALLOW_HOSTS") as refused:
            await pin(url, [], ALLOW_HOSTS_SETTING, 2.0)
        assert refused.value.field == "callback_url"


async def test_an_allow_listed_host_is_connected_to_by_name():
    target = await pin("http://hooks.internal:8080/x", ["hooks.internal"], ALLOW_HOSTS_SETTING, 2.0)

    assert (str(target.url), target.headers, target.extensions) == ("http://hooks.internal:8080/x", {}, {})


async def test_a_host_that_resolves_to_nothing_now_is_worth_another_attempt():
    with pytest.raises(Unreachable):
        await pin(f"https://{uuid.uuid4().hex}.invalid/x", [], ALLOW_HOSTS_SETTING, 2.0)
