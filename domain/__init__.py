"""Pure domain model: aggregates, commands, events and errors; no I/O."""
