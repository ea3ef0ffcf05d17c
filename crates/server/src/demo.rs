//! `kobo demo`: a ready tenant with an API key, for a first try.

use crate::state::AppState;
use anyhow::Context;
use kobo_domain::api_key;
use kobo_domain::ids::ApiKeyId;
use kobo_store::ApiKeyRecord;
use rand::Rng;

pub struct Demo {
    pub org_id: String,
    pub email: String,
    pub password: String,
    pub api_key: String,
}

pub async fn create(state: &AppState) -> anyhow::Result<Demo> {
    let n: u32 = rand::thread_rng().gen_range(100_000..999_999);
    let email = format!("demo{n}@example.com");
    let password = format!("demo-password-{n}");
    let done = crate::accounts::sign_up(state, &email, &password, "Demo Organization")
        .await
        .map_err(|e| anyhow::anyhow!(e.message))?;
    let minted = api_key::mint();
    let now = state.clock.now_ms();
    let rec = ApiKeyRecord {
        id: ApiKeyId::new(),
        org_id: done.org_id,
        workspace_id: done.workspace_id,
        name: "demo".into(),
        prefix: minted.prefix.clone(),
        secret_hash: hex::encode(minted.secret_hash),
        allowed_models: None,
        allowed_ips: None,
        max_requests_per_day: None,
        expires_at: None,
        created_by: done.user_id,
        created_at: now,
        revoked_at: None,
        replaced_by: None,
        last_used_at: None,
        requests_per_minute: None,
        tokens_per_minute: None,
    };
    state
        .store
        .create_key(&rec, None, now)
        .await
        .context("cannot create the demo key")?;
    Ok(Demo {
        org_id: done.org_id.to_string(),
        email,
        password,
        api_key: minted.full,
    })
}
