"""Who is calling: an API key (`X-API-Key`, or `Authorization: Bearer alk_...`) or a JWT bearer token.

Tokens are HS256 (AGENTLOG_JWT_SECRET) or RS256 (AGENTLOG_JWT_PUBLIC_KEY); they must carry `exp`,
the tenant in `tenant` (or `tenant_id`), and scopes in `scope` (space-separated) or `scopes`.
Missing or bad credentials are 401; a route that needs a scope the caller lacks is 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jwt

from api.errors import ApiError
from api.settings import ApiSettings
from api.tenants import PREFIX, TENANT_ID, Tenants

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="agentlog"'}


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: the tenant every stream it touches belongs to, and its scopes."""

    tenant_id: str
    scopes: frozenset[str]
    subject: str

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise ApiError(403, "forbidden", f"this operation needs the {scope!r} scope")


def unauthorized(detail: str) -> ApiError:
    return ApiError(401, "unauthorized", detail, headers=CHALLENGE)


class Authenticator:
    """Turns request credentials into a Caller, or raises 401."""

    def __init__(self, tenants: Tenants, settings: ApiSettings) -> None:
        self.tenants = tenants
        self.key, self.algorithm = (
            (settings.jwt_public_key, "RS256") if settings.jwt_public_key else (settings.jwt_secret, "HS256")
        )
        self.audience, self.issuer = settings.jwt_audience, settings.jwt_issuer

    async def caller(self, authorization: str | None, api_key: str | None) -> Caller:
        if api_key:
            return await self._from_key(api_key)
        if not authorization:
            raise unauthorized("no credentials: send X-API-Key or Authorization: Bearer <token>")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized("the Authorization header must be 'Bearer <token>'")
        token = token.strip()
        return await self._from_key(token) if token.startswith(PREFIX) else self._from_jwt(token)

    async def _from_key(self, key: str) -> Caller:
        owner = await self.tenants.owner(key.strip())
        if owner is None:
            raise unauthorized("the API key is not valid (unknown, malformed or revoked)")
        return Caller(owner.tenant_id, owner.scopes, f"key:{owner.key_id}")

    def _from_jwt(self, token: str) -> Caller:
        if not self.key:
            raise unauthorized("bearer tokens are not accepted here (no JWT key configured); use an API key")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.key,
                algorithms=[self.algorithm],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp"]},
            )
        except jwt.PyJWTError as e:
            raise unauthorized(f"the bearer token is not valid: {e}") from e
        tenant = claims.get("tenant") or claims.get("tenant_id")
        if not isinstance(tenant, str) or not tenant:
            raise unauthorized("the bearer token has no 'tenant' claim")
        if not TENANT_ID.fullmatch(tenant):  # as API-key tenants: ids with ':' would share idempotency keys
            raise unauthorized("the bearer token's 'tenant' claim is not a tenant id (2-63 of a-z, 0-9, '.', '_', '-')")
        return Caller(tenant, _scopes(claims.get("scopes") or claims.get("scope")), f"jwt:{claims.get('sub', '?')}")


def _scopes(claim: object) -> frozenset[str]:
    """A scope claim as a set: a space-separated string or a list (identity providers send either form)."""
    if isinstance(claim, str):
        return frozenset(claim.split())
    if isinstance(claim, list):
        return frozenset(str(s) for s in claim)
    return frozenset()
