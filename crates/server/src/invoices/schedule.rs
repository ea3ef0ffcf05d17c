//! The in-process invoice schedule: a supervised task, stopped on shutdown.
//!
//! Every few minutes it runs the sweep, and, once the previous Lagos month has been
//! over for [`GRACE`] (so usage still in the journal has reached the database), the
//! billing run for that month. Runs are claimed per organization, so replicas may all
//! do this at once; after a run without errors the month is not run again by this process.

use super::run::run_period;
use super::sweep::sweep;
use crate::state::AppState;
use chrono::TimeDelta;
use kobo_domain::calendar::lagos_date;
use kobo_domain::invoice::BillingMonth;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const TICK: Duration = Duration::from_secs(300);
/// Time after the month ends before it is invoiced.
const GRACE: TimeDelta = TimeDelta::hours(1);

pub async fn run(state: AppState, stop: CancellationToken) {
    // The first sweep waits one period, so start-up (and commands that build the app
    // briefly) never race a sweep that someone is about to run by hand.
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + TICK, TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut billed: Option<BillingMonth> = None;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = state.clock.now();
        let month = BillingMonth::of(lagos_date(now)).previous();
        if billed != Some(month) && month.period().end + GRACE <= now {
            let work = run_period(&state, month, now, &|_, _| {});
            let outcome = tokio::select! {
                _ = stop.cancelled() => return,
                r = work => r,
            };
            match outcome {
                Ok(r) if r.errors == 0 => billed = Some(month),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(period = %month, error = %e.message, "The scheduled billing run failed; it runs again shortly.")
                }
            }
        }
        match sweep(&state, now).await {
            Ok(r) if r.overdue + r.due_soon + r.links_opened > 0 => {
                tracing::info!(
                    overdue = r.overdue,
                    due_soon = r.due_soon,
                    links = r.links_opened,
                    "An invoice sweep finished."
                );
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e.message, "The invoice sweep failed; it runs again shortly.")
            }
        }
    }
}
