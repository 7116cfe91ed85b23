"""Events as message pacts carry them: JSON content, and back to what the codec gives each consumer."""

from __future__ import annotations

import copy
import dataclasses
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import cast

import pytest

from contracts.convert import to_record
from contracts.messages import decode_content, description, parse_description, read_content, to_content
from domain.budget.events import TokensConsumed
from domain.session.events import Attachment, MessagePosted
from tests.support.message_pacts import recorded_samples

AT = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
RECORDED = recorded_samples()


def test_a_description_names_the_event_type_and_topic_and_parses_back():
    text = description("agentlog.session.MessagePosted", "conversation.outbound")
    assert text == "agentlog.session.MessagePosted on conversation.outbound"
    assert parse_description(text) == ("agentlog.session.MessagePosted", "conversation.outbound")


@pytest.mark.parametrize(
    "text", ["agentlog.session.MessagePosted", "agentlog.session.Nope on inbound", "agentlog.session.MessagePosted on "]
)
def test_a_description_that_names_no_event_type_and_topic_is_refused_quoting_it(text):
    with pytest.raises(ValueError, match="does not name an agentlog event type and topic") as refused:
        parse_description(text)
    assert repr(text) in str(refused.value)


def test_content_is_json_ids_as_text_times_as_epoch_millis_dates_and_decimals_as_text():
    content = to_content(
        {"id": uuid.UUID(int=7), "at": AT, "day": date(2026, 1, 2), "cost": Decimal("1.50"),
         "nested": {"ids": [uuid.UUID(int=8)], "pair": (1, "a")}, "n": 3, "none": None}
    )  # fmt: skip
    assert content == {
        "id": str(uuid.UUID(int=7)),
        "at": 1_767_323_045_678,
        "day": "2026-01-02",
        "cost": "1.50",
        "nested": {"ids": [str(uuid.UUID(int=8))], "pair": [1, "a"]},
        "n": 3,
        "none": None,
    }
    assert datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=content["at"]) == AT


@pytest.mark.parametrize("recorded", RECORDED, ids=lambda r: r.event.type_name())
def test_every_event_decodes_from_its_content_to_itself(recorded):
    assert decode_content(recorded.event.type_name(), to_content(to_record(recorded))) == recorded


def test_read_content_parses_dates_and_decimals_and_leaves_ids_and_times_as_written():
    consumed = next(r for r in RECORDED if r.event.type_name() == "agentlog.budget.TokensConsumed")
    content, event = to_content(to_record(consumed)), cast(TokensConsumed, consumed.event)
    read = read_content("agentlog.budget.TokensConsumed", content)
    assert isinstance(read["day"], date) and read["day"] == event.day
    assert isinstance(read["cost_usd"], Decimal) and read["cost_usd"] == event.cost_usd
    assert read["meta"]["event_id"] == str(consumed.meta.event_id)
    assert read["meta"]["occurred_at"] == content["meta"]["occurred_at"]
    assert content["day"] == event.day.isoformat()  # the content itself is left as it was


@pytest.mark.parametrize(
    "recorded", [r for r in RECORDED if "budget" not in r.event.type_name()], ids=lambda r: r.event.type_name()
)
def test_content_without_dates_or_decimals_reads_as_it_is_lists_and_maps_included(recorded):
    content = to_content(to_record(recorded))
    assert read_content(recorded.event.type_name(), content) == content


def test_a_message_with_attachments_and_metadata_round_trips_and_its_content_is_not_changed():
    posted = next(r for r in RECORDED if isinstance(r.event, MessagePosted))
    attachment = Attachment(
        name="q3.pdf", media_type="application/pdf", url="https://files.example/q3.pdf", size_bytes=9
    )
    recorded = dataclasses.replace(
        posted,
        event=dataclasses.replace(cast(MessagePosted, posted.event), attachments=(attachment,), metadata={"k": "v"}),
    )
    content = to_content(to_record(recorded))
    before = copy.deepcopy(content)
    assert read_content("agentlog.session.MessagePosted", content) == content
    assert decode_content("agentlog.session.MessagePosted", content) == recorded
    assert content == before
