//! Councils' decisions (议事): of the complex tickets created in the range, how many a residents' council or the
//! deliberation clinic decided, and how long from the ticket's creation to the decision; per council kind; and the
//! decisions themselves with their linked tickets.
//!
//! A ticket is *complex* if its effective complexity is (classified complex, or a plan or decision was made); it is
//! *decided* once it has a `Decided` event (a `ticket.decide` linking it to a decision). Its *time to decision* is
//! from its creation to its first `Decided` event — when the decision was linked as its plan, by device event time;
//! a meeting date has no time of day. Under a council kind, a ticket counts once, measured to its first link to a
//! decision of that kind (a ticket linked to decisions of both kinds counts under each).

use linli_sync_core::decision::Council;
use linli_sync_core::ids::{DecisionId, TicketId};
use linli_sync_core::state::State;
use linli_sync_core::ticket::{Complexity, EventKind};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

use crate::agencies::hours;
use crate::calendar::day_range;
use crate::csv;
use crate::policy::{Basis, Filter, ReportPolicy};
use crate::select::{self, name};
use crate::stats::{Rate, percentile};

/// Times from ticket creation to decision.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ToDecision {
    /// Median, ms.
    pub median_ms: Option<u64>,
    /// 90th percentile (nearest rank), ms.
    pub p90_ms: Option<u64>,
}

/// One council kind's figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CouncilRow {
    /// Residents' council or deliberation clinic.
    pub council: Council,
    /// Its decisions listed in [`Councils::decisions`].
    pub decisions: usize,
    /// Complex tickets created in the range that it decided.
    pub tickets: usize,
    /// Their time from creation to its decision.
    pub to_decision: ToDecision,
}

/// One decision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DecisionRow {
    /// The decision.
    pub decision: DecisionId,
    /// The meeting day, `YYYY-MM-DD`.
    pub date: String,
    /// The council kind (`None` if its record is not known).
    pub council: Option<Council>,
    /// Which council.
    pub council_name: String,
    /// What was decided.
    pub text: String,
    /// The tickets in scope linked to it (created in the range or not), in id order.
    pub tickets: Vec<TicketId>,
}

/// The `councils` report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Councils {
    /// Time basis and completeness.
    pub basis: Basis,
    /// Complex tickets created in the range.
    pub complex: usize,
    /// Of those, decided by a council ÷ complex.
    pub decided: Rate,
    /// Their time from creation to decision.
    pub to_decision: ToDecision,
    /// Per council kind (both kinds, always).
    pub by_council: Vec<CouncilRow>,
    /// The decisions linked to a ticket of the range in scope, and those whose meeting day falls in the range;
    /// by date, then id.
    pub decisions: Vec<DecisionRow>,
}

/// Computes the report over tickets created in the filter's range.
pub fn councils(state: &State, filter: &Filter, policy: &ReportPolicy, basis: Basis) -> Councils {
    let complex: Vec<_> = select::tickets(state, filter, policy, basis.as_of_ms)
        .into_iter()
        .filter_map(|f| state.ticket(&f.id).map(|t| (f, t)))
        .filter(|(_, t)| t.effective_complexity() == Complexity::Complex)
        .collect();
    let links: Vec<Links> = complex
        .iter()
        .map(|(f, t)| Links {
            created_ms: f.created_ms,
            linked: t
                .timeline()
                .filter(|(_, e)| e.kind == EventKind::Decided)
                .filter_map(|(s, e)| e.decision.map(|d| (d, s.time.wall_ms)))
                .collect(),
        })
        .collect();
    let times = |council: Option<Council>| -> Vec<u64> {
        links
            .iter()
            .filter_map(|Links { created_ms, linked }| {
                linked
                    .iter()
                    .find(|(d, _)| {
                        council.is_none() || state.decision(d).and_then(|x| x.council()) == council
                    })
                    .map(|(_, at)| at.saturating_sub(*created_ms))
            })
            .collect()
    };
    let to_decision = |t: &[u64]| ToDecision {
        median_ms: percentile(t, 0.5),
        p90_ms: percentile(t, 0.9),
    };
    let all = times(None);

    let mut listed: BTreeSet<DecisionId> = links
        .iter()
        .flat_map(|l| l.linked.iter().map(|(d, _)| *d))
        .collect();
    listed.extend(
        state
            .decisions()
            .iter()
            .filter(|(_, d)| {
                // The meeting day, as a local calendar day, overlaps the range.
                d.exists()
                    && d.date
                        .val
                        .as_deref()
                        .and_then(|day| day_range(day, policy.utc_offset_minutes))
                        .is_some_and(|(start, end)| start < filter.to_ms && filter.from_ms < end)
            })
            .map(|(id, _)| *id),
    );
    let mut decisions: Vec<DecisionRow> = listed
        .into_iter()
        .map(|id| {
            let d = state.decision(&id);
            let field = |f: fn(&linli_sync_core::decision::Decision) -> Option<String>| {
                d.and_then(f).unwrap_or_default()
            };
            DecisionRow {
                decision: id,
                date: field(|d| d.date.val.clone()),
                council: d.and_then(|d| d.council()),
                council_name: field(|d| d.council_name.val.clone()),
                text: field(|d| d.text.val.clone()),
                tickets: state
                    .tickets_decided_by(&id)
                    .into_iter()
                    .filter(|t| {
                        state
                            .ticket(t)
                            .and_then(|t| t.grid())
                            .is_some_and(|g| filter.includes(&g))
                    })
                    .collect(),
            }
        })
        .collect();
    decisions.sort_by(|a, b| a.date.cmp(&b.date).then(a.decision.cmp(&b.decision)));

    let mut by_council: BTreeMap<Council, CouncilRow> = BTreeMap::new();
    for council in [Council::ResidentsCouncil, Council::DeliberationClinic] {
        let t = times(Some(council));
        by_council.insert(
            council,
            CouncilRow {
                council,
                decisions: decisions
                    .iter()
                    .filter(|d| d.council == Some(council))
                    .count(),
                tickets: t.len(),
                to_decision: to_decision(&t),
            },
        );
    }
    Councils {
        complex: complex.len(),
        decided: Rate::of(all.len(), complex.len()),
        to_decision: to_decision(&all),
        by_council: by_council.into_values().collect(),
        decisions,
        basis,
    }
}

/// One complex ticket's creation and the decisions it links, in stamp order, with each link's time.
struct Links {
    created_ms: u64,
    linked: Vec<(DecisionId, u64)>,
}

impl Councils {
    /// The figures as one table: a row for all councils, one per council kind, one per decision (its linked
    /// tickets' ids separated by spaces).
    pub fn csv(&self) -> String {
        let mut rows = vec![vec![
            "all".into(),
            String::new(),
            String::new(),
            String::new(),
            self.complex.to_string(),
            self.decided.numerator.to_string(),
            self.decided.percent(),
            hours(self.to_decision.median_ms),
            hours(self.to_decision.p90_ms),
            String::new(),
            String::new(),
            String::new(),
        ]];
        for c in &self.by_council {
            rows.push(vec![
                "council".into(),
                name(&c.council),
                String::new(),
                String::new(),
                String::new(),
                c.tickets.to_string(),
                String::new(),
                hours(c.to_decision.median_ms),
                hours(c.to_decision.p90_ms),
                c.decisions.to_string(),
                String::new(),
                String::new(),
            ]);
        }
        for d in &self.decisions {
            rows.push(vec![
                "decision".into(),
                d.council.as_ref().map(name).unwrap_or_default(),
                d.council_name.clone(),
                d.date.clone(),
                String::new(),
                d.tickets.len().to_string(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                d.text.clone(),
                d.tickets
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" "),
            ]);
        }
        csv::table(&HEADER, &rows)
    }
}

const HEADER: [&str; 12] = [
    "group 分组",
    "council 议事类型",
    "council_name 议事机构",
    "date 议事日期",
    "complex 复杂工单数",
    "decided 议事决定工单数",
    "decided % 议事决定率",
    "to_decision_median h 决定中位时长",
    "to_decision_p90 h 决定90分位时长",
    "decisions 决定数",
    "text 决定内容",
    "ticket_ids 工单编号",
];
