//! `kobo-mock-upstream --listen 127.0.0.1:0 [--require-key KEY]`: prints
//! `listening on ADDRESS` on one line, then serves until interrupted.

use std::io::Write;
use std::net::SocketAddr;

use clap::Parser;
use kobo_mock_upstream::{serve, MockConfig};

/// A mock OpenAI / Anthropic model server for Kobo's tests and benchmarks.
#[derive(Parser, Debug)]
#[command(name = "kobo-mock-upstream", version)]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Require this key: `Authorization: Bearer KEY` (OpenAI routes) or `x-api-key: KEY`
    /// (`/v1/messages`); other requests get 401.
    #[arg(long)]
    require_key: Option<String>,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let address = listener.local_addr()?;
    announce(address)?;
    let config = MockConfig {
        require_key: args.require_key,
    };
    serve(listener, config, async {
        // Without a Ctrl-C handler the process simply runs until killed.
        if tokio::signal::ctrl_c().await.is_err() {
            futures::future::pending::<()>().await;
        }
    })
    .await
}

/// The one line test harnesses wait for.
#[allow(clippy::print_stdout)]
fn announce(address: SocketAddr) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on {address}")?;
    out.flush()
}
