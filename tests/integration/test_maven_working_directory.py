"""The launcher's Maven downloads write nothing in the directory `agentlog stack up` runs from."""

from __future__ import annotations

from stack import install
from stack.config import StackSettings


def test_unpacking_an_artifact_leaves_the_working_directory_as_it_was(tmp_path, monkeypatch):
    version = StackSettings().log4j_version  # a small jar the Kafka download normally put in ~/.m2 already
    workdir, into = tmp_path / "where-stack-up-runs", tmp_path / "unpacked"
    workdir.mkdir()
    monkeypatch.chdir(workdir)

    install.maven(
        [
            "org.apache.maven.plugins:maven-dependency-plugin:3.6.1:unpack",
            f"-Dartifact=org.apache.logging.log4j:log4j-slf4j-impl:{version}:jar",
            f"-DoutputDirectory={into}",
        ],
        "log4j-slf4j-impl",
    )

    assert list(into.rglob("*.class"))  # the goal did its work
    assert list(workdir.iterdir()) == []  # and left no ${project.basedir}/ behind
