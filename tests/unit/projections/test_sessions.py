"""The sessions view: each tenant's sessions by last activity, status and message count."""

from __future__ import annotations

import uuid

from domain.session.events import MessagePosted, Role, SessionClosed, SessionStarted
from projections.views import VIEWS, Keys
from tests.unit.projections.model import Folded, millis, recorded


def session_events(session: uuid.UUID, tenant: str = "acme") -> list:
    return [
        recorded(SessionStarted(session_id=session, tenant_id=tenant, persona_id="helper"), session, 1, tenant, 0),
        recorded(
            MessagePosted(session_id=session, message_id=uuid.uuid4(), role=Role.USER, text="hi"), session, 2, tenant, 1
        ),
        recorded(
            MessagePosted(session_id=session, message_id=uuid.uuid4(), role=Role.ASSISTANT, text="hello"),
            session,
            3,
            tenant,
            2,
        ),
        recorded(SessionClosed(session_id=session, reason="done"), session, 4, tenant, 3),
    ]


def folded(*events) -> Folded:
    return Folded(VIEWS["sessions"], Keys("p:", "sessions")).fold(events)


def test_a_session_shows_its_tenant_persona_status_message_count_and_times():
    session = uuid.uuid4()
    started, hi, hello, closed = session_events(session)

    assert folded(started, hi, hello)("session", session) == {
        "_version": "3",
        "tenant_id": "acme",
        "persona_id": "helper",
        "status": "open",
        "messages": "2",
        "started_at": str(millis(0)),
        "last_activity": str(millis(2)),
    }
    view = folded(started, hi, hello, closed)
    assert view("session", session)["status"] == "closed"
    assert view("session", session)["closed_at"] == view("session", session)["last_activity"] == str(millis(3))


def test_a_tenants_sessions_are_listed_by_last_activity():
    first, second = uuid.uuid4(), uuid.uuid4()
    view = folded(*session_events(first)[:2], *session_events(second)[:1])

    assert view("by-tenant", "acme") == {str(first): millis(1), str(second): millis(0)}
    assert folded(*session_events(first, "other"))("by-tenant", "acme") is None


def test_the_same_state_whatever_order_the_two_topics_deliver_in():
    """A session's user and assistant messages travel on two topics: their relative order may change."""
    session = uuid.uuid4()
    started, hi, hello, closed = session_events(session)

    in_order = folded(started, hi, hello, closed).state
    assert folded(started, hello, closed, hi).state == in_order
    assert folded(closed, hello, hi, started).state == in_order


def test_a_redelivered_event_changes_nothing():
    session = uuid.uuid4()
    events = session_events(session)

    assert folded(*events, *events).state == folded(*events).state
