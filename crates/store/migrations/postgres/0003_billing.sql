-- Subscriptions, payments and provider events.
CREATE TABLE subscriptions (
    id                     TEXT PRIMARY KEY,
    org_id                 TEXT NOT NULL REFERENCES organizations(id),
    plan_id                TEXT NOT NULL,
    status                 TEXT NOT NULL,          -- pending_payment | active | past_due | suspended | cancelled
    billing_cycle          TEXT NOT NULL,          -- monthly | quarterly | annually
    anchor_day             BIGINT NOT NULL,
    price_kobo             BIGINT NOT NULL,        -- per cycle, after any annual discount
    provider               TEXT NOT NULL,          -- paystack | flutterwave
    payment_method         TEXT NOT NULL,
    billing_email          TEXT NOT NULL,
    period_start           BIGINT,
    period_end             BIGINT,
    cancel_at_period_end   BIGINT NOT NULL DEFAULT 0,
    pending_plan_id        TEXT,                   -- a downgrade waiting for the period end
    authorization_code     TEXT,                   -- a reusable card for renewals
    renewal_attempts       BIGINT NOT NULL DEFAULT 0,
    next_attempt_at        BIGINT,
    past_due_since         BIGINT,
    claimed_until          BIGINT,                 -- renewal work claimed by a replica
    created_at             BIGINT NOT NULL,
    updated_at             BIGINT NOT NULL,
    cancelled_at           BIGINT
);
CREATE INDEX subscriptions_org ON subscriptions(org_id, created_at);
CREATE INDEX subscriptions_due ON subscriptions(status, next_attempt_at);

CREATE TABLE payments (
    id                 TEXT PRIMARY KEY,
    org_id             TEXT NOT NULL,
    subscription_id    TEXT,
    provider           TEXT NOT NULL,
    reference          TEXT NOT NULL UNIQUE,       -- ours, sent to the provider
    purpose            TEXT NOT NULL,              -- subscription | renewal | upgrade
    plan_id            TEXT,
    amount_kobo        BIGINT NOT NULL,            -- what we expect
    currency           TEXT NOT NULL,
    status             TEXT NOT NULL,              -- pending | success | failed | flagged | refunded
    provider_txn_id    TEXT,
    paid_amount_kobo   BIGINT,
    detail             TEXT,
    created_at         BIGINT NOT NULL,
    settled_at         BIGINT
);
CREATE INDEX payments_org ON payments(org_id, created_at);

CREATE TABLE payment_events (
    id           TEXT PRIMARY KEY,
    provider     TEXT NOT NULL,
    identity     TEXT NOT NULL,                    -- event + provider id or reference
    event        TEXT NOT NULL,
    reference    TEXT,
    payload      TEXT NOT NULL,
    outcome      TEXT NOT NULL,                    -- applied | ignored | flagged | unknown_event | failed_verification
    detail       TEXT,
    received_at  BIGINT NOT NULL,
    UNIQUE (provider, identity)
);

ALTER TABLE subscriptions ENABLE ROW LEVEL SECURITY;
ALTER TABLE subscriptions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON subscriptions USING (kobo_tenant_visible(org_id));
ALTER TABLE payments ENABLE ROW LEVEL SECURITY;
ALTER TABLE payments FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON payments USING (kobo_tenant_visible(org_id));
