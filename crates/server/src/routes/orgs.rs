//! `/api/v1/orgs/{org_id}/workspaces` and `/members`.

use crate::error::{ApiError, ApiResult};
use crate::extract::{parse_id, Caller, JsonBody};
use crate::state::AppState;
use crate::tenancy::org_and_plan;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use kobo_domain::email::Email;
use kobo_domain::ids::{InvitationId, OrgId, UserId, WorkspaceId};
use kobo_domain::rbac::{Permission, Role};
use kobo_store::{InvitationRecord, WorkspaceRecord};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct WorkspaceView {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    pub created_at: String,
}

impl From<WorkspaceRecord> for WorkspaceView {
    fn from(w: WorkspaceRecord) -> Self {
        Self {
            id: w.id.to_string(),
            organization_id: w.org_id.to_string(),
            name: w.name,
            created_at: rfc3339(w.created_at),
        }
    }
}

pub fn rfc3339(ms: i64) -> String {
    kobo_domain::clock::from_ms(ms).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[derive(Serialize, ToSchema)]
pub struct List<T> {
    pub data: Vec<T>,
}

#[derive(Deserialize, ToSchema)]
pub struct CreateWorkspace {
    pub name: String,
}

#[utoipa::path(get, path = "/api/v1/orgs/{org_id}/workspaces", tag = "accounts", responses((status = 200, body = List<WorkspaceView>)), security(("session" = [])))]
pub async fn list_workspaces(
    State(state): State<AppState>,
    caller: Caller,
    Path(org): Path<String>,
) -> ApiResult<Json<List<WorkspaceView>>> {
    let org: OrgId = parse_id(&org, "organization")?;
    caller.role_in(&state, org).await?;
    let data = state
        .store
        .workspaces(org)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(Json(List { data }))
}

#[utoipa::path(post, path = "/api/v1/orgs/{org_id}/workspaces", tag = "accounts", request_body = CreateWorkspace,
    responses((status = 201, body = WorkspaceView), (status = 403, description = "quota_exceeded or permission_denied")), security(("session" = [])))]
pub async fn create_workspace(
    State(state): State<AppState>,
    caller: Caller,
    Path(org): Path<String>,
    JsonBody(req): JsonBody<CreateWorkspace>,
) -> ApiResult<(StatusCode, Json<WorkspaceView>)> {
    let org: OrgId = parse_id(&org, "organization")?;
    caller
        .authorize(&state, org, Permission::WorkspacesManage)
        .await?;
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(
            ApiError::unprocessable("invalid_request", "name must be 1 to 100 characters")
                .with_param("name"),
        );
    }
    let (_, plan) = org_and_plan(&state, org).await?;
    let w = WorkspaceRecord {
        id: WorkspaceId::new(),
        org_id: org,
        name: name.to_string(),
        created_at: state.clock.now_ms(),
    };
    state.store.create_workspace(&w, plan.workspaces).await?;
    Ok((StatusCode::CREATED, Json(w.into())))
}

#[derive(Serialize, ToSchema)]
pub struct MemberView {
    pub user_id: Option<String>,
    pub email: String,
    pub role: String,
    /// `active` or `invited` (no account yet).
    pub status: &'static str,
    pub since: String,
}

#[utoipa::path(get, path = "/api/v1/orgs/{org_id}/members", tag = "accounts", responses((status = 200, body = List<MemberView>)), security(("session" = [])))]
pub async fn list_members(
    State(state): State<AppState>,
    caller: Caller,
    Path(org): Path<String>,
) -> ApiResult<Json<List<MemberView>>> {
    let org: OrgId = parse_id(&org, "organization")?;
    caller.role_in(&state, org).await?;
    let mut data: Vec<MemberView> = state
        .store
        .members(org)
        .await?
        .into_iter()
        .map(|m| MemberView {
            user_id: Some(m.user_id.to_string()),
            email: m.email,
            role: m.role.to_string(),
            status: "active",
            since: rfc3339(m.joined_at),
        })
        .collect();
    data.extend(
        state
            .store
            .invitations(org)
            .await?
            .into_iter()
            .map(|i| MemberView {
                user_id: None,
                email: i.email,
                role: i.role.to_string(),
                status: "invited",
                since: rfc3339(i.created_at),
            }),
    );
    Ok(Json(List { data }))
}

#[derive(Deserialize, ToSchema)]
pub struct InviteRequest {
    pub email: String,
    #[schema(value_type = String, example = "member")]
    pub role: Role,
}

fn check_grant(granter: Role, role: Role) -> ApiResult<()> {
    if role == Role::Owner && granter != Role::Owner {
        return Err(ApiError::forbidden(
            "permission_denied",
            "only an owner may grant the owner role",
        ));
    }
    Ok(())
}

#[utoipa::path(post, path = "/api/v1/orgs/{org_id}/members", tag = "accounts", request_body = InviteRequest,
    responses((status = 201, body = MemberView), (status = 409, description = "already a member or invited")), security(("session" = [])))]
pub async fn invite_member(
    State(state): State<AppState>,
    caller: Caller,
    Path(org): Path<String>,
    JsonBody(req): JsonBody<InviteRequest>,
) -> ApiResult<(StatusCode, Json<MemberView>)> {
    let org: OrgId = parse_id(&org, "organization")?;
    let my_role = caller
        .authorize(&state, org, Permission::UsersInvite)
        .await?;
    check_grant(my_role, req.role)?;
    let email = Email::parse(&req.email)
        .map_err(|e| ApiError::unprocessable("invalid_email", e.to_string()).with_param("email"))?;
    let (_, plan) = org_and_plan(&state, org).await?;
    let now = state.clock.now_ms();
    let view = match state.store.user_by_email(email.as_str()).await? {
        Some(user) => {
            state
                .store
                .add_member(org, user.id, req.role, now, plan.members)
                .await
                .map_err(already("a member"))?;
            MemberView {
                user_id: Some(user.id.to_string()),
                email: user.email,
                role: req.role.to_string(),
                status: "active",
                since: rfc3339(now),
            }
        }
        None => {
            let inv = InvitationRecord {
                id: InvitationId::new(),
                org_id: org,
                email: email.to_string(),
                role: req.role,
                invited_by: caller.user_id,
                created_at: now,
            };
            state
                .store
                .invite(&inv, plan.members)
                .await
                .map_err(already("invited"))?;
            MemberView {
                user_id: None,
                email: inv.email,
                role: req.role.to_string(),
                status: "invited",
                since: rfc3339(now),
            }
        }
    };
    Ok((StatusCode::CREATED, Json(view)))
}

fn already(what: &'static str) -> impl Fn(kobo_store::StoreError) -> ApiError {
    move |e| match e {
        kobo_store::StoreError::Conflict(_) => {
            ApiError::conflict("already_member", format!("this person is already {what}"))
        }
        other => other.into(),
    }
}

#[derive(Deserialize, ToSchema)]
pub struct ChangeRole {
    #[schema(value_type = String, example = "admin")]
    pub role: Role,
}

#[utoipa::path(patch, path = "/api/v1/orgs/{org_id}/members/{user_id}", tag = "accounts", request_body = ChangeRole,
    responses((status = 200, body = MemberView), (status = 409, description = "last_owner")), security(("session" = [])))]
pub async fn change_role(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, user)): Path<(String, String)>,
    JsonBody(req): JsonBody<ChangeRole>,
) -> ApiResult<Json<MemberView>> {
    let org: OrgId = parse_id(&org, "organization")?;
    let my_role = caller
        .authorize(&state, org, Permission::UsersManage)
        .await?;
    let user: UserId = parse_id(&user, "member")?;
    let target = state
        .store
        .role_of(org, user)
        .await?
        .ok_or_else(|| ApiError::not_found("member"))?;
    // Owners are changed only by owners; nobody is raised above the granter.
    check_grant(my_role, target)?;
    check_grant(my_role, req.role)?;
    state.store.change_role(org, user, req.role).await?;
    let email = state
        .store
        .user(user)
        .await?
        .map(|u| u.email)
        .unwrap_or_default();
    Ok(Json(MemberView {
        user_id: Some(user.to_string()),
        email,
        role: req.role.to_string(),
        status: "active",
        since: rfc3339(state.clock.now_ms()),
    }))
}

#[utoipa::path(delete, path = "/api/v1/orgs/{org_id}/members/{user_id}", tag = "accounts",
    responses((status = 204), (status = 409, description = "last_owner")), security(("session" = [])))]
pub async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, user)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let org: OrgId = parse_id(&org, "organization")?;
    let my_role = caller
        .authorize(&state, org, Permission::UsersManage)
        .await?;
    let user: UserId = parse_id(&user, "member")?;
    let target = state
        .store
        .role_of(org, user)
        .await?
        .ok_or_else(|| ApiError::not_found("member"))?;
    check_grant(my_role, target)?;
    state
        .store
        .remove_member(org, user, state.clock.now_ms())
        .await?;
    tracing::info!(org_id = %org, user_id = %user, "A member was removed and their sessions revoked.");
    Ok(StatusCode::NO_CONTENT)
}
