//! The dashboard in a real browser: the server with a seeded data set, Debian's headless Chromium driven by
//! playwright-core (`server/tests/browser/dashboard.mjs`): log in as the admin, see the panels and charts drawn with
//! the seeded numbers, download a CSV, switch to English, no console errors. The screenshot is kept in
//! `target/tmp/dashboard/dashboard.png`.
//!
//! Needs `node`, `chromium` and `npm ci --prefix server/tests/browser`; `scripts/test` installs them.

use linli_reports::calendar::date_of;
use linli_sync_core::prelude::*;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

use crate::common::{ADMIN_PASSWORD, TestApp};
use crate::reports::seeded;

#[actix_web::test]
async fn dashboard_renders_the_seeded_figures_in_chromium() {
    let browser_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        browser_dir.join("node_modules/playwright-core").exists(),
        "playwright-core is not installed: run `npm ci --prefix server/tests/browser` (scripts/test does)"
    );
    let app = TestApp::spawn().await;
    let mut w = seeded(&app).await;
    // Today the butler knocked on h1's door (seen); h2 was missed.
    let visit = crate::common::visit(w.butler.user, w.g1, w.h1);
    let op = w
        .butler
        .op(OpBody::Entry(EntryId::random(), EntryOp::Visit(visit)));
    app.push_ok(&w.butler, &[op]).await;
    // An hour of patrol (59 whole minutes) approved in g1.
    w.approved_activity(&app).await;
    // h1 owes 100 yuan this month and paid 50 in cash.
    let month = date_of(linli_server::now_ms(), 480)[..7].to_string();
    let due = linli_reports::fees::FeeDue {
        household: w.h1,
        period: month.clone(),
        amount_fen: 10_000,
    };
    linli_server::ledger::import_dues(
        &mut app.db(),
        linli_server::community::CommunityId::FIRST,
        &[due],
        0,
    )
    .expect("due stored");
    let paid = app
        .post(
            "/v1/fees/payments",
            Some(&app.admin_token),
            serde_json::json!({"household": w.h1.to_string(), "period": month, "amount_fen": 5_000}),
        )
        .await;
    assert_eq!(paid.status, 201, "{:#}", paid.body);

    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard");
    std::fs::create_dir_all(&out).expect("artefact dir");
    let r = drive(&browser_dir, &app.base, "admin", ADMIN_PASSWORD, &out).await;
    assert!(r.get("exception").is_none(), "{:#}", r);
    assert_eq!(r["consoleErrors"], serde_json::json!([]), "{:#}", r);
    assert_eq!(r["pageErrors"], serde_json::json!([]), "{:#}", r);
    assert_eq!(r["failedRequests"], serde_json::json!([]), "{:#}", r);
    assert_eq!(r["error"], serde_json::json!(""), "{:#}", r);
    assert_eq!(
        r["loginHidden"],
        serde_json::json!(true),
        "the login form goes away after login"
    );

    let kpi = |panel: &str, label: &str| -> String {
        r[panel]
            .as_array()
            .and_then(|k| k.iter().find(|p| p[0] == label))
            .and_then(|p| p[1].as_str())
            .unwrap_or_else(|| panic!("no KPI {label} in {panel}: {:#}", r))
            .to_string()
    };
    // The seeded world (see reports.rs): two tickets, on site met for one of them; both elderly households due a
    // visit today, one seen.
    assert_eq!(kpi("compliance", "工单数"), "2");
    assert_eq!(kpi("compliance", "5分钟到场"), "50.0%");
    assert_eq!(kpi("outcomes", "解决率"), "50.0%");
    assert_eq!(kpi("coverage", "需敲门户数"), "2");
    assert_eq!(kpi("coverage", "已见面"), "50.0%");
    assert!(r["canvases"].as_u64().is_some_and(|n| n >= 4), "{:#}", r);
    // Charts carry the seeded numbers: 1.0 approved hour in g1 (59 minutes), 50 % of the fee collected.
    assert_eq!(r["hoursBars"], serde_json::json!([1]), "{:#}", r);
    assert_eq!(r["hoursLabels"], serde_json::json!(["第一网格"]), "{:#}", r);
    assert_eq!(r["feeBars"], serde_json::json!([50]), "{:#}", r);

    assert_eq!(r["csvName"], serde_json::json!("linli-compliance.csv"));
    assert_eq!(r["csvBom"], serde_json::json!(true));
    let second = r["csvHead"][1].as_str().unwrap_or("");
    assert!(second.starts_with("all,all,2,1,2,50.0,"), "{second}");
    assert_eq!(r["englishTitle"], serde_json::json!("5-20-2-2 compliance"));
    assert!(out.join("dashboard.png").exists(), "screenshot kept");
    assert_eq!(
        r["communityPick"],
        serde_json::json!(false),
        "an admin has no community selector"
    );
    assert_eq!(
        r["districtShown"],
        serde_json::json!(false),
        "nor the district-wide list"
    );

    // Issue #11: a district admin picks the community; the second (empty) one's reports replace the first's.
    let mut conn = app.db();
    linli_server::community::create(&mut conn, "和平里社区", "城东街道", 0).expect("community");
    let hash = linli_server::password::hash_now(ADMIN_PASSWORD).expect("hash");
    linli_server::identity::add_user(&mut conn, "district", Role::Admin, None, Some(&hash), 0)
        .expect("district admin");
    drop(conn);
    // The grid worker takes 3 more tickets: 4 in all, enough to be ranked on the district-wide list.
    let mut ops = Vec::new();
    for _ in 0..3 {
        let t = TicketId::random();
        ops.push(
            w.worker
                .op(OpBody::Ticket(t, crate::common::ticket_create(w.g1))),
        );
        ops.push(
            w.worker
                .op(OpBody::Ticket(t, TicketOp::Take(Note::default()))),
        );
    }
    app.push_ok(&w.worker, &ops).await;
    let d = drive(&browser_dir, &app.base, "district", ADMIN_PASSWORD, &out).await;
    for key in ["consoleErrors", "pageErrors", "failedRequests"] {
        assert_eq!(d[key], serde_json::json!([]), "{key}: {:#}", d);
    }
    assert!(d.get("exception").is_none(), "{:#}", d);
    assert_eq!(d["error"], serde_json::json!(""), "{:#}", d);
    assert_eq!(d["communityPick"], serde_json::json!(true), "{:#}", d);
    assert_eq!(
        d["communities"],
        serde_json::json!(["community 1", "和平里社区"]),
        "{:#}",
        d
    );
    assert_eq!(d["secondError"], serde_json::json!(""), "{:#}", d);
    let tickets = |panel: &Value| {
        panel
            .as_array()
            .and_then(|k| k.iter().find(|p| p[0] == "工单数"))
            .and_then(|p| p[1].as_str())
            .map(str::to_string)
    };
    assert_eq!(
        tickets(&d["secondCompliance"]).as_deref(),
        Some("0"),
        "{:#}",
        d
    );
    assert_eq!(tickets(&d["compliance"]).as_deref(), Some("5"), "{:#}", d);
    assert_eq!(d["districtShown"], serde_json::json!(true), "{:#}", d);
    assert_eq!(
        d["districtRed"],
        serde_json::json!(["community 1"]),
        "{:#}",
        d
    );
}

/// Runs `dashboard.mjs` against the server at `base`, logged in as `username`; what it printed.
async fn drive(
    browser_dir: &std::path::Path,
    base: &str,
    username: &str,
    password: &str,
    out: &std::path::Path,
) -> Value {
    let (base, username, password) = (base.to_string(), username.to_string(), password.to_string());
    let script = browser_dir.join("dashboard.mjs");
    let out2 = out.to_path_buf();
    let output = actix_web::rt::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            // A browser far from the community's zone (UTC-12 against the reports' UTC+8): its own "today" differs
            // from the community's 20 hours a day, so default dates taken from the browser's zone fail here.
            .env("TZ", "Etc/GMT+12")
            .args([
                base.as_str(),
                username.as_str(),
                password.as_str(),
                out2.to_str().expect("utf8"),
            ])
            .output()
    })
    .await
    .expect("joined")
    .expect("node runs (install Node.js and chromium; scripts/test does)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "node failed: {stderr}\n{stdout}");
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"))
}
