"""`agentlog worker conversation` as its own OS process, SIGKILLed mid-reply and started again: one reply."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter

from tests.conftest import registered_codec
from tests.support.api import eventually, running_api
from tests.support.conversation import events, post, wait_for_reply
from workers.conversation.deterministic import ABOUT, DeterministicResponder
from workers.conversation.responder import Turn


def start_worker(api, codec, servers, log) -> subprocess.Popen:
    env = {
        **os.environ,
        "POSTGRES_DSN": api.settings.postgres_dsn,
        "KAFKA_BOOTSTRAP_SERVERS": servers.kafka_bootstrap_servers,
        "SCHEMA_REGISTRY_URL": servers.schema_registry_url,
        "AGENTLOG_DB_SCHEMA": api.settings.db_schema,
        "AGENTLOG_TOPIC_PREFIX": codec.routing.prefix,
        "AGENTLOG_CONVERSATION_CHUNK_DELAY": "0.2",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", "worker", "conversation"], env=env, stdout=log, stderr=log
    )


def test_a_worker_killed_mid_reply_finishes_it_after_a_restart_with_exactly_one_reply(servers, registry, tmp_path):
    log = (tmp_path / "worker.log").open("w")
    with registered_codec(servers, registry) as codec, running_api(servers, codec) as api:
        _, headers = api.tenant()
        worker = start_worker(api, codec, servers, log)
        try:
            with api.client() as client:
                session = post(client, headers, "Hello there").json()["session_id"]

                def chunks() -> list[dict]:
                    return [e for e in events(client, headers, session) if e["event_type"].endswith("Chunk")]

                eventually(lambda: len(chunks()) >= 2, timeout=60, every=0.02)
                worker.send_signal(signal.SIGKILL)
                worker.wait(10)
                said_before = len(chunks())
                assert said_before < len(ABOUT.split()), "the reply ended before the kill"
                time.sleep(0.5)
                worker = start_worker(api, codec, servers, log)

                [reply] = wait_for_reply(client, headers, session, timeout=90)
                assert reply["text"] == ABOUT
                indices = Counter(c["data"]["index"] for c in chunks())
                assert sorted(indices) == list(range(len(indices))) and set(indices.values()) == {1}
                assert "".join(c["data"]["text"] for c in sorted(chunks(), key=lambda c: c["data"]["index"])) == ABOUT
                budgets = eventually(lambda: client.get("/v1/budgets", headers=headers).json()["items"], 20)
                time.sleep(1)
                assert len(wait_for_reply(client, headers, session)) == 1
                once = DeterministicResponder().estimate([Turn("user", "Hello there")])
                assert (budgets[0]["persona_id"], budgets[0]["used"]) == ("default", once)  # charged once
        finally:
            worker.kill()
            worker.wait(10)
            log.close()
