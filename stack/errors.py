"""Errors the launcher raises: each names its cause and the fix, so the CLI can print one line."""


class StackError(Exception):
    """A server could not be obtained, started or stopped; `fix` says what the user can do."""

    def __init__(self, cause: str, fix: str) -> None:
        super().__init__(f"{cause} — {fix}")
        self.cause = cause
        self.fix = fix
