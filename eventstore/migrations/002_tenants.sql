-- Tenants and their API keys. A key is `alk_<key_id>_<secret>`; only the secret's SHA-256 is kept.
CREATE TABLE tenants (
    tenant_id   text        PRIMARY KEY,
    name        text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    key_id      text        PRIMARY KEY,
    tenant_id   text        NOT NULL REFERENCES tenants ON DELETE CASCADE,
    secret_hash bytea       NOT NULL,
    scopes      text[]      NOT NULL DEFAULT '{}',
    label       text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);
