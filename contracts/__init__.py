"""Avro contracts for every agentlog event: schemas, routing table, codecs, registry client."""
