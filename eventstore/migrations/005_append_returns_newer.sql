-- The group append (migration 004) also answers a command it could not write with what it missed.
--
-- A command decided on a remembered state fails the version check when another process appended meanwhile;
-- it then needs the stream's newer events to decide again. Returning them from the same call saves the
-- round trips of asking for the stream's version and then for its events, so a command may try its
-- remembered state first at no extra cost when that state turns out stale.
--
-- Returns, first, the stream and position of every row written (version and payload NULL); then, only when
-- some row was not written, every event recorded after a command's expected version by another writer
-- (position NULL), in stream and version order. A command refused for its recorded idempotency key on a
-- stream nobody moved gets no rows of either kind.
DROP FUNCTION append_events(text[], text[], int[], text[], uuid[], int[], text[], bytea[], text[], uuid[], uuid[],
                            timestamptz[], text[], int[], text[], text[], text[], jsonb[], text[]);

CREATE FUNCTION append_events(
    stream_ids text[], stream_types text[], versions int[], event_types text[], event_ids uuid[], schema_ids int[],
    topics text[], payloads bytea[], tenant_ids text[], correlation_ids uuid[], causation_ids uuid[],
    occurred_ats timestamptz[], traceparents text[], expected_versions int[], command_keys text[],
    claim_keys text[], claim_hashes text[], claim_results jsonb[], claim_streams text[]
) RETURNS TABLE (stream_id text, "position" bigint, version int, payload bytea)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
AS $$
#variable_conflict use_column
DECLARE
    written_rows bigint;
BEGIN
    RETURN QUERY
    WITH written AS (
        INSERT INTO events (stream_id, stream_type, version, event_type, event_id, schema_id, topic, payload,
                            tenant_id, correlation_id, causation_id, occurred_at, traceparent)
        SELECT e.stream_id, e.stream_type, e.version, e.event_type, e.event_id, e.schema_id, e.topic, e.payload,
               e.tenant_id, e.correlation_id, e.causation_id, e.occurred_at, e.traceparent
        FROM unnest(stream_ids, stream_types, versions, event_types, event_ids, schema_ids, topics, payloads,
                    tenant_ids, correlation_ids, causation_ids, occurred_ats, traceparents, expected_versions,
                    command_keys)
             WITH ORDINALITY
             AS e(stream_id, stream_type, version, event_type, event_id, schema_id, topic, payload,
                  tenant_id, correlation_id, causation_id, occurred_at, traceparent, expected, key, n)
        WHERE (SELECT coalesce(max(x.version), 0) FROM events x WHERE x.stream_id = e.stream_id) = e.expected
          AND (e.key IS NULL OR NOT EXISTS (SELECT FROM command_results c WHERE c.idempotency_key = e.key))
        ORDER BY e.n
        RETURNING events.stream_id, events.position
    ), claimed AS (
        INSERT INTO command_results (idempotency_key, request_hash, result)
        SELECT k.key, k.hash, jsonb_set(k.result, '{position}', to_jsonb(w.last))
        FROM unnest(claim_keys, claim_hashes, claim_results, claim_streams) AS k(key, hash, result, stream_id)
        JOIN (SELECT w.stream_id, max(w.position) AS last FROM written w GROUP BY w.stream_id) w USING (stream_id)
    )
    SELECT w.stream_id, w.position, NULL::int, NULL::bytea FROM written w;
    GET DIAGNOSTICS written_rows = ROW_COUNT;
    IF written_rows < cardinality(stream_ids) THEN
        RETURN QUERY
        SELECT x.stream_id, NULL::bigint, x.version, x.payload
        FROM (SELECT DISTINCT s.stream_id, s.expected FROM unnest(stream_ids, expected_versions) AS s(stream_id, expected)) s
        JOIN events x ON x.stream_id = s.stream_id AND x.version > s.expected
        WHERE x.event_id <> ALL (event_ids)
        ORDER BY x.stream_id, x.version;
    END IF;
END
$$;
