-- The tool executor looks every few seconds for executions whose newest event is still their
-- ToolApprovalRequested (workers/tools/deadlines.py, eventstore/queries.py streams_ending_with). Without an
-- index that look read the whole log each time (70 ms at 200,000 events, growing with the store); with this
-- one it reads only the approval requests. The index holds no other event, so appends of other events do
-- not maintain it. (Built in the migration's transaction: on a large store, appends wait while it is built.)
CREATE INDEX events_approval_requests ON events (stream_id, version)
    WHERE event_type = 'agentlog.tool.ToolApprovalRequested';
