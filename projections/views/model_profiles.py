"""model_profiles: the current profile per role and deployment mode, and the set of those that are set.

A profile's events share one stream, hence one partition: they arrive in order.
"""

from __future__ import annotations

import json

from contracts.codec import Record
from contracts.routing import MODEL_PROFILES
from domain.model_profile.events import ModelProfileRemoved, ModelProfileSet
from projections.apply import Op
from projections.views.base import Keys, View, by_type


def _profile_set(r: Record, k: Keys) -> list[Op]:
    meta, name = r["meta"], f"{r['role']}:{r['deployment_mode']}"
    fields = ["tenant_id", meta["tenant_id"], "status", "set", "model", r["model"], "base_url", r["base_url"]]
    fields += ["api_path", r["api_path"], "temperature", str(r["temperature"])]  # Lua would print 17 digits
    profile = k("profile", r["role"], r["deployment_mode"])
    return [
        ["SADD", k("all"), name],
        ["IFNEWER", profile, meta["stream_version"], "", *fields, "extras", json.dumps(r["extras"])],
    ]


def _profile_removed(r: Record, k: Keys) -> list[Op]:
    profile = k("profile", r["role"], r["deployment_mode"])
    return [
        ["SREM", k("all"), f"{r['role']}:{r['deployment_mode']}"],
        ["IFNEWER", profile, r["meta"]["stream_version"], "", "status", "removed"],
    ]


VIEW = View(
    "model_profiles",
    (MODEL_PROFILES,),
    by_type({ModelProfileSet: _profile_set, ModelProfileRemoved: _profile_removed}),
)
