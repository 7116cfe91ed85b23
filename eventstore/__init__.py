"""The write side's storage: the Postgres event store, its migrations and the relay to Kafka."""
