"""Model-profile commands as services (platform-wide settings, one stream per role and mode)."""

from __future__ import annotations

from domain.model_profile.aggregate import DECIDER, remove, set_profile, stream_id
from domain.service import command

set_model_profile = command(DECIDER, lambda c: stream_id(c.role, c.deployment_mode), set_profile)
remove_model_profile = command(DECIDER, lambda c: stream_id(c.role, c.deployment_mode), remove, retries=0)
