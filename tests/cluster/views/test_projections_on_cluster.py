"""The projections' tests on a Redis Cluster: every view folded exactly once, redeliveries, restarts, the model."""

from tests.integration.test_projections import (
    test_a_runner_stopped_mid_stream_resumes_without_loss_or_double_counting,
    test_every_view_reflects_what_the_write_side_recorded,
    test_redelivered_events_change_nothing,
)
from tests.integration.test_projections_fold_model import test_the_model_folds_every_view_as_the_script_on_redis_does

__all__ = [
    "test_a_runner_stopped_mid_stream_resumes_without_loss_or_double_counting",
    "test_every_view_reflects_what_the_write_side_recorded",
    "test_redelivered_events_change_nothing",
    "test_the_model_folds_every_view_as_the_script_on_redis_does",
]
