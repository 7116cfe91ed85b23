"""The `agentlog` command line: the entry point every `just` recipe calls."""
