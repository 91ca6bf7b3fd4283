//! 5-20-2-2 compliance: per handler, grid cell and category, the share of tickets that met each step, the median
//! and 90th-percentile times, and the tickets overdue now.

use linli_sync_core::ids::{GridId, TicketId, UserId};
use linli_sync_core::rule52022::{Policy52022, Verdict};
use linli_sync_core::state::State;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::calendar::date_of;
use crate::csv;
use crate::policy::{Basis, Filter, ReportPolicy};
use crate::select::{self, Facts};
use crate::stats::{Rate, percentile};

/// One step's figures over a group of tickets.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StepStats {
    /// Met ÷ judged, where judged = met + missed + overdue (pending, not started and not applicable are left out).
    pub met: Rate,
    /// Median time taken by the step, over tickets where it was done (met or missed), ms.
    pub median_ms: Option<u64>,
    /// 90th percentile of the same, ms.
    pub p90_ms: Option<u64>,
}

/// The four steps' figures for one group.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ComplianceRow {
    /// The group: a handler's user id, a grid cell id, a category, or `all`.
    pub key: String,
    /// Tickets in the group.
    pub tickets: usize,
    /// Taken → on site ≤ 5 minutes.
    pub on_site: StepStats,
    /// Small problems: on site → solved ≤ 20 minutes.
    pub small_solved: StepStats,
    /// Complex problems: taken → plan ≤ 2 days.
    pub complex_plan: StepStats,
    /// Complex problems: plan → answer ≤ 2 days.
    pub complex_answer: StepStats,
}

/// A ticket with a step past its deadline and not done.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overdue {
    /// The ticket.
    pub ticket: TicketId,
    /// Its grid cell.
    pub grid: GridId,
    /// Its handler, if taken.
    pub handler: Option<UserId>,
    /// `on_site`, `small_solved`, `complex_plan` or `complex_answer`.
    pub step: String,
    /// The deadline that passed, ms.
    pub deadline_ms: u64,
}

/// The compliance report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Compliance {
    /// Time basis and completeness.
    pub basis: Basis,
    /// The deadlines judged against.
    pub policy: Policy52022,
    /// All tickets in scope.
    pub overall: ComplianceRow,
    /// By handler (the user who first took the ticket; untaken tickets are under `untaken`).
    pub by_handler: Vec<ComplianceRow>,
    /// By grid cell.
    pub by_grid: Vec<ComplianceRow>,
    /// By category.
    pub by_category: Vec<ComplianceRow>,
    /// By local calendar day of creation (`YYYY-MM-DD`), for charts over time.
    pub by_day: Vec<ComplianceRow>,
    /// Overdue now, oldest deadline first.
    pub overdue: Vec<Overdue>,
}

/// Computes the report for tickets created in the filter's range.
pub fn compliance(
    state: &State,
    filter: &Filter,
    policy: &ReportPolicy,
    basis: Basis,
) -> Compliance {
    let facts = select::tickets(state, filter, policy, basis.as_of_ms);
    let group = |key: &dyn Fn(&Facts) -> String| -> Vec<ComplianceRow> {
        let mut groups: BTreeMap<String, Vec<&Facts>> = BTreeMap::new();
        for f in &facts {
            groups.entry(key(f)).or_default().push(f);
        }
        groups.into_iter().map(|(k, fs)| row(k, &fs)).collect()
    };
    let mut overdue: Vec<Overdue> = facts
        .iter()
        .flat_map(|f| {
            steps(f).into_iter().filter_map(move |(step, v)| match v {
                Verdict::Overdue { deadline_ms } => Some(Overdue {
                    ticket: f.id,
                    grid: f.grid,
                    handler: f.handler,
                    step: step.into(),
                    deadline_ms,
                }),
                _ => None,
            })
        })
        .collect();
    overdue.sort_by_key(|o| (o.deadline_ms, o.ticket));
    Compliance {
        overall: row("all".into(), &facts.iter().collect::<Vec<_>>()),
        by_handler: group(&|f| {
            f.handler
                .map_or_else(|| "untaken".into(), |u| u.to_string())
        }),
        by_grid: group(&|f| f.grid.to_string()),
        by_category: group(&|f| f.category.clone()),
        by_day: group(&|f| date_of(f.created_ms, policy.utc_offset_minutes)),
        overdue,
        policy: policy.rule52022,
        basis,
    }
}

fn steps(f: &Facts) -> [(&'static str, Verdict); 4] {
    [
        ("on_site", f.eval.on_site),
        ("small_solved", f.eval.solved),
        ("complex_plan", f.eval.plan),
        ("complex_answer", f.eval.answer),
    ]
}

fn row(key: String, facts: &[&Facts]) -> ComplianceRow {
    let stats = |i: usize| -> StepStats {
        let verdicts: Vec<Verdict> = facts.iter().map(|f| steps(f)[i].1).collect();
        let met = verdicts
            .iter()
            .filter(|v| matches!(v, Verdict::Met { .. }))
            .count();
        let judged = verdicts
            .iter()
            .filter(|v| {
                matches!(
                    v,
                    Verdict::Met { .. } | Verdict::Missed { .. } | Verdict::Overdue { .. }
                )
            })
            .count();
        let times: Vec<u64> = verdicts
            .iter()
            .filter_map(|v| match v {
                Verdict::Met { elapsed_ms } | Verdict::Missed { elapsed_ms } => Some(*elapsed_ms),
                _ => None,
            })
            .collect();
        StepStats {
            met: Rate::of(met, judged),
            median_ms: percentile(&times, 0.5),
            p90_ms: percentile(&times, 0.9),
        }
    };
    ComplianceRow {
        key,
        tickets: facts.len(),
        on_site: stats(0),
        small_solved: stats(1),
        complex_plan: stats(2),
        complex_answer: stats(3),
    }
}

impl Compliance {
    /// The groups as one CSV table (`group` column: all, handler, grid, category, day).
    pub fn csv(&self) -> String {
        let mut rows = Vec::new();
        let mut push = |group: &str, r: &ComplianceRow| {
            let mut cells = vec![group.to_string(), r.key.clone(), r.tickets.to_string()];
            for s in [
                &r.on_site,
                &r.small_solved,
                &r.complex_plan,
                &r.complex_answer,
            ] {
                cells.push(s.met.numerator.to_string());
                cells.push(s.met.denominator.to_string());
                cells.push(s.met.percent());
                cells.push(minutes(s.median_ms));
                cells.push(minutes(s.p90_ms));
            }
            rows.push(cells);
        };
        push("all", &self.overall);
        for r in &self.by_handler {
            push("handler", r);
        }
        for r in &self.by_grid {
            push("grid", r);
        }
        for r in &self.by_category {
            push("category", r);
        }
        for r in &self.by_day {
            push("day", r);
        }
        let mut header = vec!["group 分组", "key 对象", "tickets 工单数"];
        for step in [
            "on_site 5分钟到场",
            "small_solved 20分钟解决",
            "complex_plan 2天方案",
            "complex_answer 2天答复",
        ] {
            header.extend([step, "judged", "met %", "median min", "p90 min"]);
        }
        // The step name heads its "met" column; the following four describe it.
        csv::table(&header, &rows)
    }
}

fn minutes(ms: Option<u64>) -> String {
    ms.map_or_else(String::new, |m| format!("{:.1}", m as f64 / 60_000.0))
}
