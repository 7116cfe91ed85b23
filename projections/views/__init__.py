"""The read models: for each event, the Redis operations that fold it into a view (one module per view).

Folds read the event's Avro record as written (`EventCodec.read`: ids as text, times as epoch
milliseconds), the values the views store, so projecting builds no domain objects. Each view maps
the event types it folds to a function; it records every other event of its topics as applied.
Keys are `<prefix>{view/<view>}:v<n>:...` (a Redis Cluster hash tag per view: see Keys); `n` is the view's key
version, so a rebuild can fill a fresh copy while readers use the live one (`<prefix>{view/<view>}:current`
names the version readers use).
Live updates (a session's Redis Stream) are outside the versions: a rebuild does not resend them.
Operations never depend on arrival order across topics: hashes keep the fields of their newest
event (IFNEWER), sorted sets are keyed by version or time.
"""

from __future__ import annotations

from projections.views import budgets, delegation, model_profiles, sessions, tools, transcript
from projections.views.base import Fold, Folds, Keys, View
from projections.views.transcript import LIVE_LENGTH

VIEWS: dict[str, View] = {
    module.VIEW.name: module.VIEW for module in (transcript, sessions, tools, budgets, delegation, model_profiles)
}

__all__ = ["LIVE_LENGTH", "VIEWS", "Fold", "Folds", "Keys", "View"]
