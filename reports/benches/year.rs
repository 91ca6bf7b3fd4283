//! Report latency over one year of a 10-building community: 500 households (every one visited daily, 182,500
//! visits), 7 grid cells, 5,000 tickets with full lifecycles, 2,000 volunteer activities with approvals, and a fee
//! ledger of 12 months. Prints a Markdown table (median of 5 runs per report).
//! Run: `cargo bench -p linli-reports --bench year`.

use linli_reports::compliance::compliance;
use linli_reports::coverage::coverage;
use linli_reports::fees::{CashPayment, FeeDue, Ledger, fees};
use linli_reports::hours::hours;
use linli_reports::outcomes::outcomes;
use linli_reports::ranking::ranking;
use linli_reports::{Basis, Filter, ReportPolicy};
use linli_sync_core::prelude::*;
use linli_sync_core::test_support::community_year;
use std::hint::black_box;
use std::time::{Duration, Instant};

const DAY: u64 = 24 * 60 * 60_000;
/// 2026-01-01 00:00 UTC+8.
const YEAR0: u64 = 1_767_196_800_000;

fn main() {
    let all = community_year(YEAR0, 365);
    let mut state = State::new(Rules::DEFAULT);
    for op in &all {
        state.apply(op);
    }
    let ops = all.len();
    let households: Vec<HouseholdId> = state
        .grids()
        .values()
        .flat_map(|g| g.households.iter().copied().collect::<Vec<_>>())
        .collect();
    let mut ledger = Ledger::default();
    for m in 1..=12 {
        for (i, h) in households.iter().enumerate() {
            let period = format!("2026-{m:02}");
            ledger.dues.push(FeeDue {
                household: *h,
                period: period.clone(),
                amount_fen: 12_000,
            });
            if i % 10 != 0 {
                ledger.payments.push(CashPayment {
                    household: *h,
                    period,
                    amount_fen: 12_000,
                });
            }
        }
    }
    let policy = ReportPolicy::DEFAULT;
    let year = Filter::between(YEAR0, YEAR0 + 365 * DAY);
    let month = Filter::between(YEAR0 + 180 * DAY, YEAR0 + 211 * DAY);
    let basis = || Basis::new(ops as u64, YEAR0 + 366 * DAY);

    let time = |f: &dyn Fn() -> usize| -> Duration {
        let mut runs: Vec<Duration> = (0..5)
            .map(|_| {
                let start = Instant::now();
                black_box(f());
                start.elapsed()
            })
            .collect();
        runs.sort();
        runs[2]
    };
    let rows: Vec<(&str, Duration)> = vec![
        (
            "5-20-2-2 compliance, one year",
            time(&|| compliance(&state, &year, &policy, basis()).by_handler.len()),
        ),
        (
            "ticket outcomes, one year",
            time(&|| outcomes(&state, &year, &policy, basis()).tickets),
        ),
        (
            "red/black list, one month",
            time(&|| ranking(&state, &month, &policy, basis()).all.len()),
        ),
        (
            "door-knock coverage, one day",
            time(&|| {
                coverage(&state, "2026-07-01", &Filter::default(), &policy, basis())
                    .map_or(0, |c| c.rows.len())
            }),
        ),
        (
            "volunteer hours and cards, one year",
            time(&|| hours(&state, &year, basis()).volunteers.len()),
        ),
        (
            "fee collection, 12 months",
            time(&|| {
                fees(
                    &state,
                    &ledger,
                    "2026-01",
                    "2026-12",
                    &Filter::default(),
                    &policy,
                    basis(),
                )
                .rows
                .len()
            }),
        ),
        (
            "compliance CSV export, one year",
            time(&|| compliance(&state, &year, &policy, basis()).csv().len()),
        ),
    ];
    println!(
        "data set: {} ops ({} visits, 5000 tickets × 6 events, 2000 activities), {} ledger lines",
        ops,
        365 * 500,
        ledger.dues.len() + ledger.payments.len()
    );
    println!();
    println!("| report | median of 5 |");
    println!("| --- | ---: |");
    for (name, d) in rows {
        println!("| {name} | {:.1} ms |", d.as_secs_f64() * 1e3);
    }
}
