//! Volunteer hours and green energy cards: minutes per volunteer, activity kind and grid cell, pending versus
//! approved; and each card's points earned, redeemed and balance, with every movement traceable to its approval or
//! redemption.

use linli_sync_core::card::Movement;
use linli_sync_core::entry::{EntryStatus, Record};
use linli_sync_core::ids::{GridId, ReplicaId, UserId};
use linli_sync_core::state::State;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

use crate::csv;
use crate::policy::{Basis, Filter};
use crate::select::name;

/// Minutes of one (volunteer, grid cell, activity kind, status) group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoursRow {
    /// The volunteer.
    pub volunteer: UserId,
    /// The grid cell.
    pub grid: GridId,
    /// Kind of service.
    pub activity: String,
    /// `pending`, `approved`, `rejected` or `void`.
    pub status: String,
    /// Entries.
    pub entries: usize,
    /// Minutes.
    pub minutes: u64,
}

/// A volunteer's totals in the range.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolunteerTotals {
    /// The volunteer.
    pub volunteer: UserId,
    /// Approved minutes (these earn points).
    pub approved_minutes: u64,
    /// Minutes awaiting a decision.
    pub pending_minutes: u64,
    /// Rejected or withdrawn minutes.
    pub refused_minutes: u64,
}

/// A green energy card, now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardRow {
    /// The volunteer.
    pub volunteer: UserId,
    /// Points ever credited.
    pub credited: u64,
    /// Points ever redeemed.
    pub redeemed: u64,
    /// Balance now (= credited − redeemed).
    pub balance: u64,
    /// Spending rights by replica (the server's pool and devices' allowances); they sum to the balance.
    pub rights: BTreeMap<ReplicaId, u64>,
    /// Movements whose time falls in the range, in time order.
    pub movements: Vec<Movement>,
}

/// The hours report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hours {
    /// Time basis and completeness (activities by their start time).
    pub basis: Basis,
    /// Groups.
    pub rows: Vec<HoursRow>,
    /// Per volunteer.
    pub volunteers: Vec<VolunteerTotals>,
    /// Approved minutes per grid cell.
    pub approved_by_grid: BTreeMap<GridId, u64>,
    /// The cards of the volunteers in the report (every card, when no grid cell is filtered).
    pub cards: Vec<CardRow>,
}

/// Computes hours for activities that started in the filter's range and grid cells.
pub fn hours(state: &State, filter: &Filter, basis: Basis) -> Hours {
    let mut groups: BTreeMap<(UserId, GridId, String, String), (usize, u64)> = BTreeMap::new();
    let mut totals: BTreeMap<UserId, VolunteerTotals> = BTreeMap::new();
    let mut by_grid: BTreeMap<GridId, u64> = BTreeMap::new();
    for e in state.entries().values() {
        let Some((_, Record::Activity(a))) = &e.record else {
            continue;
        };
        if !filter.covers(a.start_ms) || !filter.includes(&a.grid) {
            continue;
        }
        let status = e.status();
        let minutes = u64::from(a.minutes());
        let g = groups
            .entry((a.volunteer, a.grid, a.activity.clone(), name(&status)))
            .or_default();
        g.0 += 1;
        g.1 += minutes;
        let t = totals
            .entry(a.volunteer)
            .or_insert_with(|| VolunteerTotals {
                volunteer: a.volunteer,
                ..VolunteerTotals::default()
            });
        match status {
            EntryStatus::Approved => {
                t.approved_minutes += minutes;
                *by_grid.entry(a.grid).or_default() += minutes;
            }
            EntryStatus::Pending => t.pending_minutes += minutes,
            _ => t.refused_minutes += minutes,
        }
    }
    let people: BTreeSet<UserId> = totals.keys().copied().collect();
    let cards = state
        .cards()
        .iter()
        .filter(|(v, _)| filter.grids.is_none() || people.contains(v))
        .map(|(v, c)| CardRow {
            volunteer: *v,
            credited: c.credited().0,
            redeemed: c.redeemed().0,
            balance: c.balance().0,
            rights: c.all_rights().into_iter().map(|(r, p)| (r, p.0)).collect(),
            movements: c
                .movements()
                .into_iter()
                .filter(|m| {
                    let at = match m {
                        Movement::Credit { credit, .. } => credit.stamp.time.wall_ms,
                        Movement::Redeem { spend, .. } => spend.stamp.time.wall_ms,
                    };
                    filter.covers(at)
                })
                .collect(),
        })
        .collect();
    Hours {
        basis,
        rows: groups
            .into_iter()
            .map(
                |((volunteer, grid, activity, status), (entries, minutes))| HoursRow {
                    volunteer,
                    grid,
                    activity,
                    status,
                    entries,
                    minutes,
                },
            )
            .collect(),
        volunteers: totals.into_values().collect(),
        approved_by_grid: by_grid,
        cards,
    }
}

impl Hours {
    /// Per-volunteer totals with their card, as CSV.
    pub fn csv(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .volunteers
            .iter()
            .map(|t| {
                let card = self.cards.iter().find(|c| c.volunteer == t.volunteer);
                let pts =
                    |f: fn(&CardRow) -> u64| card.map_or_else(String::new, |c| f(c).to_string());
                vec![
                    t.volunteer.to_string(),
                    format!("{:.2}", t.approved_minutes as f64 / 60.0),
                    format!("{:.2}", t.pending_minutes as f64 / 60.0),
                    format!("{:.2}", t.refused_minutes as f64 / 60.0),
                    pts(|c| c.credited),
                    pts(|c| c.redeemed),
                    pts(|c| c.balance),
                ]
            })
            .collect();
        csv::table(
            &[
                "volunteer 志愿者",
                "approved_hours 已审核时长",
                "pending_hours 待审核时长",
                "refused_hours 未通过时长",
                "points_earned 绿能卡获得",
                "points_redeemed 绿能卡使用",
                "balance 绿能卡余额",
            ],
            &rows,
        )
    }
}
