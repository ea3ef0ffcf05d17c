//! The `kobo` binary's one-off commands, run beside a live server on the same data
//! folder: they must not touch its usage journal, and a second server is refused.

use crate::harness::s;
use crate::procs::binary;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn kobo(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(binary("kobo"));
    cmd.args(args)
        .env("KOBO_DATA_DIR", dir)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run kobo")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_run_beside_a_server_without_losing_usage() {
    let dir = tempfile::tempdir().unwrap();
    let server = crate::procs::kobo_serve_in(dir.path(), &[]).await;
    let base = format!("http://{}", server.addr);
    let client = reqwest::Client::new();

    // `kobo demo` beside the running server: a tenant and key in the same database.
    let out = kobo(dir.path(), &["demo"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let key = text
        .split_whitespace()
        .find(|w| w.starts_with("kobo_sk_"))
        .expect("the demo prints a key")
        .to_string();
    let chat = |n: usize| {
        let client = client.clone();
        let base = base.clone();
        let key = key.clone();
        async move {
            let res = client
                .post(format!("{base}/v1/chat/completions"))
                .bearer_auth(&key)
                .json(&json!({"model": "mock-echo", "messages": [{"role": "user", "content": format!("hello {n}")}]}))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::OK);
        }
    };
    for n in 0..5 {
        chat(n).await;
    }
    // More commands while the server runs; none may move or delete its journal segment.
    let password = [("KOBO_OPERATOR_PASSWORD", "operator-password-1")];
    for (args, env) in [
        (&["migrate"][..], &[][..]),
        (
            &["admin", "create-operator", "--email", "op@kobo.test"][..],
            &password[..],
        ),
        (&["billing", "renew"][..], &[][..]),
    ] {
        let out = kobo(dir.path(), args, env);
        assert!(
            out.status.success(),
            "kobo {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for n in 5..10 {
        chat(n).await;
    }

    // A second server on the same data folder is refused, with the reason.
    let second = kobo(dir.path(), &["serve"], &[("KOBO_LISTEN", "127.0.0.1:0")]);
    assert!(!second.status.success());
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains("another kobo process"), "{err}");

    // Every answer reached the database.
    let op: Value = client
        .post(format!("{base}/api/v1/auth/token"))
        .json(&json!({"username": "op@kobo.test", "password": "operator-password-1"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        !s(&op, "access_token").is_empty(),
        "the operator made by the command signs in"
    );
    // The demo user's password is printed as `(password demo-password-N)`.
    let words: Vec<&str> = text.split_whitespace().collect();
    let email = words[words.iter().position(|w| *w == "user").unwrap() + 1];
    let password =
        words[words.iter().position(|w| *w == "(password").unwrap() + 1].trim_end_matches(").");
    let login: Value = client
        .post(format!("{base}/api/v1/auth/token"))
        .json(&json!({"username": email, "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = s(&login, "access_token");
    let mut total = 0;
    for _ in 0..200 {
        total = usage_total(&client, &base, &token).await;
        if total == 10 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(total, 10, "every served request is metered");

    // A billing run for an unfinished month is refused with a clear message.
    let out = kobo(dir.path(), &["billing", "run", "--period", "2999-01"], &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("has not ended"));
    let out = kobo(dir.path(), &["billing", "run", "--period", "2026-13"], &[]);
    assert!(!out.status.success());
    // A finished month: the report, as JSON.
    let out = kobo(dir.path(), &["billing", "run", "--period", "2025-01"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    assert_eq!(report["period"], "2025-01");
    assert_eq!(report["errors"], 0);
    drop(server);
}

/// Requests recorded for the demo tenant, read through its owner's session.
async fn usage_total(client: &reqwest::Client, base: &str, token: &str) -> u64 {
    let v: Value = client
        .get(format!("{base}/api/v1/usage?group_by=model"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["totals"]["requests"].as_u64().unwrap_or(0)
}
