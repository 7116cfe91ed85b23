"""Unit tests of the pure domain: given events, when a decision, then events or an error."""
