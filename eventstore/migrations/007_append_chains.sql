-- The group append (migrations 004, 005) also takes several commands of one stream as one chain.
--
-- Commands of one process on one busy stream (many conversations reserving and settling one persona's
-- budget of the day) used to take one statement and one commit each, one after another. Run together
-- (domain/service.py), they are decided one after the other on the state the earlier ones leave and
-- appended as one chain of rows in one statement: every row of the chain carries the chain's expected
-- version, and its own command's idempotency key.
--
-- Changed from 005: the rows of a stream are written only when no row of that stream has a recorded key (a
-- chain stands or falls whole, as one command's rows always did), and each key is recorded with the position
-- of its own command's last event (claim_events), not the stream's last in the statement.
DROP FUNCTION append_events(text[], text[], int[], text[], uuid[], int[], text[], bytea[], text[], uuid[], uuid[],
                            timestamptz[], text[], int[], text[], text[], text[], jsonb[], text[]);

CREATE FUNCTION append_events(
    stream_ids text[], stream_types text[], versions int[], event_types text[], event_ids uuid[], schema_ids int[],
    topics text[], payloads bytea[], tenant_ids text[], correlation_ids uuid[], causation_ids uuid[],
    occurred_ats timestamptz[], traceparents text[], expected_versions int[], command_keys text[],
    claim_keys text[], claim_hashes text[], claim_results jsonb[], claim_events uuid[]
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
    WITH blocked AS (
        SELECT DISTINCT k.stream_id FROM unnest(stream_ids, command_keys) AS k(stream_id, key)
        WHERE k.key IS NOT NULL AND EXISTS (SELECT FROM command_results c WHERE c.idempotency_key = k.key)
    ), written AS (
        INSERT INTO events (stream_id, stream_type, version, event_type, event_id, schema_id, topic, payload,
                            tenant_id, correlation_id, causation_id, occurred_at, traceparent)
        SELECT e.stream_id, e.stream_type, e.version, e.event_type, e.event_id, e.schema_id, e.topic, e.payload,
               e.tenant_id, e.correlation_id, e.causation_id, e.occurred_at, e.traceparent
        FROM unnest(stream_ids, stream_types, versions, event_types, event_ids, schema_ids, topics, payloads,
                    tenant_ids, correlation_ids, causation_ids, occurred_ats, traceparents, expected_versions)
             WITH ORDINALITY
             AS e(stream_id, stream_type, version, event_type, event_id, schema_id, topic, payload,
                  tenant_id, correlation_id, causation_id, occurred_at, traceparent, expected, n)
        WHERE (SELECT coalesce(max(x.version), 0) FROM events x WHERE x.stream_id = e.stream_id) = e.expected
          AND e.stream_id NOT IN (SELECT b.stream_id FROM blocked b)
        ORDER BY e.n
        RETURNING events.stream_id, events.position, events.event_id
    ), claimed AS (
        INSERT INTO command_results (idempotency_key, request_hash, result)
        SELECT k.key, k.hash, jsonb_set(k.result, '{position}', to_jsonb(w.position))
        FROM unnest(claim_keys, claim_hashes, claim_results, claim_events) AS k(key, hash, result, event_id)
        JOIN written w ON w.event_id = k.event_id
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
