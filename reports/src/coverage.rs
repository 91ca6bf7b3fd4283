//! Door-knock coverage (敲门行动) for one calendar day: every household that needs a daily visit, who visited, seen
//! or not seen — missed households first — and the health flags raised that day.

use linli_sync_core::entry::{EntryStatus, HealthFlag, Record};
use linli_sync_core::ids::{EntryId, GridId, HouseholdId, TicketId, UserId};
use linli_sync_core::review::{ReviewItem, needs_review};
use linli_sync_core::state::State;
use linli_sync_core::ticket::Status;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::calendar::day_range;
use crate::csv;
use crate::policy::{Basis, Filter, ReportPolicy};
use crate::select::name;
use crate::stats::Rate;

/// How a household fared that day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Nobody knocked.
    Missed,
    /// Somebody knocked, nobody answered.
    NotSeen,
    /// The resident was seen.
    Seen,
}

/// One visit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitSeen {
    /// The log entry.
    pub entry: EntryId,
    /// Who knocked.
    pub by: UserId,
    /// When (device event time).
    pub at_ms: u64,
    /// Resident seen.
    pub seen: bool,
    /// Health flag.
    pub health: Option<HealthFlag>,
}

/// One household of the daily list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HouseholdRow {
    /// The grid cell.
    pub grid: GridId,
    /// The household.
    pub household: HouseholdId,
    /// Building.
    pub building: String,
    /// Unit.
    pub unit: String,
    /// Room.
    pub room: String,
    /// Micro-butlers assigned to visit it.
    pub assigned: Vec<UserId>,
    /// Missed, not seen, or seen.
    pub outcome: Outcome,
    /// The day's visits, in time order.
    pub visits: Vec<VisitSeen>,
}

/// A health flag raised that day, with its follow-up ticket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthAlert {
    /// The household.
    pub household: HouseholdId,
    /// The visit.
    pub visit: VisitSeen,
    /// The follow-up ticket.
    pub ticket: Option<TicketId>,
    /// Its status now.
    pub ticket_status: Option<Status>,
}

/// The coverage report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Coverage {
    /// Time basis and completeness.
    pub basis: Basis,
    /// The day, `YYYY-MM-DD`, in the community's time zone.
    pub day: String,
    /// Households that need a daily visit.
    pub households: usize,
    /// Visited (seen or not) ÷ households.
    pub visited: Rate,
    /// Seen ÷ households.
    pub seen: Rate,
    /// Every household: missed first, then not seen, then seen; by grid, building, unit, room within.
    pub rows: Vec<HouseholdRow>,
    /// Health flags raised that day.
    pub alerts: Vec<HealthAlert>,
    /// The review list of the cells (any day, until acted on): visits and open tickets accepted as written within
    /// the rights of their time that a later removal left unexplained (`linli_sync_core::review`, issue 17).
    pub review: Vec<ReviewItem>,
}

/// Computes coverage for `day` (`YYYY-MM-DD`); `None` if `day` is not a valid date. The filter's grid cells apply;
/// its time range is ignored (the day is the range).
pub fn coverage(
    state: &State,
    day: &str,
    filter: &Filter,
    policy: &ReportPolicy,
    basis: Basis,
) -> Option<Coverage> {
    let (start, end) = day_range(day, policy.utc_offset_minutes)?;
    let visits_that_day: Vec<(EntryId, &linli_sync_core::entry::Visit, u64)> = state
        .entries()
        .iter()
        .filter(|(_, e)| e.status() == EntryStatus::Recorded)
        .filter_map(|(id, e)| match &e.record {
            Some((stamp, Record::Visit(v))) if (start..end).contains(&stamp.time.wall_ms) => {
                Some((*id, v, stamp.time.wall_ms))
            }
            _ => None,
        })
        .collect();
    let seen_of = |(id, v, at): &(EntryId, &linli_sync_core::entry::Visit, u64)| VisitSeen {
        entry: *id,
        by: v.volunteer,
        at_ms: *at,
        seen: v.seen,
        health: v.health,
    };
    // The day's visits by household, in time order: each household then looks up its own.
    let mut by_household: BTreeMap<HouseholdId, Vec<VisitSeen>> = BTreeMap::new();
    for v in &visits_that_day {
        by_household
            .entry(v.1.household)
            .or_default()
            .push(seen_of(v));
    }
    for visits in by_household.values_mut() {
        visits.sort_by_key(|v| (v.at_ms, v.entry));
    }
    let mut rows = Vec::new();
    for (grid_id, grid) in state.grids() {
        if !filter.includes(grid_id) {
            continue;
        }
        for household in grid.elderly_alone() {
            let Some(details) = grid.household(household) else {
                continue;
            };
            let visits = by_household.get(household).cloned().unwrap_or_default();
            let outcome = if visits.is_empty() {
                Outcome::Missed
            } else if visits.iter().any(|v| v.seen) {
                Outcome::Seen
            } else {
                Outcome::NotSeen
            };
            rows.push(HouseholdRow {
                grid: *grid_id,
                household: *household,
                building: details.building.clone(),
                unit: details.unit.clone(),
                room: details.room.clone(),
                assigned: grid
                    .visits
                    .iter()
                    .filter(|(h, _)| h == household)
                    .map(|(_, b)| *b)
                    .collect(),
                outcome,
                visits,
            });
        }
    }
    rows.sort_by(|a, b| {
        (
            a.outcome,
            a.grid,
            &a.building,
            &a.unit,
            &a.room,
            a.household,
        )
            .cmp(&(
                b.outcome,
                b.grid,
                &b.building,
                &b.unit,
                &b.room,
                b.household,
            ))
    });
    let mut alerts: Vec<HealthAlert> = visits_that_day
        .iter()
        .filter(|(_, v, _)| v.health.is_some() && filter.includes(&v.grid))
        .map(|x| HealthAlert {
            household: x.1.household,
            visit: seen_of(x),
            ticket: x.1.follow_up,
            ticket_status: x
                .1
                .follow_up
                .and_then(|t| state.ticket(&t))
                .map(|t| t.status()),
        })
        .collect();
    alerts.sort_by_key(|a| (a.visit.at_ms, a.visit.entry));
    let n = rows.len();
    let visited = rows.iter().filter(|r| r.outcome != Outcome::Missed).count();
    let seen = rows.iter().filter(|r| r.outcome == Outcome::Seen).count();
    let review = needs_review(state)
        .into_iter()
        .filter(|i| filter.includes(&i.grid))
        .collect();
    Some(Coverage {
        basis,
        day: day.into(),
        households: n,
        visited: Rate::of(visited, n),
        seen: Rate::of(seen, n),
        rows,
        alerts,
        review,
    })
}

impl Coverage {
    /// The household list as CSV, missed first.
    pub fn csv(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| {
                vec![
                    name(&r.outcome),
                    r.grid.to_string(),
                    r.building.clone(),
                    r.unit.clone(),
                    r.room.clone(),
                    r.household.to_string(),
                    r.visits.len().to_string(),
                    r.visits
                        .iter()
                        .map(|v| v.by.to_string())
                        .collect::<Vec<_>>()
                        .join(" "),
                    r.visits
                        .iter()
                        .filter_map(|v| v.health.map(|h| name(&h)))
                        .collect::<Vec<_>>()
                        .join(" "),
                ]
            })
            .collect();
        csv::table(
            &[
                "outcome 结果",
                "grid 网格",
                "building 楼",
                "unit 单元",
                "room 室",
                "household 住户",
                "visits 敲门次数",
                "visited_by 敲门人",
                "health 健康提示",
            ],
            &rows,
        )
    }
}
