"""The launcher's Kafka cluster settings, node properties and formatting checks, without starting a node."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from stack import Stack, StackError, StackSettings, kafka_quorum
from stack.kafka import Kafka


@pytest.fixture
def cluster(tmp_path: Path) -> StackSettings:
    return StackSettings(home=tmp_path / "home", cache=tmp_path / "cache", kafka_brokers=3)


def props(node: Kafka) -> dict[str, str]:
    return dict(line.split("=", 1) for line in node._properties().splitlines())


def test_three_brokers_are_three_nodes_on_their_own_ports_all_in_the_bootstrap_servers(cluster):
    nodes = [server for server in Stack(cluster).backing if isinstance(server, Kafka)]
    assert [node.name for node in nodes] == ["kafka", "kafka-2", "kafka-3"]
    assert [node.address for node in nodes] == ["127.0.0.1:19092", "127.0.0.1:19094", "127.0.0.1:19096"]
    assert len({node.data_dir for node in nodes} | {node.log_file for node in nodes}) == 6
    assert cluster.endpoints().kafka_bootstrap_servers == "127.0.0.1:19092,127.0.0.1:19094,127.0.0.1:19096"


def test_one_broker_stays_the_single_node_it_was(tmp_path):
    settings = StackSettings(home=tmp_path)
    (node,) = [server for server in Stack(settings).backing if isinstance(server, Kafka)]
    assert (node.name, node.address, node.data_dir.name) == ("kafka", "127.0.0.1:19092", "kafka")
    assert settings.endpoints().kafka_bootstrap_servers == "127.0.0.1:19092"
    assert "default.replication.factor" not in props(node)


def test_each_node_of_three_votes_replicates_on_three_and_acknowledges_on_two(cluster):
    second = props(Kafka(cluster, 2))
    assert second["node.id"] == "2"
    assert second["listeners"] == "PLAINTEXT://127.0.0.1:19094,CONTROLLER://127.0.0.1:19095"
    assert second["controller.quorum.bootstrap.servers"] == "127.0.0.1:19093,127.0.0.1:19095,127.0.0.1:19097"
    assert second["default.replication.factor"] == second["offsets.topic.replication.factor"] == "3"
    assert second["min.insync.replicas"] == second["transaction.state.log.min.isr"] == "2"


@pytest.mark.parametrize(
    ("settings", "why"),
    [
        ({"kafka_brokers": 2}, "survives no broker failure"),
        ({"kafka_brokers": 6}, "less than or equal to 5"),
        ({"kafka_brokers": 5}, "would listen on 19100"),  # node 5's port is the projections' metrics port
        ({"kafka_brokers": 3, "kafka_controller_port": 19094}, "would listen on 19094"),
    ],
)
def test_a_cluster_that_cannot_work_is_refused_at_once(settings, why):
    with pytest.raises(ValidationError, match=why):
        StackSettings(**settings)


def test_all_nodes_share_one_cluster_id_and_voter_list(cluster):
    first, again = kafka_quorum.quorum(cluster), kafka_quorum.quorum(cluster)
    assert first == again
    voters = first.initial_controllers(cluster).split(",")
    endpoints = [voter.rsplit(":", 1)[0] for voter in voters]
    assert endpoints == ["1@127.0.0.1:19093", "2@127.0.0.1:19095", "3@127.0.0.1:19097"]
    assert len({first.cluster_id, *first.directories.values()}) == 4


def test_data_formatted_for_another_number_of_nodes_is_refused_with_the_way_out(cluster, tmp_path):
    single = StackSettings(home=cluster.home)
    (single.data / "kafka" / "log").mkdir(parents=True)
    (single.data / "kafka" / "log" / "meta.properties").write_text("node.id=1\n")
    kafka_quorum.check(single)
    with pytest.raises(StackError) as error:
        kafka_quorum.check(cluster)
    assert "formatted for 1 node(s), not AGENTLOG_KAFKA_BROKERS=3" in error.value.cause
    assert "AGENTLOG_KAFKA_BROKERS=1" in error.value.fix
