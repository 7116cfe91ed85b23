"""Kafka consumers that fold events into Redis read models, and read-model queries."""
