"""Analysts' tools over the event store: export a selection of events to Avro, JSON Lines or Parquet.

`selection` says which events and reads them in position order; `formats` writes them; `export`
runs the two with progress. Events come out in the current reader schema (upcast on read) and with
the fields asked for redacted (`redact`). See docs/replay.md.
"""
