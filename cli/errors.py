"""Turn expected failures (bad settings, launcher errors) into one red line and exit code 1."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import typer
from pydantic import ValidationError

from cli.console import err
from stack import StackError

T = TypeVar("T")


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Report StackError and invalid AGENTLOG_* settings as one line naming cause and fix."""
    try:
        yield
    except StackError as e:
        err.print(f"[red]error:[/red] {e.cause}\n[dim]fix:[/dim] {e.fix}", highlight=False)
        raise typer.Exit(1) from None
    except ValidationError as e:
        for problem in e.errors():
            field = "_".join(str(part) for part in problem["loc"])
            name = field if field.isupper() else f"AGENTLOG_{field.upper()}"  # aliases are the env names
            err.print(
                f"[red]error:[/red] {name}={problem.get('input')!r}: {problem['msg']}",
                highlight=False,
            )
        raise typer.Exit(2) from None


def build(factory: Callable[[], T]) -> T:
    """Build a settings-backed object, reporting bad settings as friendly errors."""
    with friendly_errors():
        return factory()
