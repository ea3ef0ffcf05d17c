//! Request extractors with our error envelope: JSON bodies, session credentials.

use crate::error::ApiError;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts, StatusCode};
use kobo_domain::ids::{OrgId, SessionId, UserId};
use kobo_domain::rbac::{Permission, Role};
use serde::de::DeserializeOwned;

/// A JSON body: malformed JSON is 400 `invalid_json`, a wrong shape or type is 422
/// `invalid_request`, a body over the limit is 413 `body_too_large`. Unknown fields are
/// ignored. The Content-Type is not insisted on: a body that parses is accepted.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, state).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// The raw body, with a too-large or unreadable one answered in our envelope.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        read_body(req, state).await.map(RawBody)
    }
}

/// Query parameters; a malformed one is 422 `invalid_query` naming the problem.
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> axum::extract::FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(q)| QueryParams(q))
            .map_err(|rej| ApiError::unprocessable("invalid_query", rej.body_text()))
    }
}

pub async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rej| {
        if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "the request body is too large",
            )
        } else {
            ApiError::bad_request("invalid_body", rej.body_text())
        }
    })
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ApiError::bad_request(
            "invalid_json",
            "the request body is empty; a JSON object is expected",
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Syntax | Category::Eof | Category::Io => ApiError::bad_request(
                "invalid_json",
                format!("the request body is not valid JSON: {e}"),
            ),
            Category::Data => ApiError::unprocessable(
                "invalid_request",
                format!("the request body has a wrong field: {e}"),
            ),
        }
    })
}

/// The bearer credential of a request, from `Authorization: Bearer …` or `x-api-key`.
pub fn bearer(parts: &Parts) -> Option<&str> {
    if let Some(v) = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let v = v.trim();
        let (scheme, token) = v.split_once(' ')?;
        return scheme.eq_ignore_ascii_case("bearer").then(|| token.trim());
    }
    parts
        .headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// A signed-in user, from a valid session token.
#[derive(Clone, Debug)]
pub struct Caller {
    pub user_id: UserId,
    pub email: String,
    pub org_id: Option<OrgId>,
    pub session_id: SessionId,
    pub is_operator: bool,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or_else(|| {
            ApiError::unauthorized(
                "missing_credentials",
                "send a session token as `Authorization: Bearer <token>`",
            )
        })?;
        let caller = crate::accounts::authenticate_session(state, token).await?;
        tracing::Span::current().record(
            "tenant_id",
            tracing::field::display(caller.org_id.map(|o| o.to_string()).unwrap_or_default()),
        );
        Ok(caller)
    }
}

impl Caller {
    /// Membership first (another organization's id answers 404), then permission (403).
    pub async fn authorize(
        &self,
        state: &AppState,
        org: OrgId,
        perm: Permission,
    ) -> Result<Role, ApiError> {
        let role = self.role_in(state, org).await?;
        if !role.grants(perm) {
            return Err(ApiError::forbidden(
                "permission_denied",
                format!(
                    "your role `{role}` lacks the permission `{}`",
                    perm.as_str()
                ),
            ));
        }
        Ok(role)
    }

    /// The caller's role in `org`; 404 unless the session is bound to it and the membership holds.
    pub async fn role_in(&self, state: &AppState, org: OrgId) -> Result<Role, ApiError> {
        if self.org_id != Some(org) {
            return Err(ApiError::not_found("organization"));
        }
        state
            .store
            .role_of(org, self.user_id)
            .await?
            .ok_or_else(|| ApiError::not_found("organization"))
    }

    /// The organization the session is bound to.
    pub fn org(&self) -> Result<OrgId, ApiError> {
        self.org_id
            .ok_or_else(|| ApiError::not_found("organization"))
    }

    pub fn require_operator(&self) -> Result<(), ApiError> {
        if self.is_operator {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "operator_only",
                "this route is for the platform operator",
            ))
        }
    }
}

/// A path id that does not parse is simply not found (it cannot name anything).
pub fn parse_id<T: std::str::FromStr>(raw: &str, what: &str) -> Result<T, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found(what))
}
