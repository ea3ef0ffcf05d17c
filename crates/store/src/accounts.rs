//! Users, organizations, workspaces, memberships, invitations, sessions.

use crate::sql::{conflict, id, opt_id};
use crate::{
    Accounts, InvitationRecord, MemberRecord, MembershipOfUser, NewSignup, OrgRecord, Result,
    SessionRecord, SqlStore, StoreError, UserRecord, WorkspaceRecord,
};
use async_trait::async_trait;
use kobo_domain::ids::{OrgId, SessionId, UserId};
use kobo_domain::rbac::Role;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

const ORG_COLS: &str =
    "o.id, o.name, o.plan_id, o.status, o.billing_anchor_day, o.limits, o.created_at";

fn org_row(r: &AnyRow) -> Result<OrgRecord> {
    Ok(OrgRecord {
        id: id(r, "id")?,
        name: r.try_get("name")?,
        plan_id: r.try_get("plan_id")?,
        status: r.try_get("status")?,
        billing_anchor_day: u32::try_from(r.try_get::<i64, _>("billing_anchor_day")?).unwrap_or(1),
        limits: r.try_get("limits")?,
        created_at: r.try_get("created_at")?,
    })
}

fn user_row(r: &AnyRow) -> Result<UserRecord> {
    Ok(UserRecord {
        id: id(r, "id")?,
        email: r.try_get("email")?,
        password_hash: r.try_get("password_hash")?,
        is_operator: r.try_get::<i64, _>("is_operator")? != 0,
        created_at: r.try_get("created_at")?,
    })
}

fn role(r: &AnyRow) -> Result<Role> {
    let s: String = r.try_get("role")?;
    s.parse().map_err(StoreError::Corrupt)
}

fn workspace_row(r: &AnyRow) -> Result<WorkspaceRecord> {
    Ok(WorkspaceRecord {
        id: id(r, "id")?,
        org_id: id(r, "org_id")?,
        name: r.try_get("name")?,
        created_at: r.try_get("created_at")?,
    })
}

fn session_row(r: &AnyRow) -> Result<SessionRecord> {
    Ok(SessionRecord {
        id: id(r, "id")?,
        user_id: id(r, "user_id")?,
        org_id: opt_id(r, "org_id")?,
        secret_hash: r.try_get("secret_hash")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

/// Seats taken: members plus pending invitations.
async fn seats(tx: &mut Transaction<'static, Any>, org: OrgId) -> Result<u64> {
    let n: i64 = sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM memberships WHERE org_id = $1) \
              + (SELECT COUNT(*) FROM invitations WHERE org_id = $1 AND accepted_at IS NULL)",
    )
    .bind(org.to_string())
    .fetch_one(&mut **tx)
    .await?;
    Ok(u64::try_from(n).unwrap_or(0))
}

async fn owners(tx: &mut Transaction<'static, Any>, org: OrgId) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM memberships WHERE org_id = $1 AND role = 'owner'")
            .bind(org.to_string())
            .fetch_one(&mut **tx)
            .await?,
    )
}

async fn current_role(
    tx: &mut Transaction<'static, Any>,
    org: OrgId,
    user: UserId,
) -> Result<Role> {
    let row = sqlx::query("SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2")
        .bind(org.to_string())
        .bind(user.to_string())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(StoreError::NotFound)?;
    role(&row)
}

#[async_trait]
impl Accounts for SqlStore {
    async fn sign_up(&self, s: &NewSignup) -> Result<()> {
        let mut tx = self.write.begin().await?;
        sqlx::query("INSERT INTO users (id, email, password_hash, is_operator, created_at) VALUES ($1, $2, $3, 0, $4)")
            .bind(s.user.id.to_string())
            .bind(&s.user.email)
            .bind(&s.user.password_hash)
            .bind(s.user.created_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| conflict(e, "an account with this e-mail"))?;
        sqlx::query(
            "INSERT INTO organizations (id, name, plan_id, status, billing_anchor_day, limits, created_at) \
             VALUES ($1, $2, $3, 'active', $4, '{}', $5)",
        )
        .bind(s.org.id.to_string())
        .bind(&s.org.name)
        .bind(&s.org.plan_id)
        .bind(i64::from(s.org.billing_anchor_day))
        .bind(s.org.created_at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO workspaces (id, org_id, name, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(s.workspace.id.to_string())
        .bind(s.org.id.to_string())
        .bind(&s.workspace.name)
        .bind(s.workspace.created_at)
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, 'owner', $3)")
            .bind(s.org.id.to_string())
            .bind(s.user.id.to_string())
            .bind(s.user.created_at)
            .execute(&mut *tx)
            .await?;
        // Pending invitations for this address become memberships.
        sqlx::query(
            "INSERT INTO memberships (org_id, user_id, role, created_at) \
             SELECT org_id, $1, role, $2 FROM invitations WHERE email = $3 AND accepted_at IS NULL",
        )
        .bind(s.user.id.to_string())
        .bind(s.user.created_at)
        .bind(&s.user.email)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE invitations SET accepted_at = $1 WHERE email = $2 AND accepted_at IS NULL",
        )
        .bind(s.user.created_at)
        .bind(&s.user.email)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>> {
        sqlx::query(
            "SELECT id, email, password_hash, is_operator, created_at FROM users WHERE email = $1",
        )
        .bind(email)
        .fetch_optional(&self.read)
        .await?
        .as_ref()
        .map(user_row)
        .transpose()
    }

    async fn user(&self, user: UserId) -> Result<Option<UserRecord>> {
        sqlx::query(
            "SELECT id, email, password_hash, is_operator, created_at FROM users WHERE id = $1",
        )
        .bind(user.to_string())
        .fetch_optional(&self.read)
        .await?
        .as_ref()
        .map(user_row)
        .transpose()
    }

    async fn ensure_operator(
        &self,
        email: &str,
        password_hash: &str,
        now_ms: i64,
    ) -> Result<UserId> {
        let mut tx = self.write.begin().await?;
        let existing: Option<String> = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
            .bind(email)
            .fetch_optional(&mut *tx)
            .await?;
        let user = match existing {
            Some(s) => {
                sqlx::query("UPDATE users SET password_hash = $1, is_operator = 1 WHERE id = $2")
                    .bind(password_hash)
                    .bind(&s)
                    .execute(&mut *tx)
                    .await?;
                s.parse()
                    .map_err(|_| StoreError::Corrupt("bad user id".into()))?
            }
            None => {
                let id = UserId::new();
                sqlx::query("INSERT INTO users (id, email, password_hash, is_operator, created_at) VALUES ($1, $2, $3, 1, $4)")
                    .bind(id.to_string())
                    .bind(email)
                    .bind(password_hash)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
                id
            }
        };
        tx.commit().await?;
        Ok(user)
    }

    async fn memberships_of(&self, user: UserId) -> Result<Vec<MembershipOfUser>> {
        let rows = sqlx::query(&format!(
            "SELECT {ORG_COLS}, m.role FROM memberships m JOIN organizations o ON o.id = m.org_id \
             WHERE m.user_id = $1 ORDER BY m.created_at, o.id"
        ))
        .bind(user.to_string())
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(MembershipOfUser {
                    org: org_row(r)?,
                    role: role(r)?,
                })
            })
            .collect()
    }

    async fn role_of(&self, org: OrgId, user: UserId) -> Result<Option<Role>> {
        sqlx::query("SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2")
            .bind(org.to_string())
            .bind(user.to_string())
            .fetch_optional(&self.read)
            .await?
            .as_ref()
            .map(role)
            .transpose()
    }

    async fn organization(&self, org: OrgId) -> Result<Option<OrgRecord>> {
        sqlx::query(&format!(
            "SELECT {ORG_COLS} FROM organizations o WHERE o.id = $1"
        ))
        .bind(org.to_string())
        .fetch_optional(&self.read)
        .await?
        .as_ref()
        .map(org_row)
        .transpose()
    }

    async fn list_organizations(&self, after: Option<OrgId>, limit: u32) -> Result<Vec<OrgRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {ORG_COLS} FROM organizations o WHERE o.id > $1 ORDER BY o.id LIMIT $2"
        ))
        .bind(after.map(|a| a.to_string()).unwrap_or_default())
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(org_row).collect()
    }

    async fn set_org_plan(&self, org: OrgId, plan_id: &str) -> Result<()> {
        let done = sqlx::query("UPDATE organizations SET plan_id = $1 WHERE id = $2")
            .bind(plan_id)
            .bind(org.to_string())
            .execute(&self.write)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn set_org_limits(&self, org: OrgId, limits_json: &str) -> Result<()> {
        let done = sqlx::query("UPDATE organizations SET limits = $1 WHERE id = $2")
            .bind(limits_json)
            .bind(org.to_string())
            .execute(&self.write)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn workspaces(&self, org: OrgId) -> Result<Vec<WorkspaceRecord>> {
        let mut tx = self.tenant_tx(org).await?;
        let rows = sqlx::query("SELECT id, org_id, name, created_at FROM workspaces WHERE org_id = $1 ORDER BY created_at, id")
            .bind(org.to_string())
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        rows.iter().map(workspace_row).collect()
    }

    async fn workspace(
        &self,
        org: OrgId,
        ws: kobo_domain::ids::WorkspaceId,
    ) -> Result<Option<WorkspaceRecord>> {
        let mut tx = self.tenant_tx(org).await?;
        let row = sqlx::query(
            "SELECT id, org_id, name, created_at FROM workspaces WHERE org_id = $1 AND id = $2",
        )
        .bind(org.to_string())
        .bind(ws.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        row.as_ref().map(workspace_row).transpose()
    }

    async fn create_workspace(&self, w: &WorkspaceRecord, max: Option<u64>) -> Result<()> {
        let mut tx = self.write.begin().await?;
        if let Some(max) = max {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM workspaces WHERE org_id = $1")
                .bind(w.org_id.to_string())
                .fetch_one(&mut *tx)
                .await?;
            if u64::try_from(n).unwrap_or(0) >= max {
                return Err(StoreError::LimitReached("workspaces", max));
            }
        }
        sqlx::query(
            "INSERT INTO workspaces (id, org_id, name, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(w.id.to_string())
        .bind(w.org_id.to_string())
        .bind(&w.name)
        .bind(w.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| conflict(e, "a workspace with this name"))?;
        tx.commit().await?;
        Ok(())
    }

    async fn members(&self, org: OrgId) -> Result<Vec<MemberRecord>> {
        let mut tx = self.tenant_tx(org).await?;
        let rows = sqlx::query(
            "SELECT m.user_id, u.email, m.role, m.created_at FROM memberships m JOIN users u ON u.id = m.user_id \
             WHERE m.org_id = $1 ORDER BY m.created_at, u.email",
        )
        .bind(org.to_string())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| {
                Ok(MemberRecord {
                    user_id: id(r, "user_id")?,
                    email: r.try_get("email")?,
                    role: role(r)?,
                    joined_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    async fn invitations(&self, org: OrgId) -> Result<Vec<InvitationRecord>> {
        let mut tx = self.tenant_tx(org).await?;
        let rows = sqlx::query(
            "SELECT id, org_id, email, role, invited_by, created_at FROM invitations \
             WHERE org_id = $1 AND accepted_at IS NULL ORDER BY created_at, email",
        )
        .bind(org.to_string())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| {
                Ok(InvitationRecord {
                    id: id(r, "id")?,
                    org_id: id(r, "org_id")?,
                    email: r.try_get("email")?,
                    role: role(r)?,
                    invited_by: id(r, "invited_by")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    async fn add_member(
        &self,
        org: OrgId,
        user: UserId,
        role: Role,
        now_ms: i64,
        max: Option<u64>,
    ) -> Result<()> {
        let mut tx = self.write.begin().await?;
        if let Some(max) = max {
            if seats(&mut tx, org).await? >= max {
                return Err(StoreError::LimitReached("members", max));
            }
        }
        sqlx::query(
            "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(org.to_string())
        .bind(user.to_string())
        .bind(role.as_str())
        .bind(now_ms)
        .execute(&mut *tx)
        .await
        .map_err(|e| conflict(e, "this member"))?;
        tx.commit().await?;
        Ok(())
    }

    async fn invite(&self, inv: &InvitationRecord, max: Option<u64>) -> Result<()> {
        let mut tx = self.write.begin().await?;
        if let Some(max) = max {
            if seats(&mut tx, inv.org_id).await? >= max {
                return Err(StoreError::LimitReached("members", max));
            }
        }
        sqlx::query(
            "INSERT INTO invitations (id, org_id, email, role, invited_by, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(inv.id.to_string())
        .bind(inv.org_id.to_string())
        .bind(&inv.email)
        .bind(inv.role.as_str())
        .bind(inv.invited_by.to_string())
        .bind(inv.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| conflict(e, "an invitation for this e-mail"))?;
        tx.commit().await?;
        Ok(())
    }

    async fn change_role(&self, org: OrgId, user: UserId, new_role: Role) -> Result<()> {
        let mut tx = self.write.begin().await?;
        if self.backend == crate::Backend::Postgres {
            // Serialise owner changes per organization so two demotions cannot both pass.
            sqlx::query("SELECT id FROM organizations WHERE id = $1 FOR UPDATE")
                .bind(org.to_string())
                .execute(&mut *tx)
                .await?;
        }
        let old = current_role(&mut tx, org, user).await?;
        if old == Role::Owner && new_role != Role::Owner && owners(&mut tx, org).await? <= 1 {
            return Err(StoreError::Rule(
                "an organization must keep at least one owner",
            ));
        }
        sqlx::query("UPDATE memberships SET role = $1 WHERE org_id = $2 AND user_id = $3")
            .bind(new_role.as_str())
            .bind(org.to_string())
            .bind(user.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn remove_member(&self, org: OrgId, user: UserId, now_ms: i64) -> Result<()> {
        let mut tx = self.write.begin().await?;
        if self.backend == crate::Backend::Postgres {
            sqlx::query("SELECT id FROM organizations WHERE id = $1 FOR UPDATE")
                .bind(org.to_string())
                .execute(&mut *tx)
                .await?;
        }
        let old = current_role(&mut tx, org, user).await?;
        if old == Role::Owner && owners(&mut tx, org).await? <= 1 {
            return Err(StoreError::Rule(
                "an organization must keep at least one owner",
            ));
        }
        sqlx::query("DELETE FROM memberships WHERE org_id = $1 AND user_id = $2")
            .bind(org.to_string())
            .bind(user.to_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND org_id = $3 AND revoked_at IS NULL")
            .bind(now_ms)
            .bind(user.to_string())
            .bind(org.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn create_session(&self, s: &SessionRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO sessions (id, user_id, org_id, secret_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(s.id.to_string())
        .bind(s.user_id.to_string())
        .bind(s.org_id.map(|o| o.to_string()))
        .bind(&s.secret_hash)
        .bind(s.created_at)
        .bind(s.expires_at)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn session(&self, sid: SessionId) -> Result<Option<SessionRecord>> {
        sqlx::query("SELECT id, user_id, org_id, secret_hash, created_at, expires_at, revoked_at FROM sessions WHERE id = $1")
            .bind(sid.to_string())
            .fetch_optional(&self.read)
            .await?
            .as_ref()
            .map(session_row)
            .transpose()
    }

    async fn revoke_session(&self, sid: SessionId, now_ms: i64) -> Result<()> {
        sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now_ms)
            .bind(sid.to_string())
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn record_login_failure(&self, email: &str, now_ms: i64) -> Result<()> {
        sqlx::query("INSERT INTO login_failures (email, failed_at) VALUES ($1, $2)")
            .bind(email)
            .bind(now_ms)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn login_failures_since(&self, email: &str, since_ms: i64) -> Result<Vec<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT failed_at FROM login_failures WHERE email = $1 AND failed_at >= $2 ORDER BY failed_at",
        )
        .bind(email)
        .bind(since_ms)
        .fetch_all(&self.read)
        .await?)
    }

    async fn clear_login_failures(&self, email: &str) -> Result<()> {
        sqlx::query("DELETE FROM login_failures WHERE email = $1")
            .bind(email)
            .execute(&self.write)
            .await?;
        Ok(())
    }
}
