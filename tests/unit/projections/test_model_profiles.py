"""The model_profiles view: the current profile per role and deployment mode, and which are set."""

from __future__ import annotations

import json

from domain.model_profile.events import ModelProfileRemoved, ModelProfileSet
from projections.views import VIEWS, Keys
from tests.unit.projections.model import Folded, recorded

STREAM = "profile-planner-local"


def folded(*events) -> Folded:
    return Folded(VIEWS["model_profiles"], Keys("p:", "model_profiles")).fold(events)


def profile_set(version: int, model: str, temperature: float = 0.2) -> object:
    event = ModelProfileSet(
        role="planner",
        deployment_mode="local",
        model=model,
        base_url="http://llm",
        api_path="/v1/chat",
        temperature=temperature,
        extras={"top_p": "0.9"},
    )
    return recorded(event, STREAM, version)


def test_the_newest_profile_is_current_with_its_temperature_as_written():
    view = folded(profile_set(1, "small"), profile_set(2, "large", 0.1))

    assert view("profile", "planner", "local") == {
        "_version": "2",
        "tenant_id": "acme",
        "status": "set",
        "model": "large",
        "base_url": "http://llm",
        "api_path": "/v1/chat",
        "temperature": "0.1",
        "extras": json.dumps({"top_p": "0.9"}),
    }
    assert view("all") == {"planner:local"}


def test_a_removed_profile_is_marked_removed_and_leaves_the_set():
    removed = recorded(ModelProfileRemoved(role="planner", deployment_mode="local"), STREAM, 2)
    view = folded(profile_set(1, "small"), removed)

    assert view("profile", "planner", "local")["status"] == "removed"
    assert view("profile", "planner", "local")["model"] == "small"
    assert view("all") is None
