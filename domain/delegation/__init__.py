"""Delegation tasks: created (queued), started, completed or failed, with callback delivery."""
