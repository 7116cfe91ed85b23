"""Running the views on a Redis Cluster: a rebuild under writes and one from the store on the command line, status."""

from tests.integration.test_projection_operations import (
    test_rebuild_from_the_event_store_on_the_command_line,
    test_rebuild_while_writes_continue_equals_a_view_built_from_scratch,
    test_status_reports_position_lag_runners_and_metrics,
)

__all__ = [
    "test_rebuild_from_the_event_store_on_the_command_line",
    "test_rebuild_while_writes_continue_equals_a_view_built_from_scratch",
    "test_status_reports_position_lag_runners_and_metrics",
]
