"""The agent runtime: event-driven workers (conversation, tools, delegation) over `domain` and `contracts`."""
