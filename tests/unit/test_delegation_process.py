"""The supervised delegation worker's signing secret: the operator's when set, else one made once and kept."""

from __future__ import annotations

import stat

from standardwebhooks import Webhook

from stack.apps import SUPERVISED, DelegationProcess
from stack.config import StackSettings
from workers.delegation.settings import new_secret


def process(tmp_path) -> DelegationProcess:
    app = DelegationProcess(StackSettings(home=tmp_path / "home", cache=tmp_path / "cache"))
    app.prepare()
    return app


def test_without_a_secret_in_the_environment_one_is_made_once_kept_private_and_reused(tmp_path, monkeypatch):
    monkeypatch.delenv("AGENTLOG_WORKER_CALLBACK_SECRET", raising=False)
    app = process(tmp_path)

    first = app.environment()["AGENTLOG_WORKER_CALLBACK_SECRET"]
    again = process(tmp_path).environment()["AGENTLOG_WORKER_CALLBACK_SECRET"]

    assert first == again
    Webhook(first)
    kept = app.data_dir / "callback-secret"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert DelegationProcess in SUPERVISED
    assert app.command()[-2:] == ["worker", "delegation"]


def test_the_operators_secret_is_inherited_and_nothing_is_made(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTLOG_WORKER_CALLBACK_SECRET", new_secret())
    app = process(tmp_path)

    assert "AGENTLOG_WORKER_CALLBACK_SECRET" not in app.environment()  # the child inherits the operator's
    assert not (app.data_dir / "callback-secret").exists()
