//! `/api/v1/auth/*` and `/api/v1/me`.

use crate::accounts;
use crate::error::{ApiError, ApiResult};
use crate::extract::{parse_json, read_body, Caller, JsonBody};
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::Json;
use kobo_domain::ids::OrgId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
pub struct SignupRequest {
    pub email: String,
    pub password: String,
    pub organization_name: String,
}

#[derive(Serialize, ToSchema)]
pub struct SignupResponse {
    pub user_id: String,
    pub organization_id: String,
    pub workspace_id: String,
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
}

#[derive(Deserialize, ToSchema)]
pub struct TokenRequest {
    pub username: String,
    pub password: String,
    pub organization_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
}

#[utoipa::path(post, path = "/api/v1/auth/signup", tag = "accounts", request_body = SignupRequest,
    responses((status = 201, body = SignupResponse), (status = 409, description = "e-mail taken"), (status = 422, description = "invalid e-mail or weak password")))]
pub async fn signup(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<SignupRequest>,
) -> ApiResult<(StatusCode, Json<SignupResponse>)> {
    let done = accounts::sign_up(&state, &req.email, &req.password, &req.organization_name).await?;
    Ok((
        StatusCode::CREATED,
        Json(SignupResponse {
            user_id: done.user_id.to_string(),
            organization_id: done.org_id.to_string(),
            workspace_id: done.workspace_id.to_string(),
            access_token: done.token.access_token,
            token_type: "bearer",
            expires_in: done.token.expires_in,
        }),
    ))
}

#[utoipa::path(post, path = "/api/v1/auth/token", tag = "accounts",
    request_body(content = TokenRequest, description = "form fields or JSON", content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = TokenResponse), (status = 401, description = "wrong e-mail or password"), (status = 429, description = "locked out; see Retry-After")))]
pub async fn token(State(state): State<AppState>, req: Request) -> ApiResult<Json<TokenResponse>> {
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let bytes = read_body(req, &state).await?;
    let body: TokenRequest = if is_form {
        serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| ApiError::unprocessable("invalid_request", format!("invalid form: {e}")))?
    } else {
        parse_json(&bytes)?
    };
    let org = match body.organization_id.as_deref().filter(|s| !s.is_empty()) {
        Some(raw) => Some(raw.parse::<OrgId>().map_err(|_| {
            ApiError::unprocessable("invalid_request", "organization_id is not a valid id")
                .with_param("organization_id")
        })?),
        None => None,
    };
    let t = accounts::sign_in(&state, &body.username, &body.password, org).await?;
    Ok(Json(TokenResponse {
        access_token: t.access_token,
        token_type: "bearer",
        expires_in: t.expires_in,
    }))
}

#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "accounts", responses((status = 204)), security(("session" = [])))]
pub async fn logout(State(state): State<AppState>, caller: Caller) -> ApiResult<StatusCode> {
    state
        .store
        .revoke_session(caller.session_id, state.clock.now_ms())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct MembershipView {
    pub organization_id: String,
    pub organization_name: String,
    pub role: String,
    pub plan: String,
    pub permissions: Vec<&'static str>,
}

#[derive(Serialize, ToSchema)]
pub struct MeResponse {
    pub user_id: String,
    pub email: String,
    pub is_operator: bool,
    pub current_organization_id: Option<String>,
    pub memberships: Vec<MembershipView>,
}

#[utoipa::path(get, path = "/api/v1/me", tag = "accounts", responses((status = 200, body = MeResponse)), security(("session" = [])))]
pub async fn me(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<MeResponse>> {
    let memberships = state.store.memberships_of(caller.user_id).await?;
    Ok(Json(MeResponse {
        user_id: caller.user_id.to_string(),
        email: caller.email,
        is_operator: caller.is_operator,
        current_organization_id: caller.org_id.map(|o| o.to_string()),
        memberships: memberships
            .into_iter()
            .map(|m| MembershipView {
                organization_id: m.org.id.to_string(),
                organization_name: m.org.name,
                role: m.role.to_string(),
                plan: m.org.plan_id,
                permissions: m.role.permissions(),
            })
            .collect(),
    }))
}
