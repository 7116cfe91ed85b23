"""Which of Kafka's answers a progress measurement asks again (contracts/lag.py), and which it gives up on."""

from __future__ import annotations

import pytest
import stamina
from confluent_kafka import KafkaError, KafkaException

from contracts.lag import asked_again


@pytest.fixture(autouse=True)
def no_waits():
    stamina.set_testing(True, attempts=5)
    yield
    stamina.set_testing(False)


def answering(*codes: int) -> list[int]:
    """A request answered with each error of `codes` in turn, then with the offset 7; the calls made."""
    calls: list[int] = []

    @asked_again
    def request() -> int:
        calls.append(len(calls))
        if len(calls) <= len(codes):
            raise KafkaException(KafkaError(codes[len(calls) - 1]))
        return 7

    assert request() == 7
    return calls


@pytest.mark.parametrize(
    "code",
    [
        KafkaError.NOT_LEADER_FOR_PARTITION,  # a topic just created, a leader killed
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.NOT_COORDINATOR,  # a Kafka just started: its offsets topic being made
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    ],
)
def test_a_leader_or_coordinator_on_the_move_is_asked_again(code):
    assert len(answering(code, code)) == 3


@pytest.mark.parametrize("code", [KafkaError._TRANSPORT, KafkaError._TIMED_OUT, KafkaError.UNKNOWN_TOPIC_OR_PART])
def test_a_kafka_that_does_not_answer_is_not(code):
    with pytest.raises(KafkaException):
        answering(code)


@pytest.mark.parametrize("error", [KafkaException("no KafkaError inside"), KafkaException(), ValueError()])
def test_an_error_without_a_kafka_code_is_not(error):
    @asked_again
    def request() -> int:
        raise error

    with pytest.raises(type(error)):
        request()
