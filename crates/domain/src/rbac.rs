//! Roles and the permissions they grant. Every route checks membership, then permission.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Admin,
    Member,
    Viewer,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Permission {
    #[serde(rename = "billing:read")]
    BillingRead,
    #[serde(rename = "billing:manage")]
    BillingManage,
    #[serde(rename = "api_keys:create")]
    ApiKeysCreate,
    #[serde(rename = "api_keys:read")]
    ApiKeysRead,
    #[serde(rename = "api_keys:delete")]
    ApiKeysDelete,
    #[serde(rename = "users:invite")]
    UsersInvite,
    #[serde(rename = "users:manage")]
    UsersManage,
    #[serde(rename = "models:read")]
    ModelsRead,
    #[serde(rename = "workspaces:manage")]
    WorkspacesManage,
    #[serde(rename = "usage:read")]
    UsageRead,
}

impl Permission {
    pub const ALL: [Permission; 10] = [
        Permission::BillingRead,
        Permission::BillingManage,
        Permission::ApiKeysCreate,
        Permission::ApiKeysRead,
        Permission::ApiKeysDelete,
        Permission::UsersInvite,
        Permission::UsersManage,
        Permission::ModelsRead,
        Permission::WorkspacesManage,
        Permission::UsageRead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::BillingRead => "billing:read",
            Permission::BillingManage => "billing:manage",
            Permission::ApiKeysCreate => "api_keys:create",
            Permission::ApiKeysRead => "api_keys:read",
            Permission::ApiKeysDelete => "api_keys:delete",
            Permission::UsersInvite => "users:invite",
            Permission::UsersManage => "users:manage",
            Permission::ModelsRead => "models:read",
            Permission::WorkspacesManage => "workspaces:manage",
            Permission::UsageRead => "usage:read",
        }
    }
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Owner, Role::Admin, Role::Member, Role::Viewer];

    /// The permission table of the foundation issue. Owners hold every permission.
    /// `workspaces:manage` and `usage:read` extend it: creating workspaces is an
    /// owner/admin act, and every member may read the organization's usage.
    pub fn grants(self, p: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Owner => true,
            Role::Admin => matches!(
                p,
                BillingRead
                    | ApiKeysCreate
                    | ApiKeysRead
                    | ApiKeysDelete
                    | UsersInvite
                    | UsersManage
                    | ModelsRead
                    | WorkspacesManage
                    | UsageRead
            ),
            Role::Member => matches!(p, ApiKeysCreate | ApiKeysRead | ModelsRead | UsageRead),
            Role::Viewer => matches!(p, ApiKeysRead | ModelsRead | UsageRead),
        }
    }

    pub fn permissions(self) -> Vec<&'static str> {
        Permission::ALL
            .iter()
            .filter(|p| self.grants(**p))
            .map(|p| p.as_str())
            .collect()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Viewer => "viewer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "owner" => Ok(Role::Owner),
            "admin" => Ok(Role::Admin),
            "member" => Ok(Role::Member),
            "viewer" => Ok(Role::Viewer),
            other => Err(format!("unknown role `{other}`")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_the_issue() {
        use Permission::*;
        assert!(Permission::ALL.iter().all(|p| Role::Owner.grants(*p)));
        assert!(Role::Admin.grants(BillingRead) && !Role::Admin.grants(BillingManage));
        assert!(Role::Member.grants(ApiKeysCreate) && !Role::Member.grants(ApiKeysDelete));
        assert!(!Role::Member.grants(UsersInvite));
        assert!(Role::Viewer.grants(ApiKeysRead) && !Role::Viewer.grants(ApiKeysCreate));
        assert_eq!("admin".parse::<Role>(), Ok(Role::Admin));
        assert!("root".parse::<Role>().is_err());
    }
}
