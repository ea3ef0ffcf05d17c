//! Real processes for the tests: the mock upstream and the `kobo` binary itself.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

/// Builds the workspace binaries once per test process and returns the path of `name`.
pub fn binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "-p",
                "kobo",
                "-p",
                "kobo-mock-upstream",
                "-p",
                "kobo-paystack-sim",
                "--bins",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the binaries failed");
    });
    let exe = std::env::current_exe().expect("test exe");
    // target/debug/deps/it-… → target/debug/<name>
    exe.parent()
        .and_then(|p| p.parent())
        .expect("target dir")
        .join(name)
}

/// A child process killed when dropped.
pub struct Proc {
    pub child: Child,
    pub addr: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the mock upstream on a free port; reads the port from its first line.
pub fn mock_upstream() -> Proc {
    let mut child = Command::new(binary("kobo-mock-upstream"))
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("mock upstream starts");
    let addr = listening_address(&mut child);
    Proc { child, addr }
}

/// The address a tool prints as its first line (`listening on ADDRESS`).
fn listening_address(child: &mut Child) -> String {
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("first line");
    line.trim()
        .strip_prefix("listening on ")
        .expect("listening line")
        .to_string()
}

/// The Paystack/Flutterwave simulator's credentials, as Kobo is configured in tests.
pub const SIM_PAYSTACK_SECRET: &str = "sk_test_kobo_sim";
pub const SIM_FLUTTERWAVE_SECRET: &str = "FLWSECK_TEST-kobo-sim-X";
pub const SIM_FLUTTERWAVE_HASH: &str = "kobo-sim-hash";

/// Starts the payment simulator on a free port, sending webhooks to `kobo_base`'s
/// `/api/v1/webhooks/{paystack,flutterwave}`.
pub fn paystack_sim(kobo_base: &str) -> Proc {
    let mut child = Command::new(binary("kobo-paystack-sim"))
        .args(["--listen", "127.0.0.1:0"])
        .args([
            "--webhook-url",
            &format!("{kobo_base}/api/v1/webhooks/paystack"),
        ])
        .args(["--paystack-secret", SIM_PAYSTACK_SECRET])
        .args(["--flutterwave-secret", SIM_FLUTTERWAVE_SECRET])
        .args(["--flutterwave-hash", SIM_FLUTTERWAVE_HASH])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the payment simulator starts");
    let addr = listening_address(&mut child);
    Proc { child, addr }
}

/// Starts `kobo serve` on a free port with its own data folder and `env`, and waits
/// until `/ready` answers. The folder lives as long as the returned guard.
pub async fn kobo_serve(env: &[(&str, &str)]) -> (Proc, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("data dir");
    let proc = kobo_serve_in(dir.path(), env).await;
    (proc, dir)
}

/// `kobo serve` on the data folder `dir`.
pub async fn kobo_serve_in(dir: &std::path::Path, env: &[(&str, &str)]) -> Proc {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        l.local_addr().expect("addr").port()
    };
    let addr = format!("127.0.0.1:{port}");
    let mut cmd = Command::new(binary("kobo"));
    cmd.arg("serve")
        .env("KOBO_DATA_DIR", dir)
        .env("KOBO_LISTEN", &addr)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let proc = Proc {
        child: cmd.spawn().expect("kobo serve starts"),
        addr,
    };
    let client = reqwest::Client::new();
    for _ in 0..800 {
        if let Ok(r) = client
            .get(format!("http://{}/ready", proc.addr))
            .send()
            .await
        {
            if r.status().is_success() {
                return proc;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("kobo serve did not become ready");
}
