//! Report latency over loopback HTTP, end to end (auth, the report on the merged state, JSON or CSV encoding,
//! transfer): a year of a 10-building community (sync-core's `community_year`: 500 households visited daily, 5,000
//! tickets, 2,000 activities; about 218,000 ops) pushed through `/v1/sync`, then each report fetched 5 times.
//! Prints a Markdown table with the median and the slowest of the 5.
//!
//! Run: `cargo bench -p linli-server --bench report_latency`.

use linli_reports::calendar::date_of;
use linli_server::config::Config;
use linli_server::{app, now_ms};
use linli_sync_core::prelude::*;
use linli_sync_core::test_support::community_year;
use serde_json::{Value, json};
use std::net::TcpListener;
use std::time::{Duration, Instant};

const DAY_MS: u64 = 86_400_000;

fn main() {
    actix_web::rt::System::new().block_on(run());
}

async fn post(http: &reqwest::Client, url: String, token: Option<&str>, body: &Value) -> Value {
    let mut req = http.post(url).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.expect("request");
    let status = res.status();
    let body: Value = res.json().await.expect("json");
    assert!(status.is_success(), "{status} {body:#}");
    body
}

async fn run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = Config {
        data_dir: dir.path().to_path_buf(),
        database_url: dir
            .path()
            .join("linli.sqlite3")
            .to_string_lossy()
            .into_owned(),
        admin_password: Some("bench".into()),
        access_token_ttl_secs: 3600,
        ..Config::default()
    };
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (state, _) = app::prepare(config).expect("prepare");
    let server = app::server(state, listener).expect("server");
    actix_web::rt::spawn(server);
    let http = reqwest::Client::new();

    let login = post(
        &http,
        format!("{base}/v1/auth/login"),
        None,
        &json!({"username": "admin", "password": "bench"}),
    )
    .await;
    let token = login["access_token"].as_str().expect("token").to_string();
    let user: UserId = login["user_id"]
        .as_str()
        .expect("user")
        .parse()
        .expect("uuid");
    let code = post(
        &http,
        format!("{base}/v1/enrolment-codes"),
        Some(&token),
        &json!({"user_id": user.to_string()}),
    )
    .await;
    let dev = post(
        &http,
        format!("{base}/v1/devices/enrol"),
        None,
        &json!({"code": code["code"]}),
    )
    .await;
    let device: ReplicaId = dev["device_id"]
        .as_str()
        .expect("device")
        .parse()
        .expect("uuid");
    let device_token = dev["access_token"].as_str().expect("token").to_string();

    // A year that ends yesterday, written (as far as the server is concerned) on the admin's phone.
    let year0 = now_ms() - 366 * DAY_MS;
    let mut ops = community_year(year0, 365);
    for op in &mut ops {
        op.replica = device;
        op.author = user;
    }
    let seed_start = Instant::now();
    let mut cursor = 0u64;
    for batch in ops.chunks(1000) {
        let body = json!({"protocol": 1, "cursor": cursor, "limit": 1, "ops": batch.iter().map(Op::to_value).collect::<Vec<_>>()});
        let answer = post(&http, format!("{base}/v1/sync"), Some(&device_token), &body).await;
        cursor = answer["cursor"].as_u64().unwrap_or(cursor);
    }
    let seeded_in = seed_start.elapsed();
    // The property office's dues: 120 yuan a month for every household, the last 12 months; 90 % paid in cash.
    let months: Vec<String> = (0..12)
        .map(|m| date_of(now_ms() - m * 30 * DAY_MS, 480)[..7].to_string())
        .collect();
    let households: Vec<HouseholdId> = ops
        .iter()
        .filter_map(|op| match &op.body {
            OpBody::Grid(_, GridOp::AddHousehold { household, .. }) => Some(*household),
            _ => None,
        })
        .collect();
    let dues: Vec<linli_reports::fees::FeeDue> = months
        .iter()
        .flat_map(|m| {
            households.iter().map(move |h| linli_reports::fees::FeeDue {
                household: *h,
                period: m.clone(),
                amount_fen: 12_000,
            })
        })
        .collect();
    let pool =
        linli_server::db::open(&dir.path().join("linli.sqlite3").to_string_lossy(), 1).expect("db");
    linli_server::ledger::import_dues(
        &mut pool.get().expect("conn"),
        linli_server::community::CommunityId::FIRST,
        &dues,
        0,
    )
    .expect("dues");
    for (i, h) in households.iter().enumerate().filter(|(i, _)| i % 10 != 0) {
        let period = &months[i % 12];
        post(
            &http,
            format!("{base}/v1/fees/payments"),
            Some(&token),
            &json!({"household": h.to_string(), "period": period, "amount_fen": 12_000}),
        )
        .await;
    }

    let from = date_of(year0, 480);
    let to = date_of(now_ms() - DAY_MS, 480);
    let month = &to[..7];
    let mid = date_of(year0 + 180 * DAY_MS, 480);
    let reports: Vec<(&str, String)> = vec![
        (
            "5-20-2-2 compliance, one year",
            format!("compliance?from={from}&to={to}"),
        ),
        (
            "5-20-2-2 compliance, one year, CSV",
            format!("compliance?from={from}&to={to}&format=csv"),
        ),
        (
            "ticket outcomes, one year",
            format!("outcomes?from={from}&to={to}"),
        ),
        (
            "red/black list, one month",
            format!("ranking?month={month}"),
        ),
        (
            "door-knock coverage, one day",
            format!("coverage?day={mid}"),
        ),
        (
            "volunteer hours and cards, one year",
            format!("hours?from={from}&to={to}"),
        ),
        (
            "fee collection, 12 months",
            format!("fees?from={}&to={}", &from[..7], month),
        ),
    ];
    println!(
        "seeded {} ops through /v1/sync in {:.1} s",
        ops.len(),
        seeded_in.as_secs_f64()
    );
    println!();
    println!("| report over HTTP | bytes | median of 5 | slowest |");
    println!("| --- | ---: | ---: | ---: |");
    for (name, path) in reports {
        let mut times: Vec<Duration> = Vec::new();
        let mut bytes = 0;
        for _ in 0..5 {
            let start = Instant::now();
            let res = http
                .get(format!("{base}/v1/reports/{path}"))
                .bearer_auth(&token)
                .send()
                .await
                .expect("request");
            assert!(res.status().is_success(), "{path}: {}", res.status());
            bytes = res.bytes().await.expect("body").len();
            times.push(start.elapsed());
        }
        times.sort();
        println!(
            "| {name} | {bytes} | {:.1} ms | {:.1} ms |",
            times[2].as_secs_f64() * 1e3,
            times[4].as_secs_f64() * 1e3
        );
    }
}
