//! Invoices over real HTTP: the monthly billing run's exact figures, gapless numbering
//! under concurrent runs on PostgreSQL, the PDF, tenant isolation, paying an invoice at
//! the Paystack simulator, and the Lagos year boundary of invoice numbers.

use crate::billing::{at, with_sim, Billed};
use crate::harness::*;
use crate::procs;
use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// A second app on `b`'s database, with the clock at `now` and its own simulator whose
/// webhooks come back to this app (so settlements read this app's clock).
async fn rewired(b: &Billed, now: DateTime<Utc>) -> Billed {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let sim = procs::paystack_sim(&base);
    let addr = sim.addr.clone();
    let url = b.app.state.settings.database_url.clone();
    let app = TestApp::spawn_on(Db::Sqlite, listener, |s| {
        s.database_url = url;
        with_sim(s, &addr, &base);
        s.test_now = Some(now);
    })
    .await;
    Billed {
        app,
        sim,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    }
}

/// `POST /api/v1/admin/billing/run` on `app`; returns the run report.
async fn run(app: &TestApp, period: &str) -> Value {
    let op = app.operator_token().await;
    let (status, v) = body(
        app.post("/api/v1/admin/billing/run", &op, json!({"period": period}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "billing run {period}: {v}");
    assert_eq!(v["errors"], 0, "{v}");
    v
}

/// The tenant's invoices, newest first.
async fn invoices(app: &TestApp, t: &Tenant) -> Vec<Value> {
    let (status, v) = body(
        app.get("/api/v1/billing/invoices?limit=100", &t.token)
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v["data"].as_array().unwrap().clone()
}

/// The one invoice of `t` for `period`.
async fn invoice_for(app: &TestApp, t: &Tenant, period: &str) -> Value {
    let all = invoices(app, t).await;
    let mut of: Vec<_> = all.into_iter().filter(|i| i["period"] == period).collect();
    assert_eq!(of.len(), 1, "one invoice for {period}: {of:?}");
    of.remove(0)
}

/// The default prefix: `INV-` and the last four hex digits of the organization id.
fn default_prefix(t: &Tenant) -> String {
    let hex: String = t.org_id.chars().filter(|c| *c != '-').collect();
    format!("INV-{}", hex[hex.len() - 4..].to_ascii_uppercase())
}

async fn set_prefix(app: &TestApp, t: &Tenant, prefix: &str) {
    let op = app.operator_token().await;
    let (status, v) = body(
        app.put(
            &format!("/api/v1/admin/organizations/{}/invoice-prefix", t.org_id),
            &op,
            json!({"prefix": prefix}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
}

/// One gateway call with the built-in `mock-echo` model; returns its billed tokens.
async fn echo_call(app: &TestApp, t: &Tenant) -> u64 {
    let key = s(&app.create_key(t, json!({"name": "usage"})).await, "key");
    let (status, v) = body(
        app.chat(
            &key,
            json!({"model": "mock-echo", "messages": [{"role": "user", "content": "bill me"}]}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v["usage"]["total_tokens"].as_u64().unwrap()
}

/// A successful usage record of `tokens` on Lagos day `day`, written through the store.
fn record(t: &Tenant, day: &str, tokens: u64) -> kobo_store::UsageRecord {
    let created = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .unwrap()
        .and_hms_opt(11, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_millis();
    kobo_store::UsageRecord {
        id: format!("use_{}", uuid::Uuid::now_v7().simple()),
        org_id: t.org_id.parse().unwrap(),
        workspace_id: t.workspace_id.parse().unwrap(),
        api_key_id: None,
        user_id: None,
        endpoint: "/v1/chat/completions".into(),
        model: "gpt-4o-mini".into(),
        upstream: "local".into(),
        prompt_tokens: tokens / 2,
        completion_tokens: tokens - tokens / 2,
        cost_millikobo: 0,
        upstream_cost_micro_usd: 0,
        latency_ms: 10,
        status: 200,
        error_code: None,
        streamed: false,
        lagos_day: day.into(),
        created_at: created,
    }
}

fn kobo(v: &Value, key: &str) -> i64 {
    v[key]
        .as_i64()
        .unwrap_or_else(|| panic!("no `{key}` in {v}"))
}

/// Figures for November 2026, run on 2 December 2026 (Lagos): due 30 days later is
/// Friday 1 January 2027, a holiday, then a weekend: Monday 4 January 2027.
async fn exact_figures(db: Db) {
    // Paid on 1 Nov (Lagos): the upgrader's period is 1 Nov – 1 Dec, 30 days.
    let b = Billed::start(db, Some(at("2026-11-01T09:00:00Z"))).await;
    let free = b.app.signup("free-inv@example.ng").await;
    let starter = b.app.signup("starter-inv@example.ng").await;
    let pro = b.app.signup("pro-inv@example.ng").await;
    let upgrader = b.app.signup("upgrade-inv@example.ng").await;
    b.app.grant_plan(&starter, "starter").await;
    b.app.grant_plan(&pro, "professional").await;
    set_prefix(&b.app, &starter, "acme-ng").await;

    // Usage: real gateway calls, the rest written as usage records through the store.
    let free_tokens = echo_call(&b.app, &free).await;
    let starter_echo = echo_call(&b.app, &starter).await;
    let pro_echo = echo_call(&b.app, &pro).await;
    assert!(free_tokens > 0 && free_tokens < 100_000);
    assert_eq!(
        b.app.usage_settled(3).await,
        3,
        "the journal reached the database"
    );
    // Starter: exactly its 1,000,000 included tokens: no overage.
    // Professional: 10,116,975 tokens, 116,975 beyond its 10M.
    let records = vec![
        record(&starter, "2026-11-20", 1_000_000 - starter_echo),
        record(&pro, "2026-11-15", 10_000_000 - pro_echo),
        record(&pro, "2026-11-30", 116_975),
        // Outside the Lagos month: never billed in November.
        record(&pro, "2026-10-31", 5_000_000),
        record(&pro, "2026-12-01", 5_000_000),
    ];
    assert_eq!(b.app.state.store.insert_usage(&records).await.unwrap(), 5);

    // 11 Nov: starter → professional, 20 of 30 days left: ₦20,000 on the saved card.
    let sub = b.subscribed(&upgrader, "starter").await;
    let id = s(&sub, "subscription_id");
    // Later instances have simulators of their own (so webhooks come back to the
    // instance whose clock is right); their simulators honour the test card.
    let mut saved = b
        .app
        .state
        .store
        .subscription_by_id(&id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        saved.authorization_code.is_some(),
        "the checkout saved the card"
    );
    saved.authorization_code = Some("AUTH_success".into());
    b.app.state.store.save_subscription(&saved).await.unwrap();
    let mid = rewired(&b, at("2026-11-11T10:00:00Z")).await;
    let mid = &mid.app;
    let (status, v) = body(
        mid.post(
            &format!("/api/v1/billing/subscriptions/{id}/change-plan"),
            &upgrader.token,
            json!({"plan": "professional"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["amount_due_kobo"], 2_000_000);

    // November is not over before 1 Dec 00:00 Lagos (30 Nov 23:00 UTC).
    let early = b.later(at("2026-11-30T22:30:00Z")).await;
    let op = early.operator_token().await;
    expect_error(
        early
            .post(
                "/api/v1/admin/billing/run",
                &op,
                json!({"period": "2026-11"}),
            )
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "period_not_over",
    )
    .await;
    expect_error(
        early
            .post(
                "/api/v1/admin/billing/run",
                &op,
                json!({"period": "2026-13"}),
            )
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_period",
    )
    .await;

    let dec = rewired(&b, at("2026-12-02T09:00:00Z")).await;
    let (dec, dec_sim) = (&dec.app, dec.sim.addr.clone());
    let r = run(dec, "2026-11").await;
    assert_eq!(r["period"], "2026-11");
    assert_eq!(r["issued"], 3, "{r}");
    assert!(r["nothing_due"].as_u64().unwrap() >= 1, "{r}");

    // The free organization, within its allowance: nothing to pay, no invoice.
    assert!(invoices(dec, &free).await.is_empty());

    let common = |inv: &Value| {
        assert_eq!(inv["kind"], "invoice");
        assert_eq!(inv["currency"], "NGN");
        assert_eq!(inv["period"], "2026-11");
        assert_eq!(inv["period_start"], "2026-10-31T23:00:00.000Z");
        assert_eq!(inv["period_end"], "2026-11-30T23:00:00.000Z");
        assert_eq!(inv["invoice_date"], "2026-12-02");
        assert_eq!(inv["due_date"], "2027-01-04", "{inv}");
        assert_eq!(inv["due_date_display"], "Monday 4 January 2027 (WAT)");
        assert_eq!(inv["tax"]["name"], "VAT");
        assert_eq!(inv["tax"]["basis_points"], 750);
        assert_eq!(inv["tax"]["rate_display"], "7.5%");
        assert_eq!(
            inv["pdf_url"],
            format!("/api/v1/billing/invoices/{}/pdf", s(inv, "id"))
        );
    };

    // Starter under its allowance (a granted plan, billed in arrears):
    // 1,500,000 + 7.5% (112,500) = 1,612,500.
    let inv = invoice_for(dec, &starter, "2026-11").await;
    common(&inv);
    assert_eq!(inv["number"], "ACME-NG-2026-0001");
    assert_eq!(inv["status"], "pending", "{inv}");
    let lines = inv["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 1, "{inv}");
    assert_eq!(lines[0]["kind"], "plan");
    assert_eq!(lines[0]["description"], "Starter plan, November 2026");
    assert_eq!(lines[0]["amount_kobo"], 1_500_000);
    assert_eq!(lines[0]["amount_display"], "₦15,000.00");
    assert_eq!(kobo(&inv, "subtotal_kobo"), 1_500_000);
    assert_eq!(inv["subtotal_display"], "₦15,000.00");
    assert_eq!(inv["tax"]["amount_kobo"], 112_500);
    assert_eq!(inv["tax"]["amount_display"], "₦1,125.00");
    assert_eq!(kobo(&inv, "total_kobo"), 1_612_500);
    assert_eq!(inv["total_display"], "₦16,125.00");
    assert_eq!(kobo(&inv, "amount_paid_kobo"), 0);
    assert_eq!(inv["amount_paid_display"], "₦0.00");
    assert_eq!(kobo(&inv, "amount_due_kobo"), 1_612_500);
    assert_eq!(inv["amount_due_display"], "₦16,125.00");
    assert_eq!(inv["buyer"]["email"], starter.email);
    assert_eq!(inv["buyer"]["organization_id"], starter.org_id);
    assert!(
        inv["payment_url"]
            .as_str()
            .unwrap()
            .starts_with(&format!("http://{dec_sim}/checkout/")),
        "{inv}"
    );

    // Professional with overage: 116,975 tokens × ₦0.20 / 1,000 = 2,339.5 kobo → 2,340
    // (half-up); subtotal 4,502,340; VAT 337,675.5 → 337,676 (half-up); total 4,840,016.
    let inv = invoice_for(dec, &pro, "2026-11").await;
    common(&inv);
    assert_eq!(
        inv["number"],
        format!("{}-2026-0001", default_prefix(&pro)),
        "{inv}"
    );
    assert_eq!(inv["status"], "pending");
    let lines = inv["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 2, "{inv}");
    assert_eq!(lines[0]["kind"], "plan");
    assert_eq!(lines[0]["description"], "Professional plan, November 2026");
    assert_eq!(lines[0]["amount_kobo"], 4_500_000);
    assert_eq!(lines[0]["amount_display"], "₦45,000.00");
    assert_eq!(lines[1]["kind"], "overage");
    assert_eq!(lines[1]["quantity"], 116_975);
    assert_eq!(lines[1]["unit_price_kobo"], 20);
    assert_eq!(lines[1]["amount_kobo"], 2_340);
    assert_eq!(lines[1]["amount_display"], "₦23.40");
    assert_eq!(
        lines[1]["description"],
        "Usage beyond the 10M tokens included: 116,975 tokens at ₦0.20 per 1,000"
    );
    assert_eq!(kobo(&inv, "subtotal_kobo"), 4_502_340);
    assert_eq!(inv["subtotal_display"], "₦45,023.40");
    assert_eq!(inv["tax"]["amount_kobo"], 337_676);
    assert_eq!(inv["tax"]["amount_display"], "₦3,376.76");
    assert_eq!(kobo(&inv, "total_kobo"), 4_840_016);
    assert_eq!(inv["total_display"], "₦48,400.16");
    assert_eq!(kobo(&inv, "amount_paid_kobo"), 0);
    assert_eq!(kobo(&inv, "amount_due_kobo"), 4_840_016);
    assert_eq!(inv["amount_due_display"], "₦48,400.16");

    // Upgraded mid-cycle: the starter checkout (1,500,000) and the prorated upgrade
    // (2,000,000) were paid in November; VAT on 3,500,000 is 262,500 and is what is
    // left to pay, charged at once on the saved card.
    let inv = invoice_for(dec, &upgrader, "2026-11").await;
    common(&inv);
    assert_eq!(
        inv["number"],
        format!("{}-2026-0001", default_prefix(&upgrader))
    );
    let lines = inv["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 2, "{inv}");
    assert_eq!(lines[0]["kind"], "plan");
    assert_eq!(lines[0]["description"], "Starter plan (paid 1 Nov 2026)");
    assert_eq!(lines[0]["amount_kobo"], 1_500_000);
    assert_eq!(lines[1]["kind"], "upgrade");
    assert_eq!(
        lines[1]["description"],
        "Upgrade to Professional, prorated for the rest of the cycle (paid 11 Nov 2026)"
    );
    assert_eq!(lines[1]["amount_kobo"], 2_000_000);
    assert_eq!(lines[1]["amount_display"], "₦20,000.00");
    assert_eq!(kobo(&inv, "subtotal_kobo"), 3_500_000);
    assert_eq!(inv["subtotal_display"], "₦35,000.00");
    assert_eq!(inv["tax"]["amount_kobo"], 262_500);
    assert_eq!(kobo(&inv, "total_kobo"), 3_762_500);
    assert_eq!(inv["total_display"], "₦37,625.00");
    assert_eq!(kobo(&inv, "amount_paid_kobo"), 3_500_000);
    assert_eq!(inv["amount_paid_display"], "₦35,000.00");
    assert_eq!(kobo(&inv, "amount_due_kobo"), 262_500);
    assert_eq!(inv["amount_due_display"], "₦2,625.00");
    assert_eq!(inv["status"], "paid", "the saved card paid the VAT: {inv}");
    let charge: Vec<_> = b
        .payments(&upgrader)
        .await
        .into_iter()
        .filter(|p| p["purpose"] == "invoice")
        .collect();
    assert_eq!(charge.len(), 1, "{charge:?}");
    assert_eq!(charge[0]["amount_kobo"], 262_500);
    assert_eq!(charge[0]["status"], "success");

    // The single-invoice route answers the same document; issuing wrote the outbox.
    let (status, one) = body(
        dec.get(
            &format!("/api/v1/billing/invoices/{}", s(&inv, "id")),
            &upgrader.token,
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["number"], inv["number"]);
    assert_eq!(one["total_kobo"], 3_762_500);
    let notes = dec
        .state
        .store
        .notifications(pro.org_id.parse().unwrap(), "invoice.")
        .await
        .unwrap();
    assert_eq!(
        notes.iter().filter(|n| n.kind == "invoice.issued").count(),
        1,
        "{notes:?}"
    );

    // A second run (a cron, another replica) writes nothing new.
    let again = run(dec, "2026-11").await;
    assert_eq!(again["issued"], 0, "{again}");
    for t in [&starter, &pro, &upgrader] {
        assert_eq!(invoices(dec, t).await.len(), 1);
    }
    assert!(invoices(dec, &free).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_figures_free_starter_overage_and_upgrade_sqlite() {
    exact_figures(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_figures_free_starter_overage_and_upgrade_postgres() {
    exact_figures(Db::Postgres).await;
}

/// Two app instances on one database run three months at once (six runs in
/// parallel): every organization gets exactly one invoice per month, numbered
/// 0001…0003 for 2026 with no gap and no duplicate; running again writes nothing.
async fn concurrent_runs(db: Db) {
    let b = Billed::start(db, Some(at("2026-08-14T10:00:00Z"))).await;
    let mut orgs = Vec::new();
    for i in 0..5 {
        let t = b.app.signup(&format!("conc{i}@example.ng")).await;
        b.app
            .grant_plan(
                &t,
                if i % 2 == 0 {
                    "starter"
                } else {
                    "professional"
                },
            )
            .await;
        orgs.push(t);
    }
    set_prefix(&b.app, &orgs[0], "RACE").await;
    let now = at("2026-12-02T09:00:00Z");
    let one = b.later(now).await;
    let two = b.later(now).await;
    let periods = ["2026-09", "2026-10", "2026-11"];

    let round = || {
        let runs = periods
            .iter()
            .flat_map(|p| [run(&one, p), run(&two, p)])
            .collect::<Vec<_>>();
        futures::future::join_all(runs)
    };
    let reports = round().await;
    let issued: u64 = reports.iter().map(|r| r["issued"].as_u64().unwrap()).sum();
    assert_eq!(issued, 15, "{reports:?}");

    let mut ids = Vec::new();
    for (i, t) in orgs.iter().enumerate() {
        let all = invoices(&one, t).await;
        assert_eq!(all.len(), 3, "one invoice per month: {all:?}");
        let prefix = if i == 0 {
            "RACE".to_string()
        } else {
            default_prefix(t)
        };
        let mut numbers: Vec<String> = all.iter().map(|v| s(v, "number")).collect();
        numbers.sort();
        assert_eq!(
            numbers,
            (1..=3)
                .map(|n| format!("{prefix}-2026-{n:04}"))
                .collect::<Vec<_>>(),
            "gapless and unique"
        );
        let mut months: Vec<String> = all.iter().map(|v| s(v, "period")).collect();
        months.sort();
        assert_eq!(months, periods);
        let price = if i % 2 == 0 { 1_500_000 } else { 4_500_000 };
        for inv in &all {
            assert_eq!(kobo(inv, "subtotal_kobo"), price);
            assert_eq!(kobo(inv, "total_kobo"), price + price * 75 / 1000);
            assert_eq!(inv["status"], "pending");
        }
        ids.extend(all.iter().map(|v| s(v, "id")));
    }

    // Again, on both instances at once: nothing new.
    let reports = round().await;
    let issued: u64 = reports.iter().map(|r| r["issued"].as_u64().unwrap()).sum();
    assert_eq!(issued, 0, "{reports:?}");
    let mut after = Vec::new();
    for t in &orgs {
        after.extend(invoices(&two, t).await.iter().map(|v| s(v, "id")));
    }
    ids.sort();
    after.sort();
    assert_eq!(ids, after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_runs_number_without_gaps_postgres() {
    concurrent_runs(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_runs_number_without_gaps_sqlite() {
    concurrent_runs(Db::Sqlite).await;
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

fn count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

/// The ASCII words of `bytes` (the cross-reference table and trailer are ASCII).
fn words(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// The minimal structure of a PDF file: header, every cross-reference entry pointing at
/// its `N 0 obj … endobj`, a trailer naming the size and the catalog, `startxref`
/// pointing at the table, `%%EOF`. Offsets are bytes.
fn check_pdf_structure(pdf: &[u8]) {
    assert!(pdf.starts_with(b"%PDF-1."), "a PDF header");
    let end = pdf.trim_ascii_end();
    assert!(end.ends_with(b"%%EOF"), "ends with %%EOF");
    let sx = rfind(pdf, b"startxref").expect("startxref");
    let offset: usize = words(&pdf[sx + b"startxref".len()..])[0].parse().unwrap();
    assert!(
        pdf[offset..].starts_with(b"xref"),
        "startxref points at the table"
    );
    let trailer_at = find(&pdf[offset..], b"trailer").expect("a trailer") + offset;
    let table = words(&pdf[offset + b"xref".len()..trailer_at]);
    let first: usize = table[0].parse().unwrap();
    let size: usize = table[1].parse().unwrap();
    assert_eq!(first, 0);
    assert_eq!(table.len(), 2 + 3 * size, "the table has {size} entries");
    let mut objects = 0;
    for (n, entry) in table[2..].chunks(3).enumerate() {
        let at: usize = entry[0].parse().unwrap();
        match entry[2].as_str() {
            "f" => assert_eq!(n, 0, "only object 0 is free"),
            "n" => {
                let generation: u32 = entry[1].parse().unwrap();
                let head = format!("{n} {generation} obj");
                assert!(
                    pdf[at..].starts_with(head.as_bytes()),
                    "xref entry {n} points at its object"
                );
                let body = at + head.len();
                let close = find(&pdf[body..], b"endobj").expect("endobj");
                let next = find(&pdf[body..], b" 0 obj");
                assert!(
                    next.is_none_or(|i| close < i),
                    "object {n} ends before the next begins"
                );
                objects += 1;
            }
            other => panic!("bad xref entry type {other}"),
        }
    }
    assert_eq!(objects, size - 1);
    assert_eq!(count(pdf, b"endobj"), objects);
    let trailer = words(&pdf[trailer_at..sx]);
    let after = |key: &str| {
        trailer
            .iter()
            .position(|w| w == key)
            .map(|i| trailer[i + 1].clone())
            .unwrap_or_else(|| panic!("{key} in the trailer: {trailer:?}"))
    };
    assert_eq!(after("/Size"), size.to_string());
    let root: usize = after("/Root").parse().unwrap();
    assert!(root > 0 && root < size);
    let root_at = find(pdf, format!("\n{root} 0 obj").as_bytes()).expect("the root object") + 1;
    let root_end = find(&pdf[root_at..], b"endobj").unwrap() + root_at;
    assert!(
        find(&pdf[root_at..root_end], b"/Type /Catalog").is_some(),
        "the root is the catalog"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pdf_is_a_pdf_and_other_tenants_get_404() {
    let b = Billed::start(Db::Sqlite, Some(at("2026-11-03T10:00:00Z"))).await;
    let t = b.app.signup("pdf@example.ng").await;
    let other = b.app.signup("pdf-other@example.ng").await;
    b.app.grant_plan(&t, "professional").await;
    b.app.grant_plan(&other, "starter").await;
    // Rendered on the instance that ran the billing, downloaded from another (which
    // renders it on first download from the stored row).
    let dec = b.later(at("2026-12-02T09:00:00Z")).await;
    run(&dec, "2026-11").await;
    let inv = invoice_for(&dec, &t, "2026-11").await;
    let theirs = invoice_for(&dec, &other, "2026-11").await;
    let id = s(&inv, "id");
    let number = s(&inv, "number");
    // 4,500,000 + 337,500 VAT.
    assert_eq!(kobo(&inv, "total_kobo"), 4_837_500);
    assert_eq!(inv["total_display"], "₦48,375.00");

    for app in [&dec, &b.app] {
        let res = app.get(&s(&inv, "pdf_url"), &t.token).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["content-type"], "application/pdf");
        assert_eq!(
            res.headers()["content-disposition"],
            format!("inline; filename=\"{number}.pdf\"")
        );
        let pdf = res.bytes().await.unwrap();
        check_pdf_structure(&pdf);
        // The page's text is in an uncompressed content stream.
        let text = String::from_utf8_lossy(&pdf);
        assert!(text.contains(&format!("({number})")), "the number is shown");
        // Helvetica has no naira sign: the amount is drawn with an N (bars stroked over it).
        assert!(text.contains("(N48,375.00)"), "the total is shown");
        assert!(text.contains("(N3,375.00)"), "the VAT is shown");
        assert!(text.contains("(Total)"));
        assert!(text.contains("4 January 2027"), "the due date");
        assert!(
            text.contains(inv["payment_url"].as_str().unwrap()),
            "the payment link"
        );
    }

    // Another tenant's invoice is not found, as JSON and as PDF; so is a made-up id.
    for path in [
        format!("/api/v1/billing/invoices/{id}"),
        format!("/api/v1/billing/invoices/{id}/pdf"),
        "/api/v1/billing/invoices/inv_nope".to_string(),
        "/api/v1/billing/invoices/inv_nope/pdf".to_string(),
        "/api/v1/billing/invoices/..%2F..%2Fetc%2Fpasswd/pdf".to_string(),
    ] {
        expect_error(
            dec.get(&path, &other.token).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    for path in [
        format!("/api/v1/billing/invoices/{}", s(&theirs, "id")),
        format!("/api/v1/billing/invoices/{}/pdf", s(&theirs, "id")),
    ] {
        expect_error(
            dec.get(&path, &t.token).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
        assert_eq!(dec.get(&path, &other.token).await.status(), StatusCode::OK);
    }
    // Neither tenant sees the other's invoice in its list.
    let mine = invoices(&dec, &t).await;
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["id"], id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paying_an_invoice_at_the_simulator_marks_it_paid_once() {
    let b = Billed::start(Db::Sqlite, Some(at("2026-11-03T10:00:00Z"))).await;
    let t = b.app.signup("payinv@example.ng").await;
    b.app.grant_plan(&t, "starter").await;
    let dec = rewired(&b, at("2026-12-02T09:00:00Z")).await;
    run(&dec.app, "2026-11").await;
    let inv = invoice_for(&dec.app, &t, "2026-11").await;
    assert_eq!(inv["status"], "pending");
    assert_eq!(kobo(&inv, "amount_due_kobo"), 1_612_500);
    let url = s(&inv, "payment_url");
    assert!(url.starts_with(&format!("http://{}/checkout/", dec.sim.addr)));
    let pending: Vec<_> = dec
        .payments(&t)
        .await
        .into_iter()
        .filter(|p| p["purpose"] == "invoice")
        .collect();
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0]["amount_kobo"], 1_612_500);
    assert_eq!(pending[0]["status"], "pending");
    let reference = s(&pending[0], "reference");

    // The payer opens the link and pays; the simulator signs and sends the webhook.
    let page = dec.http.get(&url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    dec.pay(&reference).await;
    let path = format!("/api/v1/billing/invoices/{}", s(&inv, "id"));
    let (_, paid) = body(dec.app.get(&path, &t.token).await).await;
    assert_eq!(paid["status"], "paid", "{paid}");
    assert!(paid["paid_at"].as_str().unwrap().starts_with("2026-12-02T"));
    // An issued invoice's figures never change.
    for key in [
        "number",
        "total_kobo",
        "subtotal_kobo",
        "amount_due_kobo",
        "lines",
        "tax",
    ] {
        assert_eq!(paid[key], inv[key], "{key}");
    }

    // The webhook again, ten times in a row and five at once: nothing changes.
    let list: Value = dec
        .http
        .get(format!("http://{}/sim/webhooks", dec.sim.addr))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let n = list["webhooks"].as_array().unwrap().len();
    let replay = format!("/sim/webhooks/replay/{n}");
    for _ in 0..10 {
        let (status, v) = dec.sim_post(&replay, json!({})).await;
        assert_eq!(status, StatusCode::OK, "{v}");
    }
    let copies = (0..5).map(|_| dec.sim_post(&replay, json!({})));
    for (status, v) in futures::future::join_all(copies).await {
        assert_eq!(status, StatusCode::OK, "{v}");
    }
    let (_, still) = body(dec.app.get(&path, &t.token).await).await;
    assert_eq!(still, paid, "replays change nothing");
    let payments: Vec<_> = dec
        .payments(&t)
        .await
        .into_iter()
        .filter(|p| p["purpose"] == "invoice")
        .collect();
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0]["status"], "success");
    assert_eq!(payments[0]["paid_amount_kobo"], 1_612_500);
    let applied: Vec<_> = dec
        .events()
        .await
        .into_iter()
        .filter(|e| e["reference"] == reference.as_str() && e["outcome"] == "applied")
        .collect();
    assert_eq!(applied.len(), 1, "{applied:?}");
    let notes = dec
        .app
        .state
        .store
        .notifications(t.org_id.parse().unwrap(), "invoice.paid")
        .await
        .unwrap();
    assert_eq!(notes.len(), 1, "one invoice.paid: {notes:?}");
    // The PDF (rendered as pending at issue) now says paid.
    let res = dec.app.get(&s(&inv, "pdf_url"), &t.token).await;
    assert_eq!(res.status(), StatusCode::OK);
    let pdf = res.bytes().await.unwrap();
    check_pdf_structure(&pdf);
    assert!(
        find(&pdf, b"(paid)").is_some(),
        "the PDF shows the invoice paid"
    );
    assert!(find(&pdf, b"(pending)").is_none());
    // Paid: the operator can no longer cancel it (only credit it).
    let op = dec.app.operator_token().await;
    expect_error(
        dec.app
            .post(
                &format!("/api/v1/admin/invoices/{}/cancel", s(&inv, "id")),
                &op,
                json!({"reason": "too late"}),
            )
            .await,
        StatusCode::CONFLICT,
        "not_cancellable",
    )
    .await;
}

/// December is over at 31 Dec 23:00 UTC (1 Jan 00:00 Lagos): its invoice is dated
/// 1 January 2027 and opens the 2027 series, while November's was 2026's first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lagos_new_year_starts_a_new_number_series() {
    let b = Billed::start(Db::Sqlite, Some(at("2026-11-03T10:00:00Z"))).await;
    let t = b.app.signup("newyear@example.ng").await;
    b.app.grant_plan(&t, "starter").await;
    let prefix = default_prefix(&t);

    let nov = b.later(at("2026-12-02T09:00:00Z")).await;
    run(&nov, "2026-11").await;
    let first = invoice_for(&nov, &t, "2026-11").await;
    assert_eq!(first["number"], format!("{prefix}-2026-0001"));

    // 31 Dec 22:30 UTC is still 31 Dec in Lagos: December is not over.
    let eve = b.later(at("2026-12-31T22:30:00Z")).await;
    let op = eve.operator_token().await;
    expect_error(
        eve.post(
            "/api/v1/admin/billing/run",
            &op,
            json!({"period": "2026-12"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "period_not_over",
    )
    .await;

    // 31 Dec 23:30 UTC is 1 Jan 00:30 in Lagos.
    let ny = b.later(at("2026-12-31T23:30:00Z")).await;
    let r = run(&ny, "2026-12").await;
    assert_eq!(r["issued"], 1, "{r}");
    let dec = invoice_for(&ny, &t, "2026-12").await;
    assert_eq!(dec["number"], format!("{prefix}-2027-0001"), "{dec}");
    assert_eq!(dec["invoice_date"], "2027-01-01");
    assert_eq!(dec["period_start"], "2026-11-30T23:00:00.000Z");
    assert_eq!(dec["period_end"], "2026-12-31T23:00:00.000Z");
    // 1 Jan + 30 days is Sunday 31 January: due Monday 1 February.
    assert_eq!(dec["due_date"], "2027-02-01");
    assert_eq!(dec["due_date_display"], "Monday 1 February 2027 (WAT)");
    assert_eq!(kobo(&dec, "total_kobo"), 1_612_500);
}
