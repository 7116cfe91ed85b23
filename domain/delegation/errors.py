"""Errors of a delegation task."""

from __future__ import annotations

from uuid import UUID

from domain.errors import StateConflict


class InvalidTransition(StateConflict):
    """`action` is not allowed while the task is `status` (e.g. completing a queued task)."""

    def __init__(self, task_id: UUID, status: str, action: str) -> None:
        super().__init__(str(task_id), f"cannot {action} a task that is {status}")
        self.task_id = task_id
        self.status = status
        self.action = action


class NoCallbackUrl(StateConflict):
    """The task was created without a callback URL, so there is no callback to record."""

    def __init__(self, task_id: UUID) -> None:
        super().__init__(str(task_id), "task has no callback URL")
        self.task_id = task_id


class CallbackAlreadyDelivered(StateConflict):
    """The callback was delivered; it is delivered at most once and no attempt follows it."""

    def __init__(self, task_id: UUID) -> None:
        super().__init__(str(task_id), "callback already delivered")
        self.task_id = task_id


class AttemptOutOfOrder(StateConflict):
    """Callback attempt numbers must increase: `attempt` is not above `last_attempt`."""

    def __init__(self, task_id: UUID, attempt: int, last_attempt: int) -> None:
        super().__init__(str(task_id), f"callback attempt {attempt} does not follow attempt {last_attempt}")
        self.task_id = task_id
        self.attempt = attempt
        self.last_attempt = last_attempt
