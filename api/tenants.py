"""Tenants and their API keys in Postgres; keys are stored hashed and checked in constant time.

A key reads `alk_<key_id>_<secret>`: the id finds the row, the secret's SHA-256 must match.
The secret is 32 random bytes, so a plain SHA-256 is enough (no brute force can reach it);
the full key is shown once, when it is made.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

import asyncpg

PREFIX = "alk_"
_KEY = re.compile(r"^alk_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$")
TENANT_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}$")
SCOPES = ("admin", "platform-admin", "approve")  # admin: the own tenant (budgets); platform-admin: model profiles;
# approve: tool executions awaiting a person's approval (admin may too)
CACHE_SIZE = 10_000


class TenantError(Exception):
    """A tenant or key command cannot be done; the message names the value at fault."""


@dataclass(frozen=True)
class KeyOwner:
    """Whom a valid key speaks for."""

    key_id: str
    tenant_id: str
    scopes: frozenset[str]


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


class Tenants:
    """Tenant and key records; `owner` answers from a short-lived cache (revocations apply within `ttl`)."""

    def __init__(self, pool: asyncpg.Pool, ttl: float = 5.0) -> None:
        self.pool = pool
        self.ttl = ttl
        self._cache: dict[str, tuple[float, tuple[bytes, KeyOwner] | None]] = {}  # key id -> (until, row)

    async def create(self, tenant_id: str, name: str = "") -> None:
        if not TENANT_ID.fullmatch(tenant_id):  # `$` alone would let a trailing newline through
            raise TenantError(f"tenant id {tenant_id!r}: use 2-63 of a-z, 0-9, '.', '_', '-', starting alphanumeric")
        created = await self.pool.fetchval(
            "INSERT INTO tenants (tenant_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING true",
            tenant_id,
            name or tenant_id,
        )
        if not created:
            raise TenantError(f"tenant {tenant_id!r} already exists")

    async def add_key(self, tenant_id: str, scopes: list[str], label: str = "") -> tuple[str, str]:
        """A new key for the tenant: (key id, the full key; shown only now)."""
        unknown = sorted(set(scopes) - set(SCOPES))
        if unknown:
            raise TenantError(f"unknown scope(s) {', '.join(unknown)}; choose from {', '.join(SCOPES)}")
        if not await self.pool.fetchval("SELECT true FROM tenants WHERE tenant_id = $1", tenant_id):
            raise TenantError(f"no tenant {tenant_id!r}; create it first with `agentlog tenants create`")
        key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        await self.pool.execute(
            "INSERT INTO api_keys (key_id, tenant_id, secret_hash, scopes, label) VALUES ($1, $2, $3, $4, $5)",
            key_id,
            tenant_id,
            _digest(secret),
            sorted(set(scopes)),
            label,
        )
        return key_id, f"{PREFIX}{key_id}_{secret}"

    async def revoke(self, key_id: str) -> str:
        """Revoke a key by its id; returns its tenant."""
        tenant = await self.pool.fetchval(
            "UPDATE api_keys SET revoked_at = now() WHERE key_id = $1 AND revoked_at IS NULL RETURNING tenant_id",
            key_id,
        )
        if tenant is None:
            raise TenantError(f"no active key with id {key_id!r}")
        self._cache.pop(key_id, None)
        return str(tenant)

    async def owner(self, key: str) -> KeyOwner | None:
        """The owner of a valid, unrevoked key; None for anything else."""
        match = _KEY.match(key)
        if match is None:
            return None
        key_id, secret = match.groups()
        now = time.monotonic()
        until, found = self._cache.get(key_id, (0.0, None))
        if until < now:
            row = await self.pool.fetchrow(
                "SELECT tenant_id, secret_hash, scopes FROM api_keys WHERE key_id = $1 AND revoked_at IS NULL", key_id
            )
            found = (row["secret_hash"], KeyOwner(key_id, row["tenant_id"], frozenset(row["scopes"]))) if row else None
            if len(self._cache) >= CACHE_SIZE:  # bounded: forget what expired (guessed ids included)
                self._cache = {k: v for k, v in self._cache.items() if v[0] >= now}
            self._cache[key_id] = (now + self.ttl, found)
        if found is None or not hmac.compare_digest(found[0], _digest(secret)):
            return None
        return found[1]
