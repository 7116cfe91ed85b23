"""The launcher's Maven downloads write nothing in the directory `agentlog stack up` runs from."""

from __future__ import annotations

from pathlib import Path

import pytest

from stack import install
from stack.config import StackSettings


def test_unpacking_an_artifact_leaves_the_working_directory_as_it_was(tmp_path, monkeypatch):
    version = StackSettings().log4j_version  # a small jar the Kafka download already put in ~/.m2
    cached = Path.home() / ".m2/repository/org/apache/logging/log4j/log4j-slf4j-impl" / version
    if not list(cached.glob("*.jar")):
        pytest.skip(f"log4j-slf4j-impl {version} is not in ~/.m2 yet (`agentlog stack up` puts it there)")
    workdir, into = tmp_path / "where-stack-up-runs", tmp_path / "unpacked"
    workdir.mkdir()
    monkeypatch.chdir(workdir)

    install.maven(
        [
            "-o",  # offline: the artifact comes from ~/.m2, nothing is downloaded
            "org.apache.maven.plugins:maven-dependency-plugin:3.6.1:unpack",
            f"-Dartifact=org.apache.logging.log4j:log4j-slf4j-impl:{version}:jar",
            f"-DoutputDirectory={into}",
        ],
        "log4j-slf4j-impl",
    )

    assert list(into.rglob("*.class"))  # the goal did its work
    assert list(workdir.iterdir()) == []  # and left no ${project.basedir}/ behind
