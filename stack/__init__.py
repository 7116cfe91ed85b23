"""Launcher for agentlog's real local servers: Postgres, Redis, Kafka and the schema registry."""

from stack.config import Endpoints, StackSettings
from stack.errors import StackError
from stack.stack import Stack

__all__ = ["Endpoints", "Stack", "StackError", "StackSettings"]
