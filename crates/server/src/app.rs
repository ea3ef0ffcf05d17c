//! Building the application and serving it until a shutdown signal.

use crate::error::ApiError;
use crate::gateway::key_cache::KeyCache;
use crate::routes::{admin, auth, keys, ops, orgs};
use crate::settings::Settings;
use crate::state::AppState;
use crate::telemetry;
use anyhow::Context;
use axum::extract::DefaultBodyLimit;
use axum::response::IntoResponse;
use axum::routing::{get, patch, post, put};
use axum::Router;
use kobo_domain::clock::Clock;
use kobo_store::Store;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

pub struct App {
    pub state: AppState,
}

impl App {
    /// Opens storage (migrating it), seeds catalogs, and prepares services.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        settings.validate()?;
        if settings.database_url.starts_with("sqlite:") {
            std::fs::create_dir_all(&settings.data_dir).with_context(|| {
                format!(
                    "cannot create the data folder {}",
                    settings.data_dir.display()
                )
            })?;
        }
        let clock = settings
            .test_now
            .map_or_else(Clock::system, Clock::starting_at);
        if clock.is_test_clock() {
            tracing::warn!(now = %clock.now(), "KOBO_TEST_NOW is set: the clock is moved (for tests and demos only).");
        }
        let store: Arc<dyn Store> = Arc::new(
            kobo_store::connect(&settings.database_url, 16)
                .await
                .context("cannot open the database")?,
        );
        let plans =
            kobo_domain::plan::default_catalog().context("the shipped plan catalog is invalid")?;
        store.seed_plans(&plans, clock.now_ms()).await?;
        for m in &settings.models {
            store.upsert_model(&m.to_record(clock.now_ms())).await?;
        }
        let keys = Arc::new(KeyCache::new(store.clone(), Duration::from_secs(1), None));
        let state = AppState {
            settings: Arc::new(settings),
            store,
            clock,
            keys,
        };
        if let (Some(email), Some(pw)) = (
            &state.settings.operator_email,
            &state.settings.operator_password,
        ) {
            use secrecy::ExposeSecret;
            crate::accounts::ensure_operator(&state, email, pw.expose_secret())
                .await
                .context("cannot create the operator account")?;
        }
        Ok(Self { state })
    }

    pub fn router(&self) -> Router {
        let account = Router::new()
            .route("/auth/signup", post(auth::signup))
            .route("/auth/token", post(auth::token))
            .route("/auth/logout", post(auth::logout))
            .route("/me", get(auth::me))
            .route(
                "/orgs/{org_id}/workspaces",
                get(orgs::list_workspaces).post(orgs::create_workspace),
            )
            .route(
                "/orgs/{org_id}/members",
                get(orgs::list_members).post(orgs::invite_member),
            )
            .route(
                "/orgs/{org_id}/members/{user_id}",
                patch(orgs::change_role).delete(orgs::remove_member),
            )
            .route(
                "/workspaces/{workspace_id}/api-keys",
                get(keys::list).post(keys::create),
            )
            .route("/api-keys/{key_id}", axum::routing::delete(keys::revoke))
            .route("/api-keys/{key_id}/rotate", post(keys::rotate))
            .route("/admin/organizations", get(admin::organizations))
            .route("/admin/organizations/{org_id}/plan", put(admin::set_plan))
            .route(
                "/admin/organizations/{org_id}/limits",
                put(admin::set_limits),
            )
            .layer(DefaultBodyLimit::max(self.state.settings.max_body_bytes));

        Router::new()
            .nest("/api/v1", account)
            .route("/health", get(ops::health))
            .route("/ready", get(ops::ready))
            .route("/openapi.json", get(ops::openapi))
            .route("/docs", get(ops::docs))
            .fallback(|| async { ApiError::not_found("route") })
            .method_not_allowed_fallback(|| async {
                ApiError::new(
                    axum::http::StatusCode::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    "this route does not accept that method",
                )
            })
            .layer(axum::middleware::from_fn(telemetry::request_span))
            .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
                tracing::error!("A request handler panicked.");
                ApiError::new(
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "internal error",
                )
                .into_response()
            }))
            .with_state(self.state.clone())
    }

    /// Serves on `listener` until `shutdown` completes; in-flight requests finish first.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let router = self.router();
        tracing::info!(address = %listener.local_addr()?, "Kobo is listening.");
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await?;
        tracing::info!("Kobo stopped accepting requests; finishing background work.");
        Ok(())
    }
}

/// SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
