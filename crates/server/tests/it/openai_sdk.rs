//! Black box: the official OpenAI Python SDK against a real `kobo` process.
//!
//! The SDK lives in a venv cached under the cargo target dir (built once, shared by
//! every test process through a lock file); the checks themselves are in
//! `tests/sdk/openai_sdk_check.py`, which prints one JSON object of results. They run on
//! the built-in `mock-echo` model, and the chat ones again through the OpenAI-compatible
//! and the Anthropic adapters, over the mock upstream process.

use crate::harness::s;
use crate::procs::{binary, mock_upstream, Proc};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// Bounded so the SDK's behaviour only changes when this line does.
const OPENAI_REQUIREMENT: &str = "openai>=1.40,<3";

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/openai_sdk_check.py");

fn run_checked(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The venv's python, with the SDK installed. Several test processes may get here at
/// once: an exclusive lock on a file beside the venv makes one build it while the others
/// wait, and a marker written last tells a complete venv from a half-built one.
fn sdk_python() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(&root).expect("target tmp dir");
    let venv = root.join("py-openai-venv");
    let python = venv.join("bin").join("python");
    let marker = venv.join("kobo-requirement.txt");
    let lock = File::create(root.join("py-openai-venv.lock")).expect("lock file");
    lock.lock().expect("lock the venv");
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(OPENAI_REQUIREMENT)
        && python.exists()
    {
        return python;
    }
    let _ = std::fs::remove_dir_all(&venv);
    let base = std::env::var("KOBO_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    run_checked(
        Command::new(&base).args(["-m", "venv"]).arg(&venv),
        &format!("`{base} -m venv` (on Debian, apt-get install python3-venv)"),
    );
    run_checked(
        Command::new(&python).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            OPENAI_REQUIREMENT,
        ]),
        &format!("pip install {OPENAI_REQUIREMENT}"),
    );
    std::fs::write(&marker, OPENAI_REQUIREMENT).expect("venv marker");
    python
}

/// Models over the mock upstream at `upstream`, both echoing: one per adapter kind.
const UPSTREAM_MODELS: [&str; 2] = ["gpt-3.5-turbo", "claude-3-haiku"];

fn config(upstream: &str) -> String {
    format!(
        r#"
[[upstreams]]
name = "local"
kind = "openai"
base_url = "http://{upstream}/v1"
timeout_ms = 10000

[[upstreams]]
name = "claude"
kind = "anthropic"
base_url = "http://{upstream}/v1"
timeout_ms = 10000

[[models]]
name = "gpt-3.5-turbo"
upstream = "local"
upstream_model = "echo"
input_price_per_1k_kobo = 11
output_price_per_1k_kobo = 33

[[models]]
name = "claude-3-haiku"
upstream = "claude"
upstream_model = "echo"
input_price_per_1k_kobo = 25
output_price_per_1k_kobo = 125
"#
    )
}

/// Starts `kobo serve` on a port of its choosing (SQLite in a temp dir, the upstreams of
/// [`config`]) and reads the address from its "listening" log line. Keeps its log for
/// failure messages.
fn start_kobo(
    data_dir: &std::path::Path,
    upstream: &str,
) -> (Proc, Arc<parking_lot::Mutex<Vec<String>>>) {
    let config_file = data_dir.join("kobo.toml");
    std::fs::write(&config_file, config(upstream)).expect("write kobo.toml");
    let mut cmd = Command::new(binary("kobo"));
    // The caller's KOBO_* settings (a database URL, Redis) must not leak into this one.
    for (k, _) in std::env::vars() {
        if k.starts_with("KOBO_") {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd
        .arg("serve")
        .arg("--config")
        .arg(&config_file)
        .current_dir(data_dir)
        .env("KOBO_DATA_DIR", data_dir)
        .env("KOBO_LISTEN", "127.0.0.1:0")
        .env("KOBO_LOG_FORMAT", "json")
        .env("KOBO_OPERATOR_EMAIL", "operator@kobo.test")
        .env("KOBO_OPERATOR_PASSWORD", "operator-password-1")
        .env("RUST_LOG", "warn,kobo_server::app=info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kobo starts");
    let stderr = child.stderr.take().expect("stderr");
    let log = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel::<String>();
    let kept = log.clone();
    // Reads to the end so kobo never blocks on a full pipe.
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                if v["message"] == "Kobo is listening." {
                    if let Some(a) = v["address"].as_str() {
                        let _ = tx.send(a.to_string());
                    }
                }
            }
            kept.lock().push(line);
        }
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(addr) => (Proc { child, addr }, log),
        Err(_) => {
            let _ = child.kill();
            let status = child.wait();
            panic!(
                "kobo did not start listening ({status:?}):\n{}",
                log.lock().join("\n")
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_openai_python_sdk_works_against_kobo() {
    let started = Instant::now();
    // pip may take a while on a cold cache: build the venv while kobo starts.
    let venv = tokio::task::spawn_blocking(|| {
        let t = Instant::now();
        (sdk_python(), t.elapsed())
    });

    let dir = tempfile::tempdir().unwrap();
    let upstream = mock_upstream();
    let (kobo, log) = start_kobo(dir.path(), &upstream.addr);
    let base = format!("http://{}", kobo.addr);
    let client = reqwest::Client::new();
    let ready = client.get(format!("{base}/ready")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);

    let res = client
        .post(format!("{base}/api/v1/auth/signup"))
        .json(&json!({"email": "sdk@example.ng", "password": "correct horse battery", "organization_name": "SDK Labs"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let signup: Value = res.json().await.unwrap();
    // The free plan serves mock-echo and gpt-3.5-turbo only; claude-3-haiku needs more.
    let res = client
        .post(format!("{base}/api/v1/auth/token"))
        .json(&json!({"username": "operator@kobo.test", "password": "operator-password-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let operator = s(&res.json::<Value>().await.unwrap(), "access_token");
    let res = client
        .put(format!(
            "{base}/api/v1/admin/organizations/{}/plan",
            s(&signup, "organization_id")
        ))
        .bearer_auth(&operator)
        .json(&json!({"plan": "enterprise"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = client
        .post(format!(
            "{base}/api/v1/workspaces/{}/api-keys",
            s(&signup, "workspace_id")
        ))
        .bearer_auth(s(&signup, "access_token"))
        .json(&json!({"name": "openai sdk"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let key = s(&res.json::<Value>().await.unwrap(), "key");
    // The gateway caches tenants for a moment: wait until the key sees the new plan.
    let (mut listed, mut seen) = (Value::Null, false);
    for _ in 0..200 {
        listed = client
            .get(format!("{base}/v1/models"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let ids: Vec<&str> = listed["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["id"].as_str())
            .collect();
        seen = UPSTREAM_MODELS.iter().all(|m| ids.contains(m));
        if seen {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        seen,
        "the key never saw the enterprise plan's models: {listed}"
    );

    let (python, venv_took) = venv.await.unwrap();
    let script_started = Instant::now();
    let mut cmd = tokio::process::Command::new(&python);
    cmd.arg(SCRIPT)
        .env("KOBO_SDK_BASE_URL", format!("{base}/v1"))
        .env("KOBO_SDK_API_KEY", &key)
        .env("KOBO_SDK_UPSTREAM_MODELS", UPSTREAM_MODELS.join(","))
        // No __pycache__ beside the script in the source tree.
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .kill_on_drop(true);
    // Loopback traffic must not go through a proxy from the environment.
    for k in [
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
    ] {
        cmd.env_remove(k);
    }
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("the SDK script finished in time")
        .expect("python runs");
    let script_took = script_started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let context = || {
        format!(
            "status {}\nstdout: {stdout}\nstderr: {stderr}\nkobo log:\n{}",
            out.status,
            log.lock().join("\n")
        )
    };
    let v: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("the script printed no JSON ({e}):\n{}", context()));
    assert!(out.status.success(), "SDK checks failed:\n{}", context());

    // The script checks more; these are the headline facts, asserted here too.
    assert!(
        v["models"]["ids"]
            .as_array()
            .unwrap()
            .contains(&json!("mock-echo")),
        "{v}"
    );
    assert_eq!(
        v["chat"]["content"], "Hello from Lagos, via the OpenAI SDK",
        "{v}"
    );
    assert!(
        v["chat"]["usage"]["completion_tokens"].as_u64() > Some(0),
        "{v}"
    );
    assert_eq!(v["chat_stream"]["text"], "one two  three, streamed", "{v}");
    assert!(
        v["chat_stream"]["last_usage"]["total_tokens"].as_u64() > Some(0),
        "{v}"
    );
    assert_eq!(v["completions"]["text"], "Say this is a test", "{v}");
    assert_eq!(v["embeddings"]["count"], 2, "{v}");
    assert_eq!(v["bad_key"]["status"], 401, "{v}");
    assert_eq!(v["bad_key"]["code"], "invalid_api_key", "{v}");
    assert_eq!(v["unknown_model"]["status"], 404, "{v}");
    assert_eq!(v["unknown_model"]["code"], "model_not_found", "{v}");
    for m in UPSTREAM_MODELS {
        assert_eq!(
            v[format!("chat@{m}")]["content"],
            "Hello from Lagos, via the OpenAI SDK",
            "{v}"
        );
        assert_eq!(
            v[format!("chat_stream@{m}")]["text"],
            "one two  three, streamed",
            "{v}"
        );
    }
    eprintln!(
        "openai sdk {}: venv {:.1?}, script {:.1?}, whole test {:.1?}",
        v["openai_version"],
        venv_took,
        script_took,
        started.elapsed()
    );
    drop(kobo);
    drop(upstream);
}
