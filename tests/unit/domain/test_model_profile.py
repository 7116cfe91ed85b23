"""Model profile decisions: set (new, replace, after removal), remove, validation of every setting."""

from __future__ import annotations

import math
from typing import Any

import pytest

from domain.errors import InvalidCommand, NotFound, UnexpectedEvent
from domain.events import DomainEvent
from domain.model_profile import aggregate as model_profile
from domain.model_profile.commands import RemoveModelProfile, SetModelProfile
from domain.model_profile.events import ModelProfileRemoved, ModelProfileSet

ROLE, MODE = "planner", "local"
REMOVE = RemoveModelProfile(role=ROLE, deployment_mode=MODE)


def given(*events: DomainEvent) -> model_profile.ModelProfile | None:
    return model_profile.DECIDER.fold(events)


def profile_set(model: str = "llama-3", temperature: float = 0.2) -> ModelProfileSet:
    return ModelProfileSet(
        role=ROLE,
        deployment_mode=MODE,
        model=model,
        base_url="http://127.0.0.1:11434",
        api_path="/v1/chat/completions",
        temperature=temperature,
        extras={"top_p": "0.9"},
    )


def command(**changes: Any) -> SetModelProfile:
    values = {
        "role": ROLE,
        "deployment_mode": MODE,
        "model": "llama-3",
        "base_url": "http://127.0.0.1:11434",
        "api_path": "/v1/chat/completions",
        "temperature": 0.2,
        "extras": {"top_p": "0.9"},
        **changes,
    }
    return SetModelProfile(**values)


def removed() -> ModelProfileRemoved:
    return ModelProfileRemoved(role=ROLE, deployment_mode=MODE)


def test_setting_a_new_profile():
    events = model_profile.set_profile(given(), command())
    assert events == [profile_set()]
    assert given(*events) == model_profile.ModelProfile(
        role=ROLE,
        deployment_mode=MODE,
        model="llama-3",
        base_url="http://127.0.0.1:11434",
        api_path="/v1/chat/completions",
        temperature=0.2,
        extras={"top_p": "0.9"},
        version=1,
    )


def test_setting_again_replaces_every_setting():
    events = model_profile.set_profile(given(profile_set()), command(model="qwen", extras={}, temperature=1.0))
    state = given(profile_set(), *events)
    assert state is not None
    assert (state.model, state.extras, state.temperature, state.version) == ("qwen", {}, 1.0, 2)


def test_the_extras_are_copied_not_shared():
    extras = {"k": "v"}
    events = model_profile.set_profile(given(), command(extras=extras))
    extras["k"] = "changed"
    assert isinstance(events[0], ModelProfileSet)
    assert events[0].extras == {"k": "v"}


def test_removing_a_profile():
    events = model_profile.remove(given(profile_set()), REMOVE)
    assert events == [removed()]
    state = given(profile_set(), *events)
    assert state is not None
    assert state.removed


@pytest.mark.parametrize("history", [(), (profile_set(), removed())], ids=["never-set", "already-removed"])
def test_removing_a_missing_profile_is_not_found(history):
    with pytest.raises(NotFound) as raised:
        model_profile.remove(given(*history), REMOVE)
    assert (raised.value.stream_type, raised.value.stream_id) == ("model_profile", "model-profile:planner:local")


def test_setting_after_removal_brings_the_profile_back():
    events = model_profile.set_profile(given(profile_set(), removed()), command(model="mistral"))
    state = given(profile_set(), removed(), *events)
    assert state is not None
    assert (state.removed, state.model, state.version) == (False, "mistral", 3)


@pytest.mark.parametrize("temperature", [0.0, 0.7, 2.0])
def test_temperatures_from_zero_to_two_are_accepted(temperature):
    assert model_profile.set_profile(given(), command(temperature=temperature)) == [
        profile_set(temperature=temperature)
    ]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"temperature": -0.01}, "temperature"),
        ({"temperature": 2.01}, "temperature"),
        ({"temperature": math.nan}, "temperature"),
        ({"temperature": math.inf}, "temperature"),
        ({"base_url": "127.0.0.1:11434"}, "base_url"),
        ({"base_url": "grpc://host"}, "base_url"),
        ({"api_path": "v1/chat"}, "api_path"),
        ({"api_path": ""}, "api_path"),
        ({"model": " "}, "model"),
        ({"role": ""}, "role"),
        ({"role": "a:b"}, "role"),
        ({"deployment_mode": " "}, "deployment_mode"),
        ({"deployment_mode": "x:y"}, "deployment_mode"),
        ({"extras": {"k": 1}}, "extras"),
        ({"extras": {2: "v"}}, "extras"),
    ],
)
def test_an_invalid_setting_names_the_field(changes, field):
    with pytest.raises(InvalidCommand) as raised:
        model_profile.set_profile(given(), command(**changes))
    assert raised.value.field == field


def test_a_removal_first_or_twice_is_a_corrupted_stream():
    with pytest.raises(UnexpectedEvent):
        given(removed())
    with pytest.raises(UnexpectedEvent):
        given(profile_set(), removed(), removed())


def test_folding_every_event_counts_them_in_the_version():
    events = [profile_set(), profile_set(model="b"), removed(), profile_set(model="c")]
    state = model_profile.DECIDER.fold(events)
    assert state is not None
    assert state.version == len(events)
    assert model_profile.DECIDER.stream_type == "model_profile"
    assert model_profile.stream_id(ROLE, MODE) == "model-profile:planner:local"
