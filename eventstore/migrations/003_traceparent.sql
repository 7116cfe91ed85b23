-- The W3C traceparent each event carries in its metadata, beside the payload: the relay continues the
-- trace (a span per event, its context in the Kafka headers) without decoding the Avro body.
ALTER TABLE events ADD COLUMN traceparent text;
