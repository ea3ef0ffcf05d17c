//! `kobo-paystack-sim --listen 127.0.0.1:0 --webhook-url URL ...`: prints
//! `listening on ADDRESS` on one line, then serves until interrupted.

use std::io::Write;
use std::net::SocketAddr;

use clap::Parser;
use kobo_paystack_sim::{serve, SimConfig};

/// A Paystack and Flutterwave simulator for Kobo's tests and local development.
#[derive(Parser, Debug)]
#[command(name = "kobo-paystack-sim", version)]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Where to POST Paystack webhooks (Kobo's `…/api/v1/webhooks/paystack`).
    /// Without it, webhooks are recorded but not sent.
    #[arg(long, env = "KOBO_SIM_WEBHOOK_URL")]
    webhook_url: Option<String>,
    /// Where to POST Flutterwave webhooks. Default: `--webhook-url` with a final
    /// `/paystack` segment replaced by `/flutterwave` (Kobo's two endpoints), or
    /// `--webhook-url` itself when it does not end with `/paystack`.
    #[arg(long, env = "KOBO_SIM_FLUTTERWAVE_WEBHOOK_URL")]
    flutterwave_webhook_url: Option<String>,
    /// The Paystack secret key clients must present; also signs webhooks.
    #[arg(
        long,
        env = "KOBO_PAYSTACK_SECRET_KEY",
        default_value = "sk_test_kobo_sim"
    )]
    paystack_secret: String,
    /// The Flutterwave secret key clients must present.
    #[arg(
        long,
        env = "KOBO_FLUTTERWAVE_SECRET_KEY",
        default_value = "FLWSECK_TEST-kobo-sim-X"
    )]
    flutterwave_secret: String,
    /// The secret hash sent in Flutterwave's `verif-hash` header.
    #[arg(
        long,
        env = "KOBO_FLUTTERWAVE_SECRET_HASH",
        default_value = "kobo-sim-hash"
    )]
    flutterwave_hash: String,
    /// This server's address as a browser sees it (checkout links); default
    /// `http://<bound address>`.
    #[arg(long)]
    public_url: Option<String>,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let address = listener.local_addr()?;
    let public_url = args
        .public_url
        .unwrap_or_else(|| format!("http://{address}"))
        .trim_end_matches('/')
        .to_owned();
    let config = SimConfig {
        flutterwave_webhook_url: args
            .flutterwave_webhook_url
            .or_else(|| args.webhook_url.as_deref().map(flutterwave_url_from)),
        webhook_url: args.webhook_url,
        paystack_secret: args.paystack_secret,
        flutterwave_secret: args.flutterwave_secret,
        flutterwave_hash: args.flutterwave_hash,
        public_url,
    };
    announce(address)?;
    serve(listener, config, async {
        // Without a Ctrl-C handler the process simply runs until killed.
        if tokio::signal::ctrl_c().await.is_err() {
            futures::future::pending::<()>().await;
        }
    })
    .await
}

/// `…/webhooks/paystack` → `…/webhooks/flutterwave`; any other URL is kept.
fn flutterwave_url_from(paystack_url: &str) -> String {
    match paystack_url.strip_suffix("/paystack") {
        Some(prefix) => format!("{prefix}/flutterwave"),
        None => paystack_url.to_owned(),
    }
}

/// The one line test harnesses wait for.
#[allow(clippy::print_stdout)]
fn announce(address: SocketAddr) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on {address}")?;
    out.flush()
}
