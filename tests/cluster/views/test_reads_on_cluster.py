"""The API's reads on a Redis Cluster: sessions, their pages, read-your-writes, the live streams (SSE, WebSocket)."""

from tests.integration.test_api_sessions import (
    test_another_tenants_session_is_not_found,
    test_posting_a_message_starts_a_session_that_reads_back,
    test_read_your_writes_says_clearly_when_the_view_is_behind,
    test_sessions_page_by_cursor_most_recent_first,
)
from tests.integration.test_api_streams import (
    reply,
    test_sse_resumes_after_the_last_event_id_and_says_204_after_closed,
    test_sse_sends_the_transcript_then_live_replies_in_order_and_ends_when_the_session_closes,
    test_websocket_authenticates_from_the_query_and_resumes_after_last_event_id,
    test_websocket_sends_the_same_updates_and_closes_normally_after_closed,
)

__all__ = [
    "reply",
    "test_another_tenants_session_is_not_found",
    "test_posting_a_message_starts_a_session_that_reads_back",
    "test_read_your_writes_says_clearly_when_the_view_is_behind",
    "test_sessions_page_by_cursor_most_recent_first",
    "test_sse_resumes_after_the_last_event_id_and_says_204_after_closed",
    "test_sse_sends_the_transcript_then_live_replies_in_order_and_ends_when_the_session_closes",
    "test_websocket_authenticates_from_the_query_and_resumes_after_last_event_id",
    "test_websocket_sends_the_same_updates_and_closes_normally_after_closed",
]
