"""Tool executions: requested, then exactly one of denied, completed or failed (timeouts included)."""
