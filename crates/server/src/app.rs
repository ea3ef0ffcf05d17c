//! Building the application and serving it until a shutdown signal.

use crate::error::ApiError;
use crate::gateway::admission::Admission;
use crate::gateway::auth::LastUsed;
use crate::gateway::catalog::ModelCatalog;
use crate::gateway::key_cache::KeyCache;
use crate::gateway::proxy;
use crate::gateway::tenants::TenantCache;
use crate::metering::journal::Journal;
use crate::metering::mover::Mover;
use crate::routes::{
    admin, admin_billing, auth, billing, invoices, keys, ops, orgs, usage, webhooks,
};
use crate::settings::Settings;
use crate::state::AppState;
use crate::telemetry;
use anyhow::Context;
use axum::extract::DefaultBodyLimit;
use axum::response::IntoResponse;
use axum::routing::{get, patch, post, put};
use axum::Router;
use kobo_domain::clock::Clock;
use kobo_limits::{Limiter, LocalLimiter, RedisBus, RedisLimiter};
use kobo_store::Store;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Gateway bodies carry whole conversations: allow more than the account routes.
const GATEWAY_BODY_LIMIT: usize = 16 * 1024 * 1024;

/// What the application is built for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Server,
    Command,
}

pub struct App {
    pub state: AppState,
    background: Background,
}

/// Supervised background work: stopped and drained on shutdown.
struct Background {
    stop: CancellationToken,
    tasks: TaskTracker,
    mover: Option<Mover>,
}

impl App {
    /// Opens storage (migrating it), seeds catalogs, prepares services, takes the data
    /// folder's usage journal (replaying what an earlier run left) and starts the
    /// background work: everything `kobo serve` needs.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_as(settings, Role::Server).await
    }

    /// The same services for a one-off command (`kobo migrate`, `kobo admin …`,
    /// `kobo billing …`): no usage journal and no background work, so it is safe to run
    /// beside a server on the same data folder.
    pub async fn build_for_command(settings: Settings) -> anyhow::Result<Self> {
        Self::build_as(settings, Role::Command).await
    }

    async fn build_as(settings: Settings, role: Role) -> anyhow::Result<Self> {
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
        let plans = match &settings.plans_file {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| {
                    format!(
                        "cannot read the plan catalog {} (KOBO_PLANS_FILE)",
                        path.display()
                    )
                })?;
                kobo_domain::plan::parse_catalog(&text)
                    .with_context(|| format!("the plan catalog {} is invalid", path.display()))?
            }
            None => kobo_domain::plan::default_catalog()
                .context("the shipped plan catalog is invalid")?,
        };
        store.seed_plans(&plans, clock.now_ms()).await?;
        for m in &settings.models {
            store.upsert_model(&m.to_record(clock.now_ms())).await?;
        }
        let stop = CancellationToken::new();
        let tasks = TaskTracker::new();

        // Limits: Redis when configured (shared by replicas), else in process.
        let local: Arc<dyn Limiter> = Arc::new(LocalLimiter::new());
        let (limiter, fallback, bus) = match &settings.redis_url {
            Some(url) => {
                let ns = settings.redis_namespace.clone();
                let redis = RedisLimiter::connect(url, &ns, Duration::from_millis(500))
                    .await
                    .context("cannot reach Redis (KOBO_REDIS_URL)")?;
                let bus = RedisBus::connect(url, &ns)
                    .await
                    .context("cannot reach Redis (KOBO_REDIS_URL)")?;
                (
                    Arc::new(redis) as Arc<dyn Limiter>,
                    Some(local),
                    Some(Arc::new(bus)),
                )
            }
            None => (local, None, None),
        };
        // With a bus, revocations are pushed and the TTL is only a safety net.
        let key_ttl = Duration::from_secs(if bus.is_some() { 30 } else { 1 });
        let keys = Arc::new(KeyCache::new(store.clone(), key_ttl, bus.clone()));
        let catalog = Arc::new(ModelCatalog::new(store.clone(), &settings.upstreams)?);
        catalog.reload().await?;
        let admission = Arc::new(Admission::new(
            limiter,
            fallback,
            settings.rate_limiter_failure,
            store.clone(),
        ));

        // The usage journal: open a new segment, then replay what earlier runs left.
        let journal_dir = settings.data_dir.join("journal");
        let (journal, mover) = match role {
            Role::Command => (Journal::detached(&journal_dir), None),
            Role::Server => {
                let (journal, _writer) =
                    Journal::open(&journal_dir, settings.usage_journal_durability)
                        .context("cannot open the usage journal")?;
                let mover = Mover::new(store.clone(), journal.shared.clone());
                let replayed = mover
                    .drain()
                    .await
                    .context("cannot replay the usage journal")?;
                if replayed > 0 {
                    tracing::info!(
                        records = replayed,
                        "Usage records left in the journal by an earlier run were moved to the database."
                    );
                }
                (journal, Some(mover))
            }
        };

        let payments = crate::billing::providers::Providers::from_settings(&settings)
            .context("the payment provider settings are invalid")?;
        let state = AppState {
            settings: Arc::new(settings),
            tenants: Arc::new(TenantCache::new(store.clone(), Duration::from_secs(1))),
            store,
            clock,
            keys,
            catalog,
            admission,
            journal,
            last_used: Arc::new(LastUsed::default()),
            payments: Arc::new(payments),
            tasks: TaskTracker::new(),
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
        if role == Role::Command {
            return Ok(Self {
                state,
                background: Background {
                    stop,
                    tasks,
                    mover: None,
                },
            });
        }
        if let Some(bus) = bus {
            tasks.spawn(listen_for_invalidations(
                bus,
                state.keys.clone(),
                stop.clone(),
            ));
        }
        tasks.spawn(housekeeping(state.clone(), stop.clone()));
        tasks.spawn(crate::invoices::schedule::run(state.clone(), stop.clone()));
        tasks.spawn(crate::billing::schedule::renewals(
            state.clone(),
            stop.clone(),
        ));
        Ok(Self {
            state,
            background: Background { stop, tasks, mover },
        })
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
            .route(
                "/admin/models",
                get(admin::list_models).post(admin::create_model),
            )
            .route(
                "/admin/models/{name}",
                put(admin::update_model).delete(admin::delete_model),
            )
            .route(
                "/admin/plans",
                get(admin_billing::list_plans).post(admin_billing::create_plan),
            )
            .route("/admin/plans/{id}", put(admin_billing::update_plan))
            .route(
                "/admin/organizations/{org_id}/api-keys/{key_id}/limits",
                put(admin::set_key_limits),
            )
            .route("/admin/payment-events", get(admin_billing::payment_events))
            .route(
                "/admin/payments/{reference}/refund",
                post(admin_billing::refund),
            )
            .route("/billing/plans", get(billing::plans))
            .route("/billing/subscriptions", post(billing::subscribe))
            .route("/billing/subscriptions/current", get(billing::current))
            .route(
                "/billing/subscriptions/{id}/change-plan",
                post(billing::change_plan),
            )
            .route("/billing/subscriptions/{id}/cancel", post(billing::cancel))
            .route("/billing/payments", get(billing::payments))
            .route("/billing/callback", get(billing::callback))
            .route("/billing/invoices", get(invoices::list))
            .route("/billing/invoices/{id}", get(invoices::get_one))
            .route("/billing/invoices/{id}/pdf", get(invoices::pdf))
            .route("/admin/invoices/{id}/cancel", post(invoices::cancel))
            .route(
                "/admin/invoices/{id}/credit-notes",
                post(invoices::credit_note),
            )
            .route("/admin/billing/run", post(invoices::run))
            .route(
                "/admin/tax-rates",
                get(invoices::tax_rates).post(invoices::add_tax_rate),
            )
            .route(
                "/admin/holidays",
                get(invoices::holidays).post(invoices::add_holiday),
            )
            .route(
                "/admin/organizations/{org_id}/invoice-prefix",
                put(invoices::set_prefix),
            )
            .route("/webhooks/paystack", post(webhooks::paystack))
            .route("/webhooks/flutterwave", post(webhooks::flutterwave))
            .route("/usage", get(usage::summary))
            .route("/usage/records", get(usage::records))
            .route("/quotas", get(usage::quotas))
            .layer(DefaultBodyLimit::max(self.state.settings.max_body_bytes));
        let gateway = Router::new()
            .route("/v1/models", get(proxy::list_models))
            .route("/v1/chat/completions", post(proxy::chat_completions))
            .route("/v1/completions", post(proxy::completions))
            .route("/v1/embeddings", post(proxy::embeddings))
            .route("/api/v1/ai/complete", post(proxy::native_complete))
            .layer(DefaultBodyLimit::max(GATEWAY_BODY_LIMIT));

        Router::new()
            .merge(gateway)
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
        mut self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let router = self.router();
        let stop = self.background.stop.clone();
        if let Some(mover) = self.background.mover.take() {
            self.background.tasks.spawn(mover.run(stop.clone()));
        }
        tracing::info!(address = %listener.local_addr()?, "Kobo is listening.");
        let served = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await;
        tracing::info!("Kobo stopped accepting requests; finishing streams and background work.");
        self.state.tasks.close();
        self.state.tasks.wait().await;
        stop.cancel();
        self.background.tasks.close();
        self.background.tasks.wait().await;
        flush_last_used(&self.state).await;
        served?;
        Ok(())
    }
}

/// Drops revoked keys from the cache when another replica says so.
async fn listen_for_invalidations(
    bus: Arc<RedisBus>,
    keys: Arc<crate::gateway::key_cache::KeyCache>,
    stop: CancellationToken,
) {
    let mut sub = bus.subscribe();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            ev = sub.next_event() => match ev {
                Some(kobo_limits::BusEvent::Message(prefix)) => keys.forget(&prefix),
                Some(kobo_limits::BusEvent::Resubscribed) => keys.clear(),
                Some(_) => {}
                None => return,
            },
        }
    }
}

/// Periodic upkeep: coalesced key last-used times, catalog refresh, idempotency expiry.
async fn housekeeping(state: AppState, stop: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    let mut rounds: u64 = 0;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        rounds += 1;
        flush_last_used(&state).await;
        if let Err(e) = state.catalog.reload().await {
            tracing::warn!(error = %e, "The model catalog could not be refreshed.");
        }
        if rounds.is_multiple_of(60) {
            if let Err(e) = state.store.purge_idempotency(state.clock.now_ms()).await {
                tracing::warn!(error = %e, "Expired idempotency keys could not be purged.");
            }
        }
    }
}

async fn flush_last_used(state: &AppState) {
    let used = state.last_used.take();
    if let Err(e) = state.store.touch_keys(&used).await {
        tracing::warn!(error = %e, "API key last-used times could not be written.");
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
