"""What the read-side commands share: view names, the codec and the dead-letter producer from the settings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from confluent_kafka import Producer

from cli.errors import CliError, Exit
from contracts import registry
from contracts.codec import EventCodec
from contracts.routing import Routing
from projections.settings import ProjectionSettings
from projections.views import VIEWS, View

if TYPE_CHECKING:
    from projections.deadletter import DeadLetters

NamesArg = Annotated[list[str] | None, typer.Argument(help=f"views: {', '.join(VIEWS)} (default all)")]
NameArg = Annotated[str, typer.Argument(help=f"one view: {', '.join(VIEWS)}")]


def views_named(names: list[str] | None) -> list[View]:
    """The views named (all when none are), or a usage error naming the unknown ones and the choices."""
    unknown = sorted(set(names or []) - set(VIEWS))
    if unknown:
        raise CliError(f"unknown view(s) {', '.join(unknown)}", f"choose from {', '.join(VIEWS)}", Exit.USAGE)
    return [VIEWS[name] for name in names or VIEWS]


def codec_of(settings: ProjectionSettings) -> EventCodec:
    """The event codec on the settings' registry and topic prefix."""
    return EventCodec(registry.connect(settings.schema_registry_url), Routing(settings.topic_prefix))


def dead_letters_of(settings: ProjectionSettings) -> DeadLetters:
    """Where the views send the events they cannot apply."""
    from projections.deadletter import DeadLetters  # noqa: PLC0415 - the projections pipeline: for commands that feed

    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers, "enable.idempotence": True})
    return DeadLetters(producer, settings.topic_prefix)
