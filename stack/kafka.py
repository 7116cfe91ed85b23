"""Private Apache Kafka 4.x broker (KRaft, one combined node) from Maven Central jars."""

from __future__ import annotations

import base64
import logging
import uuid
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from stack import install, process
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
    name = "kafka"

    @property
    def port(self) -> int:
        return self.settings.kafka_port

    @property
    def more_ports(self) -> dict[str, int]:
        return {"kafka_controller": self.settings.kafka_controller_port}

    @property
    def libs(self) -> Path:
        return self.settings.cache / f"kafka-{self.settings.kafka_version}" / "libs"

    def prepare(self) -> None:
        self.java = install.find_java(17, self.settings.java_home, "Kafka")
        install.fetch_once(self.libs.parent, self._download)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "server.properties").write_text(self._properties())
        (self.data_dir / "log4j2.yaml").write_text(_LOG4J)
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
        port, controller = self.port, self.settings.kafka_controller_port
        single_replica = {
            f"{topic}.{key}": "1"
            for topic in ("offsets.topic", "transaction.state.log", "share.coordinator.state.topic")
            for key in ("replication.factor", "min.isr")
        }
        del single_replica["offsets.topic.min.isr"]
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "controller.quorum.bootstrap.servers": f"127.0.0.1:{controller}",
            "log.dirs": str(self.data_dir / "log"),
            "num.partitions": "1",
            "group.initial.rebalance.delay.ms": "0",
            **single_replica,
        }
        return "".join(f"{key}={value}\n" for key, value in props.items())

    def _format(self) -> None:
        cluster_id = "-"
        while cluster_id.startswith("-"):  # as Kafka's Uuid.randomUuid: a leading "-" reads as a flag
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        install.run_java(
            self.java,
            self.libs,
            [
                "kafka.tools.StorageTool",
                "format",
                "--standalone",
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
        try:
            admin.list_topics(timeout=5)
            return True
        except KafkaException:
            return False

    def version(self) -> str:
        return self.settings.kafka_version
