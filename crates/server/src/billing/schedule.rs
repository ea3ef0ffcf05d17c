//! The in-process billing schedule: a supervised task, stopped on shutdown.

use super::renewals;
use crate::state::AppState;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often due renewals are looked for. Work is claimed per subscription, so several
/// replicas running this at once never charge twice.
const RENEWAL_SWEEP: Duration = Duration::from_secs(60);

pub async fn renewals(state: AppState, stop: CancellationToken) {
    // The first sweep waits one period, so start-up (and commands that build the app
    // briefly) never race a sweep that someone is about to run by hand.
    let mut tick =
        tokio::time::interval_at(tokio::time::Instant::now() + RENEWAL_SWEEP, RENEWAL_SWEEP);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        match renewals::run_due(&state).await {
            Ok(r)
                if r.renewed
                    + r.retry_scheduled
                    + r.past_due
                    + r.suspended
                    + r.cancelled
                    + r.errors
                    > 0 =>
            {
                tracing::info!(
                    renewed = r.renewed,
                    retries = r.retry_scheduled,
                    past_due = r.past_due,
                    suspended = r.suspended,
                    cancelled = r.cancelled,
                    errors = r.errors,
                    "A renewal sweep finished."
                );
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e.message, "A renewal sweep failed; it runs again shortly.")
            }
        }
    }
}
