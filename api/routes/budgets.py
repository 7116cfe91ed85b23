"""Budgets: set a tenant's daily token limits (admin), read the caller's usage per persona and day."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import AfterValidator, BaseModel, Field

from api.body import JsonRoute
from api.deps import AdminDep, CallerDep, ContextDep, ServicesDep
from api.errors import ApiError, responses
from api.schemas import MAX_INT, Int, Name, Recorded, Strict, recorded
from api.tenants import TENANT_ID
from domain.budget.commands import SetBudgetLimit
from domain.budget.service import set_budget_limit

router = APIRouter(tags=["budgets"], route_class=JsonRoute)
TenantId = Annotated[
    str, Path(pattern=TENANT_ID.pattern, description="the tenant whose limits to set", examples=["acme"])
]


DAY = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


def _iso_day(value: str | None) -> str | None:
    """A calendar day written `YYYY-MM-DD`, as the view keys it (a bare number is not a day: pydantic's date
    would read `0` as 1970-01-01)."""
    if value is not None:
        date.fromisoformat(value)  # ValueError -> 422 naming `day`
    return value


class LimitIn(Strict):
    daily_tokens: Int = Field(
        ge=0, le=MAX_INT, description="tokens per UTC day; 0 refuses every charge", examples=[50_000]
    )
    persona_id: Name | None = Field(default=None, description="omit to set the tenant's default", examples=["helper"])


class LimitSet(Recorded):
    tenant_id: str = Field(examples=["acme"])
    persona_id: str | None = Field(description="null: the tenant's default")
    daily_tokens: int = Field(examples=[50_000])


class UsageOut(BaseModel):
    persona_id: str = Field(examples=["helper"])
    day: date = Field(description="the UTC day")
    used: int = Field(description="tokens charged that day", examples=[1200])
    limit: int | None = Field(description="the limit of the last charge; null before any charge", examples=[50_000])
    remaining: int | None = Field(description="tokens left after the last charge; null before any", examples=[48_800])
    refused: int = Field(description="charges refused because they would pass the limit", examples=[0])


class UsageList(BaseModel):
    items: list[UsageOut]


@router.put(
    "/budgets/{tenant}/limits",
    operation_id="setBudgetLimit",
    response_model=LimitSet,
    summary="Set the caller's tenant's daily token limit, for one persona or as its default (admin)",
    responses=responses(400, 403, 404, 409, 413, 415),
)
async def set_limit(
    tenant: TenantId, body: LimitIn, svc: ServicesDep, who: AdminDep, ctx: ContextDep
) -> dict[str, object]:
    if tenant != who.tenant_id:  # a tenant's admin manages its own tenant; others' are not visible
        raise ApiError(404, "not-found", f"tenant {tenant} not found")
    limit = SetBudgetLimit(tenant_id=tenant, persona_id=body.persona_id, daily_tokens=body.daily_tokens)
    result = await set_budget_limit(svc.store, ctx, limit)
    return {"tenant_id": tenant, "persona_id": body.persona_id, "daily_tokens": body.daily_tokens, **recorded(result)}


@router.get(
    "/budgets",
    operation_id="listBudgetUsage",
    response_model=UsageList,
    summary="The caller's token usage per persona and UTC day",
    responses=responses(),
)
async def list_usage(
    svc: ServicesDep,
    who: CallerDep,
    day: Annotated[
        str | None,
        Query(
            pattern=DAY,
            description="only this UTC day, `YYYY-MM-DD`",
            examples=["2026-11-24"],
            json_schema_extra={"format": "date"},
        ),
        AfterValidator(_iso_day),
    ] = None,
) -> dict[str, object]:
    rows = await svc.reads.budget_usage(who.tenant_id)
    items = [
        UsageOut(
            persona_id=row["persona_id"],
            day=row["day"],
            used=row.get("used", 0),
            limit=row.get("limit"),
            remaining=row.get("remaining"),
            refused=row.get("refused", 0),
        )
        for row in rows
        if day is None or row["day"] == day
    ]
    return {"items": items}
