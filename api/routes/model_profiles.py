"""Model profiles: which model serves a role in a deployment mode; platform-wide, written by platform admins."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from api.body import JsonRoute
from api.deps import CallerDep, ContextDep, MinPosition, PlatformAdminDep, ServicesDep
from api.errors import ApiError, responses
from api.schemas import NOT_BLANK, HttpUrlText, Number, Recorded, Strict, recorded
from domain.model_profile.aggregate import MAX_TEMPERATURE, MIN_TEMPERATURE, stream_id
from domain.model_profile.commands import RemoveModelProfile, SetModelProfile
from domain.model_profile.service import remove_model_profile, set_model_profile

router = APIRouter(tags=["model profiles"], route_class=JsonRoute)
KEY = r"^[A-Za-z0-9._-]{1,100}$"  # no ':' (it separates the parts of the stream id)
# A path as it goes on the wire: visible ASCII, anything else percent-encoded. Written as a range, not `\S`:
# engines disagree on what \s means (U+0085, U+FEFF, ...), and clients check this pattern with their own.
API_PATH = r"^/[!-~]*$"
Role = Annotated[str, Path(pattern=KEY, description="what the model is used for", examples=["summarizer"])]
Mode = Annotated[str, Path(pattern=KEY, description="where it is deployed", examples=["cloud"])]
Extras = Annotated[
    dict[Annotated[str, Field(min_length=1, max_length=100)], Annotated[str, Field(max_length=2000)]],
    Field(max_length=50, description="provider-specific settings, as text", examples=[{"max_tokens": "1024"}]),
]


class ProfileIn(Strict):
    model: str = Field(min_length=1, max_length=200, pattern=NOT_BLANK, examples=["gpt-4o-mini"])
    base_url: HttpUrlText = Field(
        description="an http(s) URL, kept as written (`api_path` follows it)", examples=["https://llm.example.com"]
    )
    api_path: str = Field(
        min_length=1,
        max_length=500,
        pattern=API_PATH,
        description="the path after `base_url`: visible ASCII without spaces; percent-encode anything else",
        examples=["/v1/chat/completions"],
    )
    temperature: Number = Field(ge=MIN_TEMPERATURE, le=MAX_TEMPERATURE, allow_inf_nan=False, examples=[0.2])
    extras: Extras = Field(default_factory=dict)


class ProfileOut(BaseModel):
    role: str = Field(examples=["summarizer"])
    deployment_mode: str = Field(examples=["cloud"])
    model: str = Field(examples=["gpt-4o-mini"])
    base_url: str = Field(examples=["https://llm.example.com"])
    api_path: str = Field(examples=["/v1/chat/completions"])
    temperature: float = Field(examples=[0.2])
    extras: dict[str, str] = Field(examples=[{"max_tokens": "1024"}])


class ProfileRecorded(Recorded):
    role: str = Field(examples=["summarizer"])
    deployment_mode: str = Field(examples=["cloud"])


@router.put(
    "/model-profiles/{role}/{deployment_mode}",
    operation_id="putModelProfile",
    response_model=ProfileRecorded,
    summary="Set the model that serves a role in a deployment mode (platform-admin)",
    responses=responses(400, 403, 409, 413, 415),
)
async def put_profile(
    role: Role, deployment_mode: Mode, body: ProfileIn, svc: ServicesDep, _: PlatformAdminDep, ctx: ContextDep
) -> dict[str, object]:
    profile = SetModelProfile(role=role, deployment_mode=deployment_mode, **body.model_dump())
    result = await set_model_profile(svc.store, ctx, profile)
    return {"role": role, "deployment_mode": deployment_mode, **recorded(result)}


@router.get(
    "/model-profiles/{role}/{deployment_mode}",
    operation_id="getModelProfile",
    response_model=ProfileOut,
    summary="The model that serves a role in a deployment mode",
    responses=responses(404, 412),
)
async def get_profile(
    role: Role, deployment_mode: Mode, svc: ServicesDep, _: CallerDep, min_position: MinPosition = None
) -> ProfileOut:
    if min_position:
        await svc.read_your_write("model_profiles", stream_id(role, deployment_mode), min_position)
    row = await svc.reads.model_profile(role, deployment_mode)
    if row is None:
        raise ApiError(404, "not-found", f"no model profile for role {role!r} in deployment mode {deployment_mode!r}")
    return ProfileOut(
        role=role,
        deployment_mode=deployment_mode,
        model=row["model"],
        base_url=row["base_url"],
        api_path=row["api_path"],
        temperature=float(row["temperature"]),
        extras=json.loads(row.get("extras") or "{}"),
    )


@router.delete(
    "/model-profiles/{role}/{deployment_mode}",
    operation_id="deleteModelProfile",
    response_model=ProfileRecorded,
    summary="Remove the profile of a role in a deployment mode (platform-admin)",
    responses=responses(403, 404, 409),
)
async def delete_profile(
    role: Role, deployment_mode: Mode, svc: ServicesDep, _: PlatformAdminDep, ctx: ContextDep
) -> dict[str, object]:
    result = await remove_model_profile(svc.store, ctx, RemoveModelProfile(role=role, deployment_mode=deployment_mode))
    return {"role": role, "deployment_mode": deployment_mode, **recorded(result)}
