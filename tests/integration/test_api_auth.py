"""Authentication over HTTP on the running API: API keys, revocation, HS256 and RS256 JWTs, the admin scope."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from api.errors import PROBLEM_JSON
from cli.provider import serve
from tests.support.api import JWT_SECRET, RunningApi, another_api, eventually, recorded

ADMIN_ROUTES = {"/v1/budgets/{tenant}/limits": "put", "/v1/model-profiles/{role}/{deployment_mode}": "put"}


def token(claims: dict[str, object], key: str | bytes = JWT_SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode({"exp": int(time.time()) + 300, **claims}, key, algorithm=algorithm)


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def assert_unauthorized(response: httpx.Response, detail: str = "") -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.headers["www-authenticate"] == 'Bearer realm="agentlog"'
    body = response.json()
    assert body["type"] == "urn:agentlog:problem:unauthorized"
    assert body["status"] == 401
    assert detail in body["detail"]


def served_paths(client: httpx.Client) -> dict[str, dict[str, object]]:
    return client.get("/openapi.json").json()["paths"]


# --- API keys -------------------------------------------------------------------------------------


def test_an_api_key_is_accepted_in_x_api_key_and_as_a_bearer(api, client):
    tenant, headers = api.tenant()
    key = headers["X-API-Key"]

    posted = client.post("/v1/session/message", json={"message": "by header"}, headers={"X-API-Key": key})
    listed = client.get("/v1/sessions", headers=bearer(key))

    assert posted.status_code == 202, posted.text
    assert listed.status_code == 200, listed.text
    eventually(
        lambda: (
            [s["session_id"] for s in client.get("/v1/sessions", headers=bearer(key)).json()["items"]]
            == [posted.json()["session_id"]]
        )
    )
    assert recorded(api, tenant) == 2


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({}, "no credentials"),
        ({"X-API-Key": "alk_short"}, "API key is not valid"),
        ({"X-API-Key": "not-a-key-at-all"}, "API key is not valid"),
        ({"X-API-Key": f"alk_{'0' * 12}_{'A' * 43}"}, "API key is not valid"),
        ({"Authorization": f"Bearer alk_{'0' * 12}_{'A' * 43}"}, "API key is not valid"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "must be 'Bearer <token>'"),
        ({"Authorization": "Bearer"}, "must be 'Bearer <token>'"),
        ({"Authorization": "Token abc"}, "must be 'Bearer <token>'"),
        ({"Authorization": "Bearer not.a.jwt"}, "bearer token is not valid"),
    ],
    ids=["missing", "malformed", "not-a-key", "unknown", "unknown-bearer", "basic", "empty-bearer", "scheme", "junk"],
)
def test_missing_or_bad_credentials_are_401_with_a_challenge(client, headers, detail):
    for response in (
        client.get("/v1/sessions", headers=headers),
        client.post("/v1/session/message", json={"message": "x"}, headers=headers),
    ):
        assert_unauthorized(response, detail)


def test_a_key_with_a_wrong_secret_is_refused(api, client):
    _, headers = api.tenant()
    prefix, key_id, secret = headers["X-API-Key"].split("_", 2)
    forged = f"{prefix}_{key_id}_{'B' if secret[0] != 'B' else 'C'}{secret[1:]}"

    assert client.get("/v1/sessions", headers=headers).status_code == 200  # the real one is cached now
    assert_unauthorized(client.get("/v1/sessions", headers={"X-API-Key": forged}), "API key is not valid")


def test_a_revoked_key_is_refused_within_the_cache_ttl(api, client):
    tenant, headers = api.tenant()
    key_id = headers["X-API-Key"].split("_")[1]
    assert client.get("/v1/sessions", headers=headers).status_code == 200  # cached as valid

    asyncio.run_coroutine_threadsafe(api.tenants.revoke(key_id), api.loop).result(10)
    revoked_at = time.monotonic()

    eventually(lambda: client.get("/v1/sessions", headers=headers).status_code == 401, timeout=8.0, every=0.2)
    assert time.monotonic() - revoked_at < 8.0
    assert_unauthorized(client.get("/v1/sessions", headers=headers), "revoked")
    refused = client.post(
        "/v1/session/message", json={"message": "after revocation"}, headers=bearer(headers["X-API-Key"])
    )
    assert_unauthorized(refused)
    assert recorded(api, tenant) == 0


# --- JWT (HS256, the running API's mode) ----------------------------------------------------------


def test_an_hs256_token_with_tenant_and_scope_is_accepted_as_that_tenant(api, client):
    tenant, key = api.tenant()

    posted = client.post("/v1/session/message", json={"message": "via jwt"}, headers=bearer(token({"tenant": tenant})))

    assert posted.status_code == 202, posted.text
    session = posted.json()["session_id"]
    by_key = client.get(f"/v1/sessions/{session}", params={"min_position": posted.json()["position"]}, headers=key)
    assert by_key.status_code == 200, by_key.text  # the token's tenant owns what it wrote
    alt = bearer(token({"tenant_id": tenant, "scope": "read write", "sub": "svc"}))
    assert client.get(f"/v1/sessions/{session}", headers=alt).status_code == 200


@pytest.mark.parametrize(
    ("make", "detail"),
    [
        (lambda t: token({"tenant": t, "exp": int(time.time()) - 5}), "expired"),
        (lambda t: jwt.encode({"tenant": t}, JWT_SECRET, algorithm="HS256"), "exp"),
        (
            lambda t: token({"tenant": t}, key="another-secret-of-32-characters-or-more"),
            "Signature verification failed",
        ),
        (lambda _t: token({"scope": "admin"}), "no 'tenant' claim"),
        (lambda _t: token({"tenant": ""}), "no 'tenant' claim"),
        (lambda _t: token({"tenant": 42}), "no 'tenant' claim"),
        (lambda t: jwt.encode({"tenant": t, "exp": int(time.time()) + 300}, "", algorithm="none"), "not valid"),
        (lambda t: token({"tenant": t})[:-4] + "AAAA", "not valid"),
    ],
    ids=["expired", "no-exp", "wrong-signature", "no-tenant", "empty-tenant", "numeric-tenant", "alg-none", "tampered"],
)
def test_bad_tokens_are_401(api, client, make, detail):
    tenant, _ = api.tenant()

    refused = client.post("/v1/session/message", json={"message": "x"}, headers=bearer(make(tenant)))

    assert_unauthorized(refused, detail)
    assert recorded(api, tenant) == 0


# --- the admin scope ------------------------------------------------------------------------------


def admin_route(client: httpx.Client, path: str) -> None:
    """Fail unless the running API serves the admin route `path` (a missing route is a failure, not a skip)."""
    method = ADMIN_ROUTES[path]
    assert method in served_paths(client).get(path, {}), f"{method.upper()} {path} is not served (not in /openapi.json)"


def set_limit(client: httpx.Client, tenant: str, headers: dict[str, str]) -> httpx.Response:
    return client.put(f"/v1/budgets/{tenant}/limits", json={"daily_tokens": 1000}, headers=headers)


def another_key(api: RunningApi, tenant: str, *scopes: str) -> dict[str, str]:
    """The headers of one more key of `tenant`, with `scopes`."""
    made = asyncio.run_coroutine_threadsafe(api.tenants.add_key(tenant, list(scopes)), api.loop).result(10)
    return {"X-API-Key": made[1]}


def test_setting_budget_limits_needs_the_admin_scope(api, client):
    admin_route(client, "/v1/budgets/{tenant}/limits")
    tenant, plain = api.tenant()
    admin = another_key(api, tenant, "admin")

    refused = set_limit(client, tenant, plain)
    allowed = set_limit(client, tenant, admin)

    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"] == PROBLEM_JSON
    assert refused.json()["type"] == "urn:agentlog:problem:forbidden"
    assert "'admin' scope" in refused.json()["detail"]
    assert allowed.status_code == 200, allowed.text
    assert recorded(api, tenant) == 1  # only the allowed write recorded


def test_setting_model_profiles_needs_the_platform_admin_scope(api, client):
    admin_route(client, "/v1/model-profiles/{role}/{deployment_mode}")
    _, plain = api.tenant()
    _, tenant_admin = api.tenant("admin")
    path = f"/v1/model-profiles/r{uuid.uuid4().hex[:8]}/production"

    refused = [
        client.request(method, path, json={}, headers=headers)
        for method in ("PUT", "DELETE")
        for headers in (plain, tenant_admin)
    ]

    for response in refused:
        assert response.status_code == 403, response.text
        assert response.headers["content-type"] == PROBLEM_JSON
        assert response.json()["type"] == "urn:agentlog:problem:forbidden"
    assert client.get(path, headers=plain).status_code == 404  # nothing was set


@pytest.mark.parametrize(
    ("claims", "status"),
    [
        ({"scope": "admin"}, 200),
        ({"scope": "read admin write"}, 200),
        ({"scopes": ["admin"]}, 200),
        ({"scopes": "admin"}, 200),  # a string `scopes` is one scope list, not a list of letters
        ({"scope": ["admin"]}, 200),  # some identity providers send `scope` as a list
        ({}, 403),
        ({"scope": "Admin"}, 403),
        ({"scope": "administrator"}, 403),
        ({"scopes": ["read", "write"]}, 403),
    ],
    ids=[
        "scope",
        "scope-among-others",
        "scopes-list",
        "scopes-string",
        "scope-list",
        "none",
        "case",
        "prefix",
        "other",
    ],
)
def test_the_admin_scope_is_checked_exactly_from_either_claim(api, client, claims, status):
    admin_route(client, "/v1/budgets/{tenant}/limits")
    tenant, _ = api.tenant()

    answered = set_limit(client, tenant, bearer(token({"tenant": tenant, **claims})))

    assert answered.status_code == status, answered.text
    assert recorded(api, tenant) == (1 if status == 200 else 0)


def test_a_revoked_admin_key_loses_its_scope_too(api, client):
    admin_route(client, "/v1/budgets/{tenant}/limits")
    tenant, admin = api.tenant("admin")
    assert set_limit(client, tenant, admin).status_code == 200

    asyncio.run_coroutine_threadsafe(api.tenants.revoke(admin["X-API-Key"].split("_")[1]), api.loop).result(10)

    eventually(lambda: client.get("/v1/sessions", headers=admin).status_code == 401, timeout=8.0, every=0.2)
    assert_unauthorized(set_limit(client, tenant, admin))
    assert recorded(api, tenant) == 1


# --- RS256: a second app configured with a public key ---------------------------------------------


def rsa_pair() -> tuple[bytes, str]:
    """(private key PEM, public key PEM) of a fresh 2048-bit RSA key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public.decode()


def hs256_with(secret: bytes, claims: dict[str, object]) -> str:
    """An HS256 token made by hand: PyJWT refuses to use a PEM as an HMAC secret, an attacker would not."""

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing = f"{part(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())}.{part(json.dumps(claims).encode())}"
    return f"{signing}.{part(hmac.new(secret, signing.encode(), hashlib.sha256).digest())}"


@pytest.fixture(scope="module")
def rs256(api) -> Iterator[tuple[str, bytes, str]]:
    """A second API (uvicorn in a thread) on the same servers and schema, verifying RS256 tokens instead of HS256.

    Yields (url, private key PEM, public key PEM).
    """
    private, public = rsa_pair()
    with serve(another_api(api, jwt_secret=None, jwt_public_key=public)) as url:
        yield url, private, public


def test_an_rs256_token_signed_with_the_private_key_is_accepted(api, rs256):
    url, private, _ = rs256
    tenant, key = api.tenant()
    with httpx.Client(base_url=url, timeout=10) as client:
        posted = client.post(
            "/v1/session/message",
            json={"message": "rs256"},
            headers=bearer(token({"tenant": tenant}, private, "RS256")),
        )
        assert client.get("/v1/sessions", headers=key).status_code == 200  # API keys still work there

    assert posted.status_code == 202, posted.text
    assert recorded(api, tenant) == 2


def test_rs256_refuses_other_keys_and_hs256(api, rs256):
    url, private, public = rs256
    tenant, _ = api.tenant()
    other, _ = rsa_pair()
    claims = {"tenant": tenant, "exp": int(time.time()) + 300, "jti": str(uuid.uuid4())}
    refused = {
        "other key": token({"tenant": tenant}, other, "RS256"),
        "expired": token({"tenant": tenant, "exp": int(time.time()) - 5}, private, "RS256"),
        "hs256 with the shared secret": token({"tenant": tenant}),
        "hs256 keyed by the public key": hs256_with(public.encode(), claims),
        "alg none": jwt.encode(claims, "", algorithm="none"),
    }
    with httpx.Client(base_url=url, timeout=10) as client:
        for name, value in refused.items():
            answered = client.post("/v1/session/message", json={"message": name}, headers=bearer(value))
            assert answered.status_code == 401, (name, answered.text)
            assert answered.headers["www-authenticate"] == 'Bearer realm="agentlog"', name

    assert recorded(api, tenant) == 0


def test_a_token_tenant_must_be_a_tenant_id(api, client):
    """Else tenant `t:a` with Idempotency-Key `k` and tenant `t` with key `a:k` share one stored answer."""
    tenant, _ = api.tenant()
    first = client.post(
        "/v1/session/message",
        json={"message": "same"},
        headers={**bearer(token({"tenant": f"{tenant}:a"})), "Idempotency-Key": "k"},
    )
    replay = client.post(
        "/v1/session/message",
        json={"message": "same"},
        headers={**bearer(token({"tenant": tenant})), "Idempotency-Key": "a:k"},
    )

    assert_unauthorized(first, "tenant")
    assert replay.status_code == 202, replay.text
    assert recorded(api, f"{tenant}:a") == 0
    for bad in ("Upper", "a b", "x" * 64, "-x", "t/../u", f"{tenant}\n"):
        assert_unauthorized(client.get("/v1/sessions", headers=bearer(token({"tenant": bad}))), "tenant")
