"""Fetching from Maven Central: a failed download is one clear error and leaves no half folder."""

from __future__ import annotations

import pytest

from stack import StackError, install


def test_an_artifact_that_does_not_exist_is_a_named_download_error(tmp_path):
    artifact = "io.agentlog.missing:no-such-artifact:0.0.1:tar.gz:all"

    def fill(into):
        install.maven(
            [
                "org.apache.maven.plugins:maven-dependency-plugin:3.6.1:unpack",
                f"-Dartifact={artifact}",
                f"-DoutputDirectory={into}",
            ],
            artifact,
        )

    with pytest.raises(StackError) as error:
        install.fetch_once(tmp_path / "missing", fill)

    assert error.value.cause.startswith(f"could not download {artifact}: ")
    assert "no-such-artifact" in error.value.cause
    assert list(tmp_path.iterdir()) == []
