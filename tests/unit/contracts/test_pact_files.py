"""The pact files under contracts/pacts/: who each is between and how many interactions of each kind it holds."""

from __future__ import annotations

import json

import pytest

from contracts.pact_files import pact_files, read_pact


def write(path, body) -> None:
    path.write_text(json.dumps(body))


def test_a_v4_pact_counts_its_interactions_by_kind(tmp_path):
    pact = tmp_path / "web-api.json"
    interactions = [{"type": "Synchronous/HTTP"}] * 3 + [{"type": "Asynchronous/Messages"}, {}]
    write(pact, {"consumer": {"name": "web"}, "provider": {"name": "api"}, "interactions": interactions})
    found = read_pact(pact)
    assert (found.path, found.consumer, found.provider) == (pact, "web", "api")
    assert found.kinds == {"Synchronous/HTTP": 3, "Asynchronous/Messages": 2}  # no type: a message
    assert found.interactions == 5


def test_a_v3_message_pact_counts_its_messages(tmp_path):
    pact = tmp_path / "views-relay.json"
    write(pact, {"consumer": {"name": "views"}, "provider": {"name": "relay"}, "messages": [{}, {}]})
    assert read_pact(pact).kinds == {"Asynchronous/Messages": 2}


def test_a_pact_without_interactions_holds_none(tmp_path):
    pact = tmp_path / "a-b.json"
    write(pact, {"consumer": {"name": "a"}, "provider": {"name": "b"}, "interactions": []})
    assert read_pact(pact).interactions == 0


@pytest.mark.parametrize(
    "text", ["not json", "[]", '{"consumer": {"name": "a"}}', '{"consumer": "a", "provider": "b"}',
             '{"consumer": {"name": "a"}, "provider": {"name": "b"}, "interactions": [1]}']
)  # fmt: skip
def test_a_file_that_is_not_a_pact_is_named(tmp_path, text):
    path = tmp_path / "broken.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=r"^broken\.json is not a pact file: "):
        read_pact(path)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"^gone\.json is not a pact file: "):
        read_pact(tmp_path / "gone.json")


def test_the_project_pacts_are_listed_by_file_name_with_their_parties():
    found = pact_files()
    assert [p.path.name for p in found] == sorted(p.path.name for p in found)
    assert {(p.consumer, p.provider) for p in found} >= {("agentlog-client", "agentlog-api")}
    assert all(p.interactions > 0 for p in found)


def test_only_json_files_in_a_folder_are_pacts(tmp_path):
    write(tmp_path / "b-c.json", {"consumer": {"name": "b"}, "provider": {"name": "c"}, "interactions": []})
    write(tmp_path / "a-b.json", {"consumer": {"name": "a"}, "provider": {"name": "b"}, "interactions": []})
    (tmp_path / "README.md").write_text("not a pact")
    assert [p.consumer for p in pact_files(tmp_path)] == ["a", "b"]
