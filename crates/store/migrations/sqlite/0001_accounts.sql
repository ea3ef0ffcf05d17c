-- Accounts, tenancy, sessions, API keys, plans, models.
-- Instants are BIGINT milliseconds since the Unix epoch (UTC); ids are UUID text.
CREATE TABLE plans (
    id          TEXT PRIMARY KEY,
    definition  TEXT NOT NULL,           -- JSON of kobo_domain::plan::Plan
    position    BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE organizations (
    id                  TEXT PRIMARY KEY,
    name                TEXT NOT NULL,
    plan_id             TEXT NOT NULL REFERENCES plans(id),
    status              TEXT NOT NULL DEFAULT 'active',
    billing_anchor_day  BIGINT NOT NULL DEFAULT 1,
    limits              TEXT NOT NULL DEFAULT '{}',   -- operator overrides (JSON)
    created_at          BIGINT NOT NULL
);

CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    email          TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,
    is_operator    BIGINT NOT NULL DEFAULT 0,
    created_at     BIGINT NOT NULL
);

CREATE TABLE workspaces (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations(id),
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (org_id, name)
);
CREATE INDEX workspaces_org ON workspaces(org_id);

CREATE TABLE memberships (
    org_id      TEXT NOT NULL REFERENCES organizations(id),
    user_id     TEXT NOT NULL REFERENCES users(id),
    role        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_user ON memberships(user_id);

CREATE TABLE invitations (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organizations(id),
    email        TEXT NOT NULL,
    role         TEXT NOT NULL,
    invited_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    accepted_at  BIGINT,
    UNIQUE (org_id, email)
);
CREATE INDEX invitations_email ON invitations(email);

CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id),
    org_id       TEXT,                  -- NULL for an operator with no organization
    secret_hash  TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT
);
CREATE INDEX sessions_user_org ON sessions(user_id, org_id);

CREATE TABLE login_failures (
    email      TEXT NOT NULL,
    failed_at  BIGINT NOT NULL
);
CREATE INDEX login_failures_email ON login_failures(email, failed_at);

CREATE TABLE api_keys (
    id                    TEXT PRIMARY KEY,
    org_id                TEXT NOT NULL REFERENCES organizations(id),
    workspace_id          TEXT NOT NULL REFERENCES workspaces(id),
    name                  TEXT NOT NULL,
    prefix                TEXT NOT NULL UNIQUE,
    secret_hash           TEXT NOT NULL,
    allowed_models        TEXT,          -- JSON array or NULL (any the plan allows)
    allowed_ips           TEXT,          -- JSON array of CIDRs or NULL (any)
    max_requests_per_day  BIGINT,
    expires_at            BIGINT,
    created_by            TEXT NOT NULL,
    created_at            BIGINT NOT NULL,
    revoked_at            BIGINT,
    replaced_by           TEXT,
    last_used_at          BIGINT
);
CREATE INDEX api_keys_org ON api_keys(org_id);
CREATE INDEX api_keys_workspace ON api_keys(workspace_id);

CREATE TABLE models (
    name                           TEXT PRIMARY KEY,
    upstream                       TEXT NOT NULL,
    upstream_model                 TEXT NOT NULL,
    input_price_per_1k_kobo        BIGINT NOT NULL,
    output_price_per_1k_kobo       BIGINT NOT NULL,
    input_cost_per_1k_micro_usd    BIGINT NOT NULL DEFAULT 0,
    output_cost_per_1k_micro_usd   BIGINT NOT NULL DEFAULT 0,
    fallbacks                      TEXT NOT NULL DEFAULT '[]',
    updated_at                     BIGINT NOT NULL
);
