-- Usage metering: one record per gateway request, daily rollups, idempotency keys,
-- quota warnings and the generic notifications outbox.
CREATE TABLE usage_records (
    id                        TEXT PRIMARY KEY,      -- the request id: moving from the journal is exactly-once
    org_id                    TEXT NOT NULL,
    workspace_id              TEXT NOT NULL,
    api_key_id                TEXT,
    user_id                   TEXT,
    endpoint                  TEXT NOT NULL,
    model                     TEXT NOT NULL,
    upstream                  TEXT NOT NULL,
    prompt_tokens             BIGINT NOT NULL,
    completion_tokens         BIGINT NOT NULL,
    cost_millikobo            BIGINT NOT NULL,
    upstream_cost_micro_usd   BIGINT NOT NULL,
    latency_ms                BIGINT NOT NULL,
    status                    BIGINT NOT NULL,
    error_code                TEXT,
    streamed                  BIGINT NOT NULL DEFAULT 0,
    lagos_day                 TEXT NOT NULL,         -- YYYY-MM-DD in Africa/Lagos
    created_at                BIGINT NOT NULL
);
CREATE INDEX usage_records_org_time ON usage_records(org_id, created_at, id);

CREATE TABLE usage_daily (
    org_id             TEXT NOT NULL,
    lagos_day          TEXT NOT NULL,
    workspace_id       TEXT NOT NULL,
    api_key_id         TEXT NOT NULL,               -- '' for session calls
    model              TEXT NOT NULL,
    requests           BIGINT NOT NULL,
    errors             BIGINT NOT NULL,
    prompt_tokens      BIGINT NOT NULL,
    completion_tokens  BIGINT NOT NULL,
    cost_millikobo     BIGINT NOT NULL,
    upstream_cost_micro_usd BIGINT NOT NULL,
    latency_ms_sum     BIGINT NOT NULL,
    PRIMARY KEY (org_id, lagos_day, workspace_id, api_key_id, model)
);

CREATE TABLE idempotency_keys (
    org_id           TEXT NOT NULL,
    idem_key         TEXT NOT NULL,
    request_hash     TEXT NOT NULL,
    state            TEXT NOT NULL,                  -- running | done
    response_status  BIGINT,
    response_type    TEXT,
    response_body    TEXT,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    PRIMARY KEY (org_id, idem_key)
);
CREATE INDEX idempotency_expiry ON idempotency_keys(expires_at);

CREATE TABLE quota_periods (
    org_id        TEXT NOT NULL,
    period_start  TEXT NOT NULL,                     -- Lagos date the period starts
    period_end    TEXT NOT NULL,
    tokens        BIGINT NOT NULL,
    api_calls     BIGINT NOT NULL,
    archived_at   BIGINT NOT NULL,
    PRIMARY KEY (org_id, period_start)
);

CREATE TABLE notifications (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL,
    kind        TEXT NOT NULL,                       -- e.g. quota.warning
    dedupe_key  TEXT NOT NULL UNIQUE,                -- one notification per threshold per period
    payload     TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    delivered_at BIGINT
);
CREATE INDEX notifications_org ON notifications(org_id, created_at);

ALTER TABLE usage_records ENABLE ROW LEVEL SECURITY;
ALTER TABLE usage_records FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON usage_records USING (kobo_tenant_visible(org_id));
ALTER TABLE usage_daily ENABLE ROW LEVEL SECURITY;
ALTER TABLE usage_daily FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON usage_daily USING (kobo_tenant_visible(org_id));
ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE idempotency_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON idempotency_keys USING (kobo_tenant_visible(org_id));
ALTER TABLE notifications ENABLE ROW LEVEL SECURITY;
ALTER TABLE notifications FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON notifications USING (kobo_tenant_visible(org_id));
