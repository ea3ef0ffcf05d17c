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
    let settings = Settings::load(cli.config.as_deref(), &|k| std::env::var(k).ok())?;
    kobo_server::telemetry::init(&settings.log_format);
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
            App::build(settings).await?;
            tracing::info!("The database is migrated.");
            Ok(())
        }
        Command::Admin {
            task: AdminTask::CreateOperator { email, password },
        } => {
            let app = App::build(settings).await?;
            let id = kobo_server::accounts::ensure_operator(&app.state, &email, &password).await?;
            tracing::info!(user_id = %id, "The operator account is ready.");
            Ok(())
        }
        Command::Demo => {
            let public = settings.public_url.clone();
            let app = App::build(settings).await?;
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
