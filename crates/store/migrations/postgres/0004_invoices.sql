-- Invoices and credit notes, their gapless numbering, the billing-run claims, and the
-- operator-editable tax rates and holiday amendments.
ALTER TABLE organizations ADD COLUMN invoice_prefix TEXT;   -- NULL: INV- + 4 characters of the id

-- One counter per organization, series and Lagos year; incremented in the same
-- transaction as the insert it numbers, so a rolled-back insert leaves no gap.
CREATE TABLE invoice_counters (
    org_id       TEXT NOT NULL,
    series       TEXT NOT NULL,                    -- invoice | credit_note
    year         BIGINT NOT NULL,
    last_number  BIGINT NOT NULL,
    PRIMARY KEY (org_id, series, year)
);

CREATE TABLE invoices (
    id                 TEXT PRIMARY KEY,
    org_id             TEXT NOT NULL REFERENCES organizations(id),
    kind               TEXT NOT NULL,              -- invoice | credit_note
    number             TEXT NOT NULL,
    year               BIGINT NOT NULL,
    sequence           BIGINT NOT NULL,
    period             TEXT,                       -- YYYY-MM (Lagos) for invoices
    period_start       BIGINT,
    period_end         BIGINT,
    status             TEXT NOT NULL,              -- draft | pending | paid | overdue | cancelled (credit notes: issued)
    invoice_date       TEXT NOT NULL,              -- Lagos date
    due_date           TEXT NOT NULL,              -- Lagos date
    currency           TEXT NOT NULL,
    seller             TEXT NOT NULL,              -- JSON
    buyer              TEXT NOT NULL,              -- JSON
    plan_id            TEXT,
    lines              TEXT NOT NULL,              -- JSON array of lines
    subtotal_kobo      BIGINT NOT NULL,
    tax_name           TEXT NOT NULL,
    tax_basis_points   BIGINT NOT NULL,
    tax_kobo           BIGINT NOT NULL,
    total_kobo         BIGINT NOT NULL,
    amount_paid_kobo   BIGINT NOT NULL,
    amount_due_kobo    BIGINT NOT NULL,
    credit_for         TEXT,                       -- a credit note's invoice
    reason             TEXT,                       -- a credit note's reason
    payment_reference  TEXT,
    payment_url        TEXT,
    issued_at          BIGINT NOT NULL,
    paid_at            BIGINT,
    cancelled_at       BIGINT,
    cancel_reason      TEXT,
    irn                TEXT,                       -- NRS e-invoicing slots (future)
    nrs_status         TEXT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    UNIQUE (org_id, number),
    UNIQUE (org_id, kind, period)
);
CREATE INDEX invoices_org_time ON invoices(org_id, issued_at, id);
CREATE INDEX invoices_status_due ON invoices(status, due_date);

-- Payments opened for an invoice (one per attempt).
CREATE TABLE invoice_payments (
    reference   TEXT PRIMARY KEY,
    invoice_id  TEXT NOT NULL REFERENCES invoices(id),
    org_id      TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

-- The billing run's work, claimed per organization and period.
CREATE TABLE invoice_runs (
    org_id         TEXT NOT NULL,
    period         TEXT NOT NULL,
    claimed_until  BIGINT NOT NULL,
    done_at        BIGINT,
    outcome        TEXT,
    PRIMARY KEY (org_id, period)
);

-- Operator-added tax rates, merged over the shipped table (same effective date wins).
CREATE TABLE tax_rates (
    effective_from  TEXT PRIMARY KEY,              -- Lagos date
    name            TEXT NOT NULL,
    basis_points    BIGINT NOT NULL,
    created_at      BIGINT NOT NULL
);

-- Operator amendments of the holiday calendar: a declared day off, or a cancelled one.
CREATE TABLE holiday_amendments (
    holiday_date  TEXT NOT NULL,                   -- Lagos date
    action        TEXT NOT NULL,                   -- add | remove
    name          TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (holiday_date, action)
);

-- Row-level security, as for every tenant table (0001).
ALTER TABLE invoice_counters ENABLE ROW LEVEL SECURITY;
ALTER TABLE invoice_counters FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON invoice_counters USING (kobo_tenant_visible(org_id));
ALTER TABLE invoices ENABLE ROW LEVEL SECURITY;
ALTER TABLE invoices FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON invoices USING (kobo_tenant_visible(org_id));
ALTER TABLE invoice_payments ENABLE ROW LEVEL SECURITY;
ALTER TABLE invoice_payments FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON invoice_payments USING (kobo_tenant_visible(org_id));
ALTER TABLE invoice_runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE invoice_runs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON invoice_runs USING (kobo_tenant_visible(org_id));
