//! Typed identifiers. An `OrgId` can never be passed where a `WorkspaceId` belongs.
//!
//! Ids are UUIDv7 (time-ordered, so primary-key inserts stay append-friendly) and are
//! stored and sent as their canonical hyphenated text.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

typed_id!(
    /// An organization: the paying tenant.
    OrgId
);
typed_id!(
    /// A workspace inside an organization.
    WorkspaceId
);
typed_id!(
    /// A person who signs in.
    UserId
);
typed_id!(
    /// A machine credential.
    ApiKeyId
);
typed_id!(
    /// One issued session token, so it can be revoked.
    SessionId
);
typed_id!(
    /// A pending invitation.
    InvitationId
);
typed_id!(
    /// One gateway request; also its usage record's id.
    RequestId
);
