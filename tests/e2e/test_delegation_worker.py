"""`agentlog worker delegation`'s signing secret: the worker refuses to start without one, and `callback-secret`
makes one the receivers' library reads. (The signed callback itself: tests/e2e/test_agent_runtime.py.)"""

from __future__ import annotations

from standardwebhooks import Webhook

from tests.support.cli import agentlog, agentlog_process


def test_the_worker_does_not_start_without_a_signing_secret(servers, own_codec):
    env = {**servers.as_env(), "AGENTLOG_TOPIC_PREFIX": own_codec.routing.prefix}

    result = agentlog_process("worker", "delegation", env=env, timeout=60)  # a process: if it starts, it runs on

    assert result.returncode == 2
    assert "AGENTLOG_WORKER_CALLBACK_SECRET" in result.stderr or "worker_callback_secret" in result.stderr


def test_callback_secret_prints_a_secret_the_worker_accepts():
    made = agentlog("worker", "callback-secret")

    assert made.returncode == 0
    secret = made.stdout.strip()
    assert secret.startswith("whsec_")
    Webhook(secret)  # the receiver's library reads it too
