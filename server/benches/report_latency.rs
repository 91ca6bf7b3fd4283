//! Report latency over loopback HTTP, end to end (auth, the report on the merged state, JSON or CSV encoding,
//! transfer): a year of a 10-building community (sync-core's `community_year`: 500 households visited daily, 5,000
//! tickets, 2,000 activities; about 218,000 ops) pushed through `/v1/sync`, then each report fetched 5 times.
//! Prints a Markdown table with the median and the slowest of the 5.
//!
//! Run: `cargo bench -p linli-server --bench report_latency`.

use linli_reports::calendar::date_of;
use linli_server::now_ms;
use linli_sync_core::prelude::*;
use serde_json::json;
use std::time::{Duration, Instant};
use support::{DAY_MS, Seeder, post};

#[path = "support/mod.rs"]
mod support;

fn main() {
    actix_web::rt::System::new().block_on(run());
}

async fn run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut seeder = Seeder::start(support::config(dir.path())).await;
    let http = seeder.http.clone();
    let base = seeder.base.clone();
    let token = seeder.admin_token.clone();

    // A year that ends yesterday, written (as far as the server is concerned) on the admin's phone.
    let year0 = support::year0(0);
    let ops = support::community_year(0);
    let seed_start = Instant::now();
    seeder.push(&ops).await;
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
        linli_server::db::open(&support::database(dir.path()).to_string_lossy(), 1).expect("db");
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
    seeder.stop().await;
}
