//! `kobo`: the command line. Parses arguments, sets up logging, loads settings and
//! hands over to the library.

use anyhow::Context;
use clap::{Parser, Subcommand};
use kobo_server::{App, Settings};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "kobo",
    version,
    about = "Multi-tenant AI API gateway with billing-grade metering and Naira-native billing"
)]
struct Cli {
    /// Configuration file (default: ./kobo.toml when present). KOBO_* variables win over it.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API, the gateway and the dashboard (migrates the database first).
    Serve,
    /// Apply the database migrations and exit.
    Migrate,
    /// Platform-operator tasks.
    Admin {
        #[command(subcommand)]
        task: AdminTask,
    },
    /// Create a demo organization, user and API key, and print a ready curl command.
    Demo,
    /// Invoices and renewals, for cron users (a server also runs both on a schedule).
    Billing {
        #[command(subcommand)]
        task: BillingTask,
    },
}

#[derive(Subcommand)]
enum BillingTask {
    /// Invoice every organization for one Lagos month (safe to repeat, and to run on
    /// several machines at once: nothing is invoiced twice). Prints the report as JSON.
    Run {
        /// The month, as YYYY-MM; it must be over in Lagos time.
        #[arg(long)]
        period: String,
    },
    /// Charge due renewals, retry failed ones, and move unpaid subscriptions along
    /// (past_due, suspended). Prints the report as JSON.
    Renew,
}

#[derive(Subcommand)]
enum AdminTask {
    /// Create (or reset the password of) a platform operator.
    CreateOperator {
        #[arg(long)]
        email: String,
        /// Read from KOBO_OPERATOR_PASSWORD when not given.
        #[arg(long, env = "KOBO_OPERATOR_PASSWORD", hide_env_values = true)]
        password: String,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // `admin create-operator` takes its operator from its own arguments (the password
    // may come from KOBO_OPERATOR_PASSWORD), not from the start-up operator settings.
    let own_operator = matches!(
        cli.command,
        Command::Admin {
            task: AdminTask::CreateOperator { .. }
        }
    );
    let env = |k: &str| {
        if own_operator && k.starts_with("KOBO_OPERATOR_") {
            return None;
        }
        std::env::var(k).ok()
    };
    let settings = Settings::load(cli.config.as_deref(), &env)?;
    let _logs = kobo_server::telemetry::init(&settings.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(cli.command, settings))
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            let listen = settings.listen;
            let app = App::build(settings).await?;
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            app.serve(listener, kobo_server::shutdown_signal()).await
        }
        Command::Migrate => {
            App::build_for_command(settings).await?;
            tracing::info!("The database is migrated.");
            Ok(())
        }
        Command::Admin {
            task: AdminTask::CreateOperator { email, password },
        } => {
            let app = App::build_for_command(settings).await?;
            let id = kobo_server::accounts::ensure_operator(&app.state, &email, &password).await?;
            tracing::info!(user_id = %id, "The operator account is ready.");
            Ok(())
        }
        Command::Billing {
            task: BillingTask::Run { period },
        } => {
            let month = kobo_domain::invoice::BillingMonth::parse(&period)
                .map_err(|e| anyhow::anyhow!("--period {period}: {e}"))?;
            let app = App::build_for_command(settings).await?;
            let bar = indicatif::ProgressBar::new(0).with_style(
                indicatif::ProgressStyle::with_template(
                    "{msg} [{bar:40}] {pos}/{len} organizations ({eta} left)",
                )?
                .progress_chars("=> "),
            );
            bar.set_message(format!("Billing {month}"));
            let progress = |done: u64, total: u64| {
                bar.set_length(total);
                bar.set_position(done);
            };
            let now = app.state.clock.now();
            let report = kobo_server::invoices::run::run_period(&app.state, month, now, &progress)
                .await
                .map_err(|e| anyhow::anyhow!("the billing run failed: {}", e.message))?;
            bar.finish();
            print_json(&report)?;
            anyhow::ensure!(
                report.errors == 0,
                "{} organizations could not be billed; run it again",
                report.errors
            );
            Ok(())
        }
        Command::Billing {
            task: BillingTask::Renew,
        } => {
            let app = App::build_for_command(settings).await?;
            let report = kobo_server::billing::renewals::run_due(&app.state)
                .await
                .map_err(|e| anyhow::anyhow!("the renewal sweep failed: {}", e.message))?;
            print_json(&report)?;
            anyhow::ensure!(
                report.errors == 0,
                "{} renewals failed; they are retried on the next run",
                report.errors
            );
            Ok(())
        }
        Command::Demo => {
            let public = settings.public_url.clone();
            let app = App::build_for_command(settings).await?;
            let demo = kobo_server::demo::create(&app.state).await?;
            let mut out = std::io::stdout().lock();
            use std::io::Write;
            writeln!(
                out,
                "Demo organization {} with user {} (password {}).",
                demo.org_id, demo.email, demo.password
            )?;
            writeln!(out, "API key: {}\n", demo.api_key)?;
            writeln!(out, "Start the server with `kobo serve`, then:\n")?;
            writeln!(
                out,
                "curl {public}/v1/chat/completions -H 'Authorization: Bearer {}' -H 'Content-Type: application/json' \\\n  -d '{{\"model\":\"mock-echo\",\"messages\":[{{\"role\":\"user\",\"content\":\"Hello from Lagos\"}}]}}'",
                demo.api_key
            )?;
            Ok(())
        }
    }
}

fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", serde_json::to_string_pretty(value)?)?;
    Ok(())
}
