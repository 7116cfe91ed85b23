"""Tool executions: requested, decided (allowed, awaiting approval then approved), then exactly one outcome."""
