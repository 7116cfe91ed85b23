"""The consoles every command prints to: results on stdout, errors on stderr; JSON for listings.

Off a terminal (CI logs, pipes) tables get 160 columns instead of rich's default 80.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console

out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160, emoji=False)  # ":zero:" in a value stays text
err = Console(stderr=True, soft_wrap=True, emoji=False)

JsonOpt = Annotated[bool, typer.Option("--json", help="print the rows as a JSON array instead of a table")]


def print_json(rows: list[dict[str, Any]]) -> None:
    """The rows as one JSON array on stdout (no colours, no wrapping: for scripts and jq)."""
    sys.stdout.write(json.dumps(rows, indent=2, default=str) + "\n")
    sys.stdout.flush()


@contextmanager
def native_stderr_held() -> Iterator[None]:
    """Hold what C libraries write straight to stderr (librdkafka logs every failed connection there)
    during the block: passed on when it succeeds, dropped when it fails (its one-line error says it)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        succeeded = False
        try:
            yield
            succeeded = True
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            if succeeded:
                held.seek(0)
                os.write(2, held.read())
