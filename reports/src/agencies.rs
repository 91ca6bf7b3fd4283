//! The linked bodies' figures (联动单位考核): per agency, how many tickets were dispatched to it, accepted,
//! completed and still open with it, the dispatch → acceptance and dispatch → completion times (median and 90th
//! percentile, nearest rank: [`percentile`]), on-time rates against the policy's SLAs, and what is overdue now.
//!
//! The unit is a *dispatch*: one `Dispatched` event of a ticket, to one agency. Which events count for which
//! dispatch:
//! - A dispatch lasts until the ticket's next dispatch (to any agency: a reassignment, or the same agency again)
//!   or the ticket's first close, solve or answer after it (the handler's own), whichever comes first. That ends the agency's clock: an open dispatch
//!   is judged (pending or overdue) only while it lasts.
//! - An acceptance (`AgencyAccepted`) or completion (`AgencyCompleted`) counts for the agency it names, for that
//!   agency's latest dispatch of the ticket stamped before it, and is measured from that dispatch. Only the first
//!   of each kind counts; one naming an agency never dispatched the ticket before it counts for nothing. One
//!   stamped after the dispatch ended (recorded late, offline) still counts: the body did the work.
//! - A completion with no acceptance before it counts as the acceptance too (the body did the work unannounced).
//!
//! A dispatch's acceptance (and, the same way, its completion) is *met* if done within the SLA of the dispatch,
//! *missed* if done later or if the dispatch ended undone after the SLA had passed, *overdue* if it still lasts
//! undone past the SLA, and otherwise *pending* (or not judged, if it ended undone within the SLA). The on-time
//! rate is met ÷ (met + missed + overdue). Times are the HLC wall times of the ops (device event time).

use linli_sync_core::agency::AgencyKind;
use linli_sync_core::ids::{AgencyId, GridId, TicketId};
use linli_sync_core::state::State;
use linli_sync_core::ticket::{EventKind, Ticket};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::csv;
use crate::policy::{Basis, Filter, ReportPolicy};
use crate::select::{self, name};
use crate::stats::{Rate, percentile};

/// One clock's figures (acceptance or completion) of one agency.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SlaStats {
    /// Met ÷ (met + missed + overdue).
    pub on_time: Rate,
    /// Median time from dispatch over the dispatches where it was done, ms.
    pub median_ms: Option<u64>,
    /// 90th percentile of the same, ms.
    pub p90_ms: Option<u64>,
    /// Dispatches still lasting, not done, past the SLA.
    pub overdue: usize,
}

/// One linked body's figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgencyRow {
    /// The agency.
    pub agency: AgencyId,
    /// Its name (empty if its create is not known).
    pub name: String,
    /// Its kind.
    pub kind: Option<AgencyKind>,
    /// Dispatches to it.
    pub dispatched: usize,
    /// Of those, accepted (a completion counts as acceptance).
    pub accepted: usize,
    /// Of those, completed.
    pub completed: usize,
    /// Of those, still lasting (not reassigned, ticket not closed) and not completed.
    pub open: usize,
    /// Of those, ended by a later dispatch and never completed.
    pub reassigned: usize,
    /// Dispatch → acceptance.
    pub acceptance: SlaStats,
    /// Dispatch → completion.
    pub completion: SlaStats,
}

/// A dispatch with a clock past its SLA and not done.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgencyOverdue {
    /// The ticket.
    pub ticket: TicketId,
    /// Its grid cell.
    pub grid: GridId,
    /// The agency.
    pub agency: AgencyId,
    /// `acceptance` or `completion`.
    pub step: String,
    /// The deadline that passed, ms.
    pub deadline_ms: u64,
}

/// The `agencies` report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Agencies {
    /// Time basis and completeness.
    pub basis: Basis,
    /// The acceptance SLA judged against, ms.
    pub accept_sla_ms: u64,
    /// The completion SLA judged against, ms.
    pub complete_sla_ms: u64,
    /// Every known agency (with no dispatches: zeros) and every agency a ticket in scope was dispatched to, by
    /// name then id.
    pub agencies: Vec<AgencyRow>,
    /// Overdue now, oldest deadline first.
    pub overdue: Vec<AgencyOverdue>,
}

/// Computes the report over the dispatches of tickets created in the filter's range.
pub fn agencies(state: &State, filter: &Filter, policy: &ReportPolicy, basis: Basis) -> Agencies {
    let spells = spells(state, filter, policy, basis.as_of_ms);
    let mut overdue: Vec<AgencyOverdue> = spells
        .iter()
        .flat_map(|s| {
            [
                ("acceptance", s.acceptance, s.accept_deadline),
                ("completion", s.completion, s.complete_deadline),
            ]
            .into_iter()
            .filter(|(_, v, _)| *v == Verdict::Overdue)
            .map(|(step, _, deadline_ms)| AgencyOverdue {
                ticket: s.ticket,
                grid: s.grid,
                agency: s.agency,
                step: step.into(),
                deadline_ms,
            })
        })
        .collect();
    overdue.sort_by_key(|o| (o.deadline_ms, o.ticket, o.agency));
    Agencies {
        agencies: rows(state, &spells),
        overdue,
        accept_sla_ms: policy.agency_accept_ms,
        complete_sla_ms: policy.agency_complete_ms,
        basis,
    }
}

/// The per-agency rows over tickets created in the filter's range, as the red/black list ranks them.
pub(crate) fn agency_rows(
    state: &State,
    filter: &Filter,
    policy: &ReportPolicy,
    as_of_ms: u64,
) -> Vec<AgencyRow> {
    rows(state, &spells(state, filter, policy, as_of_ms))
}

/// How one clock of one dispatch stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    /// Done within the SLA.
    Met,
    /// Done late, or ended undone after the SLA.
    Missed,
    /// Lasting, undone, past the SLA.
    Overdue,
    /// Lasting, undone, within the SLA; or ended undone within it.
    NotJudged,
}

/// One dispatch and what became of it.
#[derive(Debug)]
struct Spell {
    ticket: TicketId,
    grid: GridId,
    agency: AgencyId,
    dispatched_ms: u64,
    accepted_ms: Option<u64>,
    completed_ms: Option<u64>,
    /// When a later dispatch or a close ended it.
    ended_ms: Option<u64>,
    reassigned: bool,
    acceptance: Verdict,
    accept_deadline: u64,
    completion: Verdict,
    complete_deadline: u64,
}

fn spells(state: &State, filter: &Filter, policy: &ReportPolicy, as_of_ms: u64) -> Vec<Spell> {
    select::tickets(state, filter, policy, as_of_ms)
        .iter()
        .filter_map(|f| Some((f.id, f.grid, state.ticket(&f.id)?)))
        .flat_map(|(id, grid, t)| ticket_spells(id, grid, t, policy, as_of_ms))
        .collect()
}

fn ticket_spells(
    id: TicketId,
    grid: GridId,
    t: &Ticket,
    policy: &ReportPolicy,
    as_of_ms: u64,
) -> Vec<Spell> {
    let mut spells: Vec<Spell> = Vec::new();
    // The events in stamp order: each dispatch ends the one before it; a close ends the lasting one; an acceptance
    // or completion goes to its agency's latest dispatch so far.
    for (stamp, e) in t.timeline() {
        let at = stamp.time.wall_ms;
        match (e.kind, e.agency) {
            (EventKind::Dispatched, Some(agency)) => {
                if let Some(last) = spells.last_mut().filter(|s| s.ended_ms.is_none()) {
                    last.ended_ms = Some(at);
                    last.reassigned = true;
                }
                spells.push(Spell {
                    ticket: id,
                    grid,
                    agency,
                    dispatched_ms: at,
                    accepted_ms: None,
                    completed_ms: None,
                    ended_ms: None,
                    reassigned: false,
                    acceptance: Verdict::NotJudged,
                    accept_deadline: at.saturating_add(policy.agency_accept_ms),
                    completion: Verdict::NotJudged,
                    complete_deadline: at.saturating_add(policy.agency_complete_ms),
                });
            }
            // The cooperative's own solve or answer ends it too: phones have no close step, and a ticket the
            // handler solved is not the body's to finish (review of issue 13).
            (EventKind::Closed | EventKind::Solved | EventKind::Answered, _) => {
                if let Some(last) = spells.last_mut().filter(|s| s.ended_ms.is_none()) {
                    last.ended_ms = Some(at);
                }
            }
            (kind @ (EventKind::AgencyAccepted | EventKind::AgencyCompleted), Some(agency)) => {
                if let Some(s) = spells.iter_mut().rev().find(|s| s.agency == agency) {
                    let slot = if kind == EventKind::AgencyAccepted {
                        &mut s.accepted_ms
                    } else {
                        &mut s.completed_ms
                    };
                    slot.get_or_insert(at);
                }
            }
            _ => {}
        }
    }
    for s in &mut spells {
        if s.completed_ms.is_some() {
            s.reassigned = false;
        }
        // A completion with no acceptance before it is the acceptance too.
        s.accepted_ms = match (s.accepted_ms, s.completed_ms) {
            (Some(a), Some(c)) => Some(a.min(c)),
            (a, c) => a.or(c),
        };
        s.acceptance = verdict(s.accepted_ms, s.ended_ms, s.accept_deadline, as_of_ms);
        s.completion = verdict(s.completed_ms, s.ended_ms, s.complete_deadline, as_of_ms);
    }
    spells
}

fn verdict(done: Option<u64>, ended: Option<u64>, deadline: u64, as_of_ms: u64) -> Verdict {
    match (done, ended) {
        (Some(t), _) if t <= deadline => Verdict::Met,
        (Some(_), _) => Verdict::Missed,
        (None, Some(e)) if e > deadline => Verdict::Missed,
        (None, Some(_)) => Verdict::NotJudged,
        (None, None) if as_of_ms > deadline => Verdict::Overdue,
        (None, None) => Verdict::NotJudged,
    }
}

fn rows(state: &State, spells: &[Spell]) -> Vec<AgencyRow> {
    let mut by_agency: BTreeMap<AgencyId, Vec<&Spell>> = state
        .agencies()
        .iter()
        .filter(|(_, a)| a.exists())
        .map(|(id, _)| (*id, Vec::new()))
        .collect();
    for s in spells {
        by_agency.entry(s.agency).or_default().push(s);
    }
    let mut rows: Vec<AgencyRow> = by_agency
        .into_iter()
        .map(|(id, ss)| {
            let agency = state.agency(&id);
            let stats = |done: fn(&Spell) -> Option<u64>, verdict: fn(&Spell) -> Verdict| {
                let count = |v: Verdict| ss.iter().filter(|s| verdict(s) == v).count();
                let (met, missed, overdue) = (
                    count(Verdict::Met),
                    count(Verdict::Missed),
                    count(Verdict::Overdue),
                );
                let times: Vec<u64> = ss
                    .iter()
                    .filter_map(|s| done(s).map(|t| t.saturating_sub(s.dispatched_ms)))
                    .collect();
                SlaStats {
                    on_time: Rate::of(met, met + missed + overdue),
                    median_ms: percentile(&times, 0.5),
                    p90_ms: percentile(&times, 0.9),
                    overdue,
                }
            };
            AgencyRow {
                agency: id,
                name: agency.and_then(|a| a.name.val.clone()).unwrap_or_default(),
                kind: agency.and_then(|a| a.kind.val),
                dispatched: ss.len(),
                accepted: ss.iter().filter(|s| s.accepted_ms.is_some()).count(),
                completed: ss.iter().filter(|s| s.completed_ms.is_some()).count(),
                open: ss
                    .iter()
                    .filter(|s| s.ended_ms.is_none() && s.completed_ms.is_none())
                    .count(),
                reassigned: ss.iter().filter(|s| s.reassigned).count(),
                acceptance: stats(|s| s.accepted_ms, |s| s.acceptance),
                completion: stats(|s| s.completed_ms, |s| s.completion),
            }
        })
        .collect();
    rows.sort_by(|a, b| a.name.cmp(&b.name).then(a.agency.cmp(&b.agency)));
    rows
}

impl Agencies {
    /// One row per agency, names first, ids as extra columns.
    pub fn csv(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .agencies
            .iter()
            .map(|r| {
                let mut cells = vec![
                    r.name.clone(),
                    r.kind.as_ref().map(name).unwrap_or_default(),
                    r.dispatched.to_string(),
                    r.accepted.to_string(),
                    r.completed.to_string(),
                    r.open.to_string(),
                    r.reassigned.to_string(),
                ];
                for s in [&r.acceptance, &r.completion] {
                    cells.extend([
                        s.on_time.numerator.to_string(),
                        s.on_time.denominator.to_string(),
                        s.on_time.percent(),
                        hours(s.median_ms),
                        hours(s.p90_ms),
                        s.overdue.to_string(),
                    ]);
                }
                cells.push(r.agency.to_string());
                cells
            })
            .collect();
        csv::table(&HEADER, &rows)
    }
}

const HEADER: [&str; 20] = [
    "agency 联动单位",
    "kind 类型",
    "dispatched 派单数",
    "accepted 已接单",
    "completed 已办结",
    "open 办理中",
    "reassigned 已改派",
    "accepted_on_time 按时接单",
    "acceptance_judged 接单考核数",
    "acceptance_on_time % 按时接单率",
    "acceptance_median h 接单中位时长",
    "acceptance_p90 h 接单90分位时长",
    "acceptance_overdue 超时未接单",
    "completed_on_time 按时办结",
    "completion_judged 办结考核数",
    "completion_on_time % 按时办结率",
    "completion_median h 办结中位时长",
    "completion_p90 h 办结90分位时长",
    "completion_overdue 超时未办结",
    "agency_id 单位编号",
];

/// Hours with one decimal, or empty.
pub(crate) fn hours(ms: Option<u64>) -> String {
    ms.map_or_else(String::new, |m| format!("{:.1}", m as f64 / 3_600_000.0))
}
