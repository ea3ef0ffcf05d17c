//! Kobo's storage: traits by area, one SQL implementation per database dialect.
//!
//! The backend is chosen once at start from the URL scheme (`sqlite://` or
//! `postgres://`). Both dialects share the statements in this crate — instants are
//! BIGINT milliseconds and ids are text in both, so the SQL is the same — while each
//! keeps its own forward-only migrations (`migrations/sqlite`, `migrations/postgres`;
//! PostgreSQL adds row-level security). A single conformance suite (`tests/it`) runs
//! against both.

mod accounts;
mod billing;
mod catalog;
mod invoices;
mod keys;
mod records;
mod sql;
mod usage;

pub use invoices::{HolidayAmendment, InvoiceRecord, Invoices, Issue};
pub use records::*;
pub use sql::{connect, Backend, SqlStore};
pub use usage::IDEMPOTENCY_RUNNING_LEASE_MS;

use async_trait::async_trait;
use kobo_domain::ids::{ApiKeyId, OrgId, SessionId, UserId, WorkspaceId};
use kobo_domain::plan::Plan;
use kobo_domain::rbac::Role;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique value already exists (an e-mail, a name, a prefix).
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// The row does not exist, or belongs to another tenant.
    #[error("not found")]
    NotFound,
    /// A plan limit refused the insert: (what, the limit).
    #[error("the plan allows at most {1} {0}")]
    LimitReached(&'static str, u64),
    /// Refused by a rule of the data, e.g. the last owner.
    #[error("{0}")]
    Rule(&'static str),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Users, organizations, workspaces, memberships, invitations, sessions.
#[async_trait]
pub trait Accounts: Send + Sync {
    /// Creates the user, an organization on `plan_id`, its default workspace and the
    /// owner membership, and accepts every pending invitation for the e-mail; all or nothing.
    async fn sign_up(&self, s: &NewSignup) -> Result<()>;
    async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>>;
    async fn user(&self, id: UserId) -> Result<Option<UserRecord>>;
    /// Creates or updates the platform operator's account.
    async fn ensure_operator(
        &self,
        email: &str,
        password_hash: &str,
        now_ms: i64,
    ) -> Result<UserId>;
    async fn memberships_of(&self, user: UserId) -> Result<Vec<MembershipOfUser>>;
    async fn role_of(&self, org: OrgId, user: UserId) -> Result<Option<Role>>;
    async fn organization(&self, org: OrgId) -> Result<Option<OrgRecord>>;
    async fn list_organizations(&self, after: Option<OrgId>, limit: u32) -> Result<Vec<OrgRecord>>;
    async fn set_org_plan(&self, org: OrgId, plan_id: &str) -> Result<()>;
    async fn set_org_limits(&self, org: OrgId, limits_json: &str) -> Result<()>;

    async fn workspaces(&self, org: OrgId) -> Result<Vec<WorkspaceRecord>>;
    async fn workspace(&self, org: OrgId, id: WorkspaceId) -> Result<Option<WorkspaceRecord>>;
    /// Inserts unless the organization already has `max` workspaces.
    async fn create_workspace(&self, w: &WorkspaceRecord, max: Option<u64>) -> Result<()>;

    async fn members(&self, org: OrgId) -> Result<Vec<MemberRecord>>;
    async fn invitations(&self, org: OrgId) -> Result<Vec<InvitationRecord>>;
    /// Adds an existing user, unless already a member or the seat limit is reached.
    async fn add_member(
        &self,
        org: OrgId,
        user: UserId,
        role: Role,
        now_ms: i64,
        max: Option<u64>,
    ) -> Result<()>;
    /// Records a pending invitation for an unknown e-mail (seats count pending invitations).
    async fn invite(&self, inv: &InvitationRecord, max: Option<u64>) -> Result<()>;
    /// Changes a role; refuses to demote the last owner.
    async fn change_role(&self, org: OrgId, user: UserId, role: Role) -> Result<()>;
    /// Removes a member and revokes their sessions for the organization, in one transaction;
    /// refuses to remove the last owner.
    async fn remove_member(&self, org: OrgId, user: UserId, now_ms: i64) -> Result<()>;

    async fn create_session(&self, s: &SessionRecord) -> Result<()>;
    async fn session(&self, id: SessionId) -> Result<Option<SessionRecord>>;
    async fn revoke_session(&self, id: SessionId, now_ms: i64) -> Result<()>;

    async fn record_login_failure(&self, email: &str, now_ms: i64) -> Result<()>;
    /// Failures since `since_ms`, oldest first (their instants).
    async fn login_failures_since(&self, email: &str, since_ms: i64) -> Result<Vec<i64>>;
    async fn clear_login_failures(&self, email: &str) -> Result<()>;
}

/// API keys.
#[async_trait]
pub trait Keys: Send + Sync {
    /// Inserts unless the organization already holds `max` live keys.
    async fn create_key(&self, k: &ApiKeyRecord, max: Option<u64>, now_ms: i64) -> Result<()>;
    async fn keys_of_workspace(&self, org: OrgId, ws: WorkspaceId) -> Result<Vec<ApiKeyRecord>>;
    async fn key(&self, org: OrgId, id: ApiKeyId) -> Result<Option<ApiKeyRecord>>;
    /// The hot path's cache-miss lookup; not tenant-scoped (the prefix is the credential).
    async fn key_by_prefix(&self, prefix: &str) -> Result<Option<ApiKeyRecord>>;
    async fn revoke_key(&self, org: OrgId, id: ApiKeyId, now_ms: i64) -> Result<()>;
    /// Inserts `new` and makes `old` expire at `old_expires_at`, in one transaction.
    async fn rotate_key(
        &self,
        org: OrgId,
        old: ApiKeyId,
        new: &ApiKeyRecord,
        old_expires_at: i64,
    ) -> Result<()>;
    /// An operator's per-key rate limits (`None`: the organization's figure); false if
    /// the organization has no such key.
    async fn set_key_rate_limits(
        &self,
        org: OrgId,
        id: ApiKeyId,
        requests_per_minute: Option<u64>,
        tokens_per_minute: Option<u64>,
    ) -> Result<bool>;
    /// Writes coalesced last-used instants (only ever moves them forward).
    async fn touch_keys(&self, used: &[(ApiKeyId, i64)]) -> Result<()>;
}

/// Plans and models: the operator-edited catalogs.
#[async_trait]
pub trait Catalog: Send + Sync {
    /// Inserts the plans that do not exist yet (first start); never overwrites.
    async fn seed_plans(&self, plans: &[Plan], now_ms: i64) -> Result<()>;
    async fn plans(&self) -> Result<Vec<Plan>>;
    async fn plan(&self, id: &str) -> Result<Option<Plan>>;
    async fn upsert_plan(&self, plan: &Plan, now_ms: i64) -> Result<()>;
    async fn models(&self) -> Result<Vec<ModelRecord>>;
    async fn upsert_model(&self, m: &ModelRecord) -> Result<()>;
    async fn delete_model(&self, name: &str) -> Result<bool>;
}

/// Usage records and everything metering keeps beside them.
#[async_trait]
pub trait Usage: Send + Sync {
    /// Inserts records not stored yet (by id) and adds exactly those to the daily
    /// rollups, in one transaction; returns how many were new.
    async fn insert_usage(&self, records: &[UsageRecord]) -> Result<usize>;
    /// Totals per group over Lagos days `from_day..=to_day` (`YYYY-MM-DD`), from the rollups.
    async fn usage_summary(
        &self,
        org: OrgId,
        from_day: &str,
        to_day: &str,
        group_by: UsageGroupBy,
    ) -> Result<Vec<UsageGroup>>;
    /// Records newest first, strictly before the cursor `(created_at, id)`.
    async fn usage_records(
        &self,
        org: OrgId,
        from_ms: i64,
        to_ms: i64,
        before: Option<(i64, String)>,
        limit: u32,
    ) -> Result<Vec<UsageRecord>>;
    /// Billed (tokens, calls) over Lagos days, to rebuild quota counters.
    async fn billed_totals(&self, org: OrgId, from_day: &str, to_day: &str) -> Result<(u64, u64)>;
    /// Billed requests of one key on one Lagos day, to rebuild its daily cap counter.
    async fn key_billed_requests(&self, key: ApiKeyId, day: &str) -> Result<u64>;
    /// All records of every tenant (tests and the operator's checks).
    async fn usage_count(&self) -> Result<u64>;

    async fn idem_claim(
        &self,
        org: OrgId,
        key: &str,
        request_hash: &str,
        now_ms: i64,
        expires_at: i64,
    ) -> Result<IdemClaim>;
    async fn idem_complete(
        &self,
        org: OrgId,
        key: &str,
        status: u16,
        content_type: &str,
        body: &str,
    ) -> Result<()>;
    /// Frees a key whose request failed before it had an answer worth keeping.
    async fn idem_release(&self, org: OrgId, key: &str) -> Result<()>;
    async fn purge_idempotency(&self, now_ms: i64) -> Result<u64>;

    /// Keeps a finished quota period's figures; false if already archived.
    async fn archive_period(&self, org: OrgId, p: &QuotaPeriodRecord) -> Result<bool>;
    async fn archived_periods(&self, org: OrgId) -> Result<Vec<QuotaPeriodRecord>>;
    /// Writes to the notifications outbox once per dedupe key; false if it was there.
    async fn notify(&self, n: &NotificationRecord) -> Result<bool>;
    async fn notifications(&self, org: OrgId, kind_prefix: &str)
        -> Result<Vec<NotificationRecord>>;
}

/// Subscriptions, payments and provider events.
#[async_trait]
pub trait Billing: Send + Sync {
    /// Inserts a new subscription and its first payment; an unpaid earlier checkout of the
    /// organization is cancelled in the same transaction.
    async fn start_subscription(
        &self,
        sub: &SubscriptionRecord,
        payment: &PaymentRecord,
    ) -> Result<()>;
    async fn save_subscription(&self, sub: &SubscriptionRecord) -> Result<()>;
    /// Writes `sub` only if the stored row still has `expected_updated_at` (nobody, e.g. a
    /// payment, changed it meanwhile), and with it the organization's plan and status
    /// when given, in one transaction; false if the row had moved on.
    async fn transition_subscription(
        &self,
        sub: &SubscriptionRecord,
        expected_updated_at: i64,
        org: Option<(Option<&str>, &str)>,
    ) -> Result<bool>;
    /// The newest subscription that is not cancelled.
    async fn current_subscription(&self, org: OrgId) -> Result<Option<SubscriptionRecord>>;
    async fn subscription(&self, org: OrgId, id: &str) -> Result<Option<SubscriptionRecord>>;
    async fn subscription_by_id(&self, id: &str) -> Result<Option<SubscriptionRecord>>;
    /// Subscriptions whose next renewal step is due.
    async fn due_subscriptions(&self, now_ms: i64) -> Result<Vec<SubscriptionRecord>>;
    /// Claims renewal work on one subscription until `until_ms` (one replica at a time).
    async fn claim_subscription(&self, id: &str, now_ms: i64, until_ms: i64) -> Result<bool>;
    async fn release_subscription(&self, id: &str) -> Result<()>;
    async fn set_org_status(&self, org: OrgId, plan_id: Option<&str>, status: &str) -> Result<()>;
    async fn create_payment(&self, p: &PaymentRecord) -> Result<()>;
    async fn payment_by_reference(&self, reference: &str) -> Result<Option<PaymentRecord>>;
    async fn payments_of(&self, org: OrgId) -> Result<Vec<PaymentRecord>>;
    /// Settles a payment at most once, with its effects, in one transaction; with an
    /// event, the event is stored (once per identity) in the same transaction.
    async fn apply_settlement(
        &self,
        event: Option<&PaymentEventRecord>,
        s: &Settlement,
    ) -> Result<Applied>;
    /// Stores an event that settles nothing (unknown kinds, failed verification); false if seen.
    async fn record_event(&self, ev: &PaymentEventRecord) -> Result<bool>;
    async fn mark_refunded(&self, ev: &PaymentEventRecord, reference: &str) -> Result<Applied>;
    /// Events newest first, strictly before the cursor `(received_at, id)`.
    async fn payment_events(
        &self,
        before: Option<(i64, String)>,
        limit: u32,
    ) -> Result<Vec<PaymentEventRecord>>;
}

/// Everything the server needs, as one object behind `Arc<dyn Store>`.
pub trait Store:
    Accounts + Keys + Catalog + Usage + Billing + Invoices + Health + Send + Sync
{
    fn backend(&self) -> Backend;
}

#[async_trait]
pub trait Health: Send + Sync {
    async fn ping(&self) -> Result<()>;
}
