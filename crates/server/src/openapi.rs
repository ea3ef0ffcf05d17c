//! The OpenAPI document, generated from the route annotations.

use crate::routes::{admin, auth, keys, orgs};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Kobo", description = "Multi-tenant AI API gateway with billing-grade metering and Naira-native billing. Errors use the envelope {\"error\": {\"type\", \"code\", \"message\", \"param\"}}."),
    paths(
        auth::signup, auth::token, auth::logout, auth::me,
        orgs::list_workspaces, orgs::create_workspace, orgs::list_members, orgs::invite_member, orgs::change_role, orgs::remove_member,
        keys::create, keys::list, keys::revoke, keys::rotate,
        admin::organizations, admin::set_plan, admin::set_limits,
    ),
    modifiers(&Security),
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("kobo_st_…")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("kobo_sk_…")
                    .build(),
            ),
        );
    }
}
