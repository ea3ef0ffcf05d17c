//! Sign-up, sign-in with lockout, session tokens.
//!
//! A session token is `kobo_st_<session id>_<secret>`: the id names a row carrying
//! (user, organization, expiry, revocation); only SHA-256 of the 256-bit secret is
//! stored and compared in constant time. Tokens live `session_ttl_secs` (1 h).

use crate::error::{ApiError, ApiResult};
use crate::extract::Caller;
use crate::state::AppState;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use kobo_domain::email::Email;
use kobo_domain::ids::{OrgId, SessionId, UserId, WorkspaceId};
use kobo_domain::password;
use kobo_store::{NewSignup, OrgRecord, SessionRecord, UserRecord, WorkspaceRecord};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const TOKEN_MARKER: &str = "kobo_st_";
/// Failed logins allowed per account within `LOCKOUT_WINDOW_MS`.
pub const MAX_FAILED_LOGINS: usize = 5;
pub const LOCKOUT_WINDOW_MS: i64 = 15 * 60 * 1000;

pub struct IssuedToken {
    pub access_token: String,
    pub expires_in: u64,
}

pub struct SignedUp {
    pub user_id: UserId,
    pub org_id: OrgId,
    pub workspace_id: WorkspaceId,
    pub token: IssuedToken,
}

fn hash_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Parses the e-mail and password strength rules into 422s.
pub fn check_credentials(email: &str, pw: &str) -> ApiResult<Email> {
    let email = Email::parse(email)
        .map_err(|e| ApiError::unprocessable("invalid_email", e.to_string()).with_param("email"))?;
    password::check_strength(pw).map_err(|e| {
        ApiError::unprocessable("weak_password", e.to_string()).with_param("password")
    })?;
    Ok(email)
}

pub async fn sign_up(
    state: &AppState,
    email: &str,
    pw: &str,
    org_name: &str,
) -> ApiResult<SignedUp> {
    let email = check_credentials(email, pw)?;
    let org_name = org_name.trim();
    if org_name.is_empty() || org_name.chars().count() > 200 {
        return Err(ApiError::unprocessable(
            "invalid_request",
            "organization_name must be 1 to 200 characters",
        )
        .with_param("organization_name"));
    }
    let hash = hash_blocking(pw.to_string()).await?;
    let now = state.clock.now_ms();
    let user = UserRecord {
        id: UserId::new(),
        email: email.to_string(),
        password_hash: hash,
        is_operator: false,
        created_at: now,
    };
    let org = OrgRecord {
        id: OrgId::new(),
        name: org_name.to_string(),
        plan_id: "free".into(),
        status: "active".into(),
        billing_anchor_day: 1,
        limits: "{}".into(),
        created_at: now,
    };
    let workspace = WorkspaceRecord {
        id: WorkspaceId::new(),
        org_id: org.id,
        name: "Default".into(),
        created_at: now,
    };
    state
        .store
        .sign_up(&NewSignup {
            user: user.clone(),
            org: org.clone(),
            workspace: workspace.clone(),
        })
        .await
        .map_err(|e| match e {
            kobo_store::StoreError::Conflict(_) => {
                ApiError::conflict("email_taken", "an account with this e-mail already exists")
                    .with_param("email")
            }
            other => other.into(),
        })?;
    tracing::info!(user_id = %user.id, org_id = %org.id, "A new organization signed up.");
    let token = issue_session(state, user.id, Some(org.id)).await?;
    Ok(SignedUp {
        user_id: user.id,
        org_id: org.id,
        workspace_id: workspace.id,
        token,
    })
}

async fn hash_blocking(pw: String) -> ApiResult<String> {
    tokio::task::spawn_blocking(move || password::hash_password(&pw))
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(|e| ApiError::internal(&e))
}

async fn verify_blocking(pw: String, hash: String) -> ApiResult<bool> {
    tokio::task::spawn_blocking(move || password::verify_password(&pw, &hash))
        .await
        .map_err(|e| ApiError::internal(&e))
}

/// Password sign-in. The same answer for an unknown account and a wrong password; after
/// `MAX_FAILED_LOGINS` failures in the window every attempt gets 429 until it passes.
pub async fn sign_in(
    state: &AppState,
    username: &str,
    pw: &str,
    org: Option<OrgId>,
) -> ApiResult<IssuedToken> {
    let invalid =
        || ApiError::unauthorized("invalid_credentials", "the e-mail or password is wrong");
    let Ok(email) = Email::parse(username) else {
        return Err(invalid());
    };
    let now = state.clock.now_ms();
    let failures = state
        .store
        .login_failures_since(email.as_str(), now - LOCKOUT_WINDOW_MS)
        .await?;
    if failures.len() >= MAX_FAILED_LOGINS {
        let oldest_relevant = failures[failures.len() - MAX_FAILED_LOGINS];
        let wait_ms = (oldest_relevant + LOCKOUT_WINDOW_MS - now).max(1000);
        return Err(ApiError::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            "too_many_login_attempts",
            "too many failed sign-in attempts; try again later",
        )
        .retry_after(u64::try_from(wait_ms).unwrap_or(900_000).div_ceil(1000)));
    }
    let user = state.store.user_by_email(email.as_str()).await?;
    let hash = user.as_ref().map_or_else(
        || password::dummy_hash().to_string(),
        |u| u.password_hash.clone(),
    );
    let ok = verify_blocking(pw.to_string(), hash).await? && user.is_some();
    let Some(user) = user.filter(|_| ok) else {
        state
            .store
            .record_login_failure(email.as_str(), now)
            .await?;
        return Err(invalid());
    };
    state.store.clear_login_failures(email.as_str()).await?;

    let memberships = state.store.memberships_of(user.id).await?;
    let org_id = match org {
        Some(o) if memberships.iter().any(|m| m.org.id == o) => Some(o),
        Some(_) => {
            return Err(ApiError::forbidden(
                "not_a_member",
                "you are not a member of that organization",
            ))
        }
        None => memberships.first().map(|m| m.org.id),
    };
    if org_id.is_none() && !user.is_operator {
        return Err(ApiError::forbidden(
            "not_a_member",
            "this account belongs to no organization",
        ));
    }
    issue_session(state, user.id, org_id).await
}

pub async fn issue_session(
    state: &AppState,
    user: UserId,
    org: Option<OrgId>,
) -> ApiResult<IssuedToken> {
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let secret = URL_SAFE_NO_PAD.encode(raw);
    let id = SessionId::new();
    let now = state.clock.now_ms();
    let ttl = state.settings.session_ttl_secs;
    state
        .store
        .create_session(&SessionRecord {
            id,
            user_id: user,
            org_id: org,
            secret_hash: hash_hex(&secret),
            created_at: now,
            expires_at: now
                .saturating_add(i64::try_from(ttl.saturating_mul(1000)).unwrap_or(i64::MAX)),
            revoked_at: None,
        })
        .await?;
    Ok(IssuedToken {
        access_token: format!("{TOKEN_MARKER}{}_{secret}", id.0.simple()),
        expires_in: ttl,
    })
}

/// Checks a session token: known, secret matches, not revoked, not expired.
pub async fn authenticate_session(state: &AppState, token: &str) -> ApiResult<Caller> {
    let invalid = || {
        ApiError::unauthorized(
            "invalid_token",
            "the session token is invalid or has been revoked",
        )
    };
    if token.starts_with(kobo_domain::api_key::KEY_MARKER) {
        return Err(ApiError::unauthorized(
            "invalid_token",
            "this route needs a session token, not an API key",
        ));
    }
    let rest = token.strip_prefix(TOKEN_MARKER).ok_or_else(invalid)?;
    let (id, secret) = rest.split_once('_').ok_or_else(invalid)?;
    let id: SessionId = id.parse().map_err(|_| invalid())?;
    let session = state.store.session(id).await?.ok_or_else(invalid)?;
    let expected = session.secret_hash.as_bytes();
    if !bool::from(hash_hex(secret).as_bytes().ct_eq(expected)) || session.revoked_at.is_some() {
        return Err(invalid());
    }
    if session.expires_at <= state.clock.now_ms() {
        return Err(ApiError::unauthorized(
            "token_expired",
            "the session token has expired; sign in again",
        ));
    }
    let user = state
        .store
        .user(session.user_id)
        .await?
        .ok_or_else(invalid)?;
    Ok(Caller {
        user_id: user.id,
        email: user.email,
        org_id: session.org_id,
        session_id: id,
        is_operator: user.is_operator,
    })
}

/// Creates or updates the operator account named in the settings.
pub async fn ensure_operator(state: &AppState, email: &str, pw: &str) -> anyhow::Result<UserId> {
    let email = Email::parse(email)?;
    password::check_strength(pw)?;
    let hash = password::hash_password(pw)?;
    Ok(state
        .store
        .ensure_operator(email.as_str(), &hash, state.clock.now_ms())
        .await?)
}
