"""Private Apache Kafka 4.x from Maven Central jars: KRaft nodes, each a broker and a controller (one, or a cluster)."""

from __future__ import annotations

import logging
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from stack import install, kafka_quorum, process
from stack.config import StackSettings
from stack.server import Server

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>agentlog.local</groupId><artifactId>kafka-runtime</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencyManagement><dependencies><dependency>
    <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-bom</artifactId>
    <version>{log4j}</version><type>pom</type><scope>import</scope>
  </dependency></dependencies></dependencyManagement>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{kafka}</version></dependency>
    <!-- Kafka's POM leaves out the SLF4J binding; without it the broker logs nothing -->
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId>
    </dependency>
  </dependencies>
</project>
"""

_LOG4J = """Configuration:
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Logger:
      - name: kafka.request.logger
        level: WARN
    Root:
      level: INFO
      AppenderRef:
        - ref: STDOUT
"""

_quiet = logging.getLogger("agentlog.stack.kafka")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False


class Kafka(Server):
    """KRaft node `node` of AGENTLOG_KAFKA_BROKERS: node 1 is `kafka` (the one node by default), further
    nodes of a cluster are `kafka-2`, `kafka-3`, ... with their own ports, data, log and pid file."""

    def __init__(self, settings: StackSettings, node: int = 1) -> None:
        super().__init__(settings)
        self.node = node
        self.name = "kafka" if node == 1 else f"kafka-{node}"

    @property
    def port(self) -> int:
        return self.settings.kafka_node_ports(self.node)[0]

    @property
    def more_ports(self) -> dict[str, int]:
        return {"kafka_controller": self.settings.kafka_node_ports(self.node)[1]}

    @property
    def port_settings(self) -> dict[str, int]:
        # every node's ports move with AGENTLOG_KAFKA_PORT and AGENTLOG_KAFKA_CONTROLLER_PORT
        return {"kafka": self.port, **self.more_ports}

    @property
    def libs(self) -> Path:
        return self.settings.cache / f"kafka-{self.settings.kafka_version}" / "libs"

    def prepare(self) -> None:
        self.java = install.find_java(17, self.settings.java_home, "Kafka")
        install.fetch_once(self.libs.parent, self._download)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "server.properties").write_text(self._properties())
        (self.data_dir / "log4j2.yaml").write_text(_LOG4J)
        kafka_quorum.check(self.settings)
        if not (self.data_dir / "log" / "meta.properties").exists():
            self._format()

    def _download(self, into: Path) -> None:
        pom = into / "pom.xml"
        pom.write_text(_POM.format(kafka=self.settings.kafka_version, log4j=self.settings.log4j_version))
        install.maven(
            [
                "-f",
                str(pom),
                "org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={into / 'libs'}",
            ],
            f"org.apache.kafka:kafka_2.13:{self.settings.kafka_version}",
        )

    def _properties(self) -> str:
        port, controller = self.settings.kafka_node_ports(self.node)
        nodes = range(1, self.settings.kafka_brokers + 1)
        props = {
            "process.roles": "broker,controller",
            "node.id": str(self.node),
            "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "controller.quorum.bootstrap.servers": ",".join(
                f"127.0.0.1:{self.settings.kafka_node_ports(n)[1]}" for n in nodes
            ),
            "log.dirs": str(self.data_dir / "log"),
            "num.partitions": "1",
            "group.initial.rebalance.delay.ms": "0",
            **self._replication(),
        }
        return "".join(f"{key}={value}\n" for key, value in props.items())

    def _replication(self) -> dict[str, str]:
        """Every topic on min(3, nodes) replicas, and a write (acks=all) acknowledged by two of three: one
        node may stop without losing an acknowledged record or refusing writes. The topics agentlog
        creates take these broker defaults (contracts/topics.py), Kafka's internal topics their own."""
        replicas = min(3, self.settings.kafka_brokers)
        in_sync = str(min(2, replicas))
        internal = ("offsets.topic", "transaction.state.log", "share.coordinator.state.topic")
        props = {f"{topic}.replication.factor": str(replicas) for topic in internal}
        props |= {f"{topic}.min.isr": in_sync for topic in internal if topic != "offsets.topic"}  # no such key
        if self.settings.kafka_brokers > 1:
            props |= {
                "default.replication.factor": str(replicas),
                "min.insync.replicas": in_sync,
                # a killed node is fenced (its partitions led elsewhere, it leaves their ISR) within 6 s, not 9
                "broker.session.timeout.ms": "6000",
                "broker.heartbeat.interval.ms": "1000",
            }
        return props

    def _format(self) -> None:
        if self.settings.kafka_brokers == 1:
            cluster_id, voters = kafka_quorum.kafka_uuid(), ["--standalone"]
        else:  # every node formatted with the same voters: the quorum elects a leader once a majority runs
            shared = kafka_quorum.quorum(self.settings)
            cluster_id, voters = shared.cluster_id, ["--initial-controllers", shared.initial_controllers(self.settings)]
        install.run_java(
            self.java,
            self.libs,
            [
                "kafka.tools.StorageTool",
                "format",
                *voters,
                "--ignore-formatted",
                "-t",
                cluster_id,
                "-c",
                str(self.data_dir / "server.properties"),
            ],
            "formatting Kafka's log folder",
        )

    def command(self) -> list[str]:
        heap = self.settings.kafka_heap
        return [
            str(self.java),
            f"-Xms{heap}",
            f"-Xmx{heap}",
            "-XX:+UseG1GC",
            f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.yaml'}",
            "-cp",
            f"{self.libs}/*",
            "kafka.Kafka",
            str(self.data_dir / "server.properties"),
        ]

    def healthy(self) -> bool:
        if not process.port_open(self.port):
            return False
        admin = AdminClient({"bootstrap.servers": self.address}, logger=_quiet)
        try:  # a node of a cluster is ready once the cluster lists it as a broker
            return self.node in admin.list_topics(timeout=5).brokers
        except KafkaException:
            return False

    def version(self) -> str:
        return self.settings.kafka_version
