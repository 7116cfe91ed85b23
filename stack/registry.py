"""Apicurio Registry 3.x from Maven Central, SQL storage on the private Postgres, ccompat API."""

from __future__ import annotations

from pathlib import Path

import httpx

from observability.http import tls
from stack import install
from stack.config import REPO_ROOT
from stack.errors import StackError
from stack.postgres import REGISTRY_DATABASE
from stack.server import Server

PROPERTIES = REPO_ROOT / "schema-registry" / "apicurio.properties"
CCOMPAT = "/apis/ccompat/v7"


class Registry(Server):
    name = "registry"

    @property
    def port(self) -> int:
        return self.settings.registry_port

    @property
    def more_ports(self) -> dict[str, int]:
        return {"registry_management": self.settings.registry_management_port}

    @property
    def app(self) -> Path:
        return self.settings.cache / f"apicurio-registry-{self.settings.registry_version}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def prepare(self) -> None:
        # Apicurio 3.3 is built for Java 21 (class file 65); Kafka's Java 17 cannot run it.
        self.java = install.find_java(21, self.settings.registry_java_home, "Apicurio Registry")
        install.fetch_once(self.app, self._download)
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def _download(self, into: Path) -> None:
        artifact = f"io.apicurio:apicurio-registry-app:{self.settings.registry_version}:tar.gz:all"
        install.maven(
            [
                "org.apache.maven.plugins:maven-dependency-plugin:3.6.1:unpack",
                f"-Dartifact={artifact}",
                f"-DoutputDirectory={into}",
            ],
            artifact,
        )

    def command(self) -> list[str]:
        props = {
            "quarkus.http.host": "127.0.0.1",
            "quarkus.http.port": str(self.port),
            "quarkus.management.host": "127.0.0.1",
            "quarkus.management.port": str(self.settings.registry_management_port),
            "apicurio.datasource.url": f"jdbc:postgresql://127.0.0.1:{self.settings.postgres_port}/{REGISTRY_DATABASE}",
            # marks the command line as this stack's (see Server.pid)
            "agentlog.data": str(self.data_dir),
        }
        flags = [f"-D{key}={value}" for key, value in props.items()]
        return [
            str(self.java),
            f"-Xmx{self.settings.registry_heap}",
            "-XX:+UseSerialGC",
            # the quick compiler only: a start took 4.4 CPU-s instead of 11.4 (5.3 s instead of 6.7), and a test's
            # 27 subjects cost it no more than C2's warmed code did; clients cache schemas, so it is never hot
            "-XX:TieredStopAtLevel=1",
            f"-Dquarkus.config.locations={PROPERTIES}",
            *flags,
            "-jar",
            str(self.app / "quarkus-run.jar"),
        ]

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}{CCOMPAT}/subjects", timeout=2, verify=tls()).status_code == 200
        except httpx.HTTPError:
            return False

    def version(self) -> str:
        info = httpx.get(f"{self.url}/apis/registry/v3/system/info", timeout=2, verify=tls()).json()
        return str(info.get("version", "?"))

    def after_ready(self) -> None:
        """Subjects without a level of their own get BACKWARD_TRANSITIVE (the house default);
        the event contracts are registered (new or changed ones only)."""
        # imported here, not at the top: the registry client (it loads authlib) was 0.15 s of every `agentlog stack`
        # command's start (`stack logs`: 0.64 -> 0.48 CPU-s)
        from confluent_kafka.schema_registry import SchemaRegistryClient  # noqa: PLC0415

        from contracts import registry as contracts_registry  # noqa: PLC0415
        from contracts.errors import ContractError  # noqa: PLC0415
        from contracts.routing import Routing  # noqa: PLC0415

        level = {"compatibility": "BACKWARD_TRANSITIVE"}
        httpx.put(f"{self.url}{CCOMPAT}/config", json=level, timeout=5, verify=tls()).raise_for_status()
        client = SchemaRegistryClient({"url": f"{self.url}{CCOMPAT}"})
        try:
            contracts_registry.register(client, contracts_registry.check(client, Routing(self.settings.topic_prefix)))
        except ContractError as e:
            raise StackError(
                f"the event contracts do not fit the registry: {e}",
                "see `agentlog contracts check` and docs/contracts.md",
            ) from e
