//! The rows the store reads and writes, in domain types.

use kobo_domain::ids::{ApiKeyId, InvitationId, OrgId, SessionId, UserId, WorkspaceId};
use kobo_domain::rbac::Role;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug)]
pub struct NewSignup {
    pub user: UserRecord,
    pub org: OrgRecord,
    pub workspace: WorkspaceRecord,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRecord {
    pub id: UserId,
    pub email: String,
    pub password_hash: String,
    pub is_operator: bool,
    pub created_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrgRecord {
    pub id: OrgId,
    pub name: String,
    pub plan_id: String,
    /// `active` or `suspended` (non-payment).
    pub status: String,
    pub billing_anchor_day: u32,
    /// Operator overrides of plan limits, as JSON.
    pub limits: String,
    pub created_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkspaceRecord {
    pub id: WorkspaceId,
    pub org_id: OrgId,
    pub name: String,
    pub created_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MembershipOfUser {
    pub org: OrgRecord,
    pub role: Role,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberRecord {
    pub user_id: UserId,
    pub email: String,
    pub role: Role,
    pub joined_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvitationRecord {
    pub id: InvitationId,
    pub org_id: OrgId,
    pub email: String,
    pub role: Role,
    pub invited_by: UserId,
    pub created_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: SessionId,
    pub user_id: UserId,
    pub org_id: Option<OrgId>,
    pub secret_hash: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub id: ApiKeyId,
    pub org_id: OrgId,
    pub workspace_id: WorkspaceId,
    pub name: String,
    pub prefix: String,
    /// Hex SHA-256 of the secret.
    pub secret_hash: String,
    pub allowed_models: Option<Vec<String>>,
    pub allowed_ips: Option<Vec<String>>,
    pub max_requests_per_day: Option<u64>,
    pub expires_at: Option<i64>,
    pub created_by: UserId,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    pub replaced_by: Option<ApiKeyId>,
    pub last_used_at: Option<i64>,
    /// Operator overrides of the key's rate limits; `None`: the organization's figure.
    pub requests_per_minute: Option<u64>,
    pub tokens_per_minute: Option<u64>,
}

/// A model clients may ask for, where it is served, and what it costs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelRecord {
    pub name: String,
    pub upstream: String,
    pub upstream_model: String,
    pub input_price_per_1k_kobo: i64,
    pub output_price_per_1k_kobo: i64,
    #[serde(default)]
    pub input_cost_per_1k_micro_usd: i64,
    #[serde(default)]
    pub output_cost_per_1k_micro_usd: i64,
    #[serde(default)]
    pub fallbacks: Vec<String>,
    #[serde(default)]
    pub updated_at: i64,
}

/// One gateway request, as metered. `id` is the request id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageRecord {
    pub id: String,
    pub org_id: OrgId,
    pub workspace_id: WorkspaceId,
    pub api_key_id: Option<ApiKeyId>,
    pub user_id: Option<UserId>,
    pub endpoint: String,
    pub model: String,
    pub upstream: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost_millikobo: i64,
    pub upstream_cost_micro_usd: i64,
    pub latency_ms: u64,
    pub status: u16,
    pub error_code: Option<String>,
    pub streamed: bool,
    /// `YYYY-MM-DD` in Africa/Lagos.
    pub lagos_day: String,
    pub created_at: i64,
}

impl UsageRecord {
    /// Billed requests: answered successfully (a stream the client left is billed too).
    pub fn billed(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UsageGroupBy {
    Model,
    Day,
    ApiKey,
    Workspace,
}

/// Totals of one group of a usage summary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UsageGroup {
    pub key: String,
    pub requests: u64,
    pub errors: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost_millikobo: i64,
    pub upstream_cost_micro_usd: i64,
    pub latency_ms_sum: u64,
}

/// What a claim on an idempotency key found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdemClaim {
    /// This request owns the key now.
    Claimed,
    /// Another request with the key is still running.
    Running { request_hash: String },
    /// The first answer, to be replayed.
    Done {
        request_hash: String,
        status: u16,
        content_type: String,
        body: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct QuotaPeriodRecord {
    pub period_start: String,
    pub period_end: String,
    pub tokens: u64,
    pub api_calls: u64,
    pub archived_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NotificationRecord {
    pub id: String,
    pub org_id: OrgId,
    pub kind: String,
    pub dedupe_key: String,
    pub payload: String,
    pub created_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriptionRecord {
    pub id: String,
    pub org_id: OrgId,
    pub plan_id: String,
    pub status: String,
    pub billing_cycle: String,
    pub anchor_day: u32,
    pub price_kobo: i64,
    pub provider: String,
    pub payment_method: String,
    pub billing_email: String,
    pub period_start: Option<i64>,
    pub period_end: Option<i64>,
    pub cancel_at_period_end: bool,
    pub pending_plan_id: Option<String>,
    pub authorization_code: Option<String>,
    pub renewal_attempts: u32,
    pub next_attempt_at: Option<i64>,
    pub past_due_since: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub cancelled_at: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentRecord {
    pub id: String,
    pub org_id: OrgId,
    pub subscription_id: Option<String>,
    pub provider: String,
    pub reference: String,
    pub purpose: String,
    pub plan_id: Option<String>,
    pub amount_kobo: i64,
    pub currency: String,
    pub status: String,
    pub provider_txn_id: Option<String>,
    pub paid_amount_kobo: Option<i64>,
    pub detail: Option<String>,
    pub created_at: i64,
    pub settled_at: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PaymentEventRecord {
    pub id: String,
    pub provider: String,
    pub identity: String,
    pub event: String,
    pub reference: Option<String>,
    pub payload: String,
    pub outcome: String,
    pub detail: Option<String>,
    pub received_at: i64,
}

/// What a verified provider answer says about one of our payments.
#[derive(Clone, Debug)]
pub struct Settlement {
    pub reference: String,
    /// `success`, `failed` or `flagged` (paid, but not what we expected).
    pub status: String,
    pub provider_txn_id: Option<String>,
    pub paid_amount_kobo: Option<i64>,
    pub detail: Option<String>,
    pub now_ms: i64,
    /// For a success: the subscription change it buys.
    pub activation: Option<Activation>,
}

#[derive(Clone, Debug)]
pub struct Activation {
    pub subscription_id: String,
    pub plan_id: String,
    pub price_kobo: Option<i64>,
    pub period_start: Option<i64>,
    pub period_end: Option<i64>,
    pub anchor_day: Option<u32>,
    pub authorization_code: Option<String>,
}

/// What applying a settlement did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    /// This call settled the payment (and applied its effects).
    Settled,
    /// The payment was already settled (by the callback, a replay, a concurrent copy).
    AlreadySettled,
    /// The event was seen before: nothing at all was done.
    DuplicateEvent,
    /// No payment of ours has this reference.
    UnknownReference,
}
