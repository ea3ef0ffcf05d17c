//! The OpenAPI document, generated from the route annotations.

use crate::gateway::proxy;
use crate::routes::{admin, admin_billing, auth, billing, keys, orgs, usage, webhooks};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Kobo", description = "Multi-tenant AI API gateway with billing-grade metering and Naira-native billing. Errors use the envelope {\"error\": {\"type\", \"code\", \"message\", \"param\"}}."),
    paths(
        auth::signup, auth::token, auth::logout, auth::me,
        orgs::list_workspaces, orgs::create_workspace, orgs::list_members, orgs::invite_member, orgs::change_role, orgs::remove_member,
        keys::create, keys::list, keys::revoke, keys::rotate,
        proxy::list_models, proxy::chat_completions, proxy::completions, proxy::embeddings, proxy::native_complete,
        usage::summary, usage::records, usage::quotas,
        billing::plans, billing::subscribe, billing::current, billing::change_plan, billing::cancel, billing::callback, billing::payments,
        webhooks::paystack, webhooks::flutterwave,
        admin::organizations, admin::set_plan, admin::set_limits, admin::set_key_limits,
        admin::list_models, admin::create_model, admin::update_model, admin::delete_model,
        admin_billing::list_plans, admin_billing::create_plan, admin_billing::update_plan, admin_billing::payment_events, admin_billing::refund,
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
