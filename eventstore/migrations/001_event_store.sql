-- The event log: one row per event, a global position, per-stream versions without gaps.
CREATE TABLE events (
    position        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- the appending transaction's id: the relay publishes only rows of finished transactions
    txid            xid8        NOT NULL DEFAULT pg_current_xact_id(),
    stream_id       text        NOT NULL,
    stream_type     text        NOT NULL,
    version         integer     NOT NULL CHECK (version > 0),
    event_type      text        NOT NULL,
    event_id        uuid        NOT NULL UNIQUE,
    schema_id       integer     NOT NULL,
    topic           text        NOT NULL,
    payload         bytea       NOT NULL,   -- Confluent wire format: magic byte, schema id, Avro body
    tenant_id       text        NOT NULL,
    correlation_id  uuid        NOT NULL,
    causation_id    uuid,
    occurred_at     timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (stream_id, version)
);
CREATE INDEX events_relay_order ON events (txid, position);

-- Results of commands that carried an idempotency key: a retry returns the stored result.
CREATE TABLE command_results (
    idempotency_key text        PRIMARY KEY,
    request_hash    text        NOT NULL,
    result          jsonb       NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now()
);

-- Aggregate state every N events, so loading a long stream does not replay it all.
CREATE TABLE snapshots (
    stream_id   text        PRIMARY KEY,
    stream_type text        NOT NULL,
    version     integer     NOT NULL,
    state       jsonb       NOT NULL,
    taken_at    timestamptz NOT NULL DEFAULT now()
);

-- How far each relay has published, as (txid, position) of the last event Kafka confirmed.
CREATE TABLE relay_checkpoints (
    relay       text        PRIMARY KEY,
    txid        xid8        NOT NULL,
    position    bigint      NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
