//! What every report takes: the filter (time range, grid cells), the policy numbers, and the basis it states.

use linli_sync_core::ids::GridId;
use linli_sync_core::rule52022::Policy52022;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The policy numbers of the reports, in one value (documented in `docs/reports.md`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportPolicy {
    /// The 5-20-2-2 deadlines.
    pub rule52022: Policy52022,
    /// A ticket is accepted in time (及时签收) if taken at most this long after it was created.
    pub accept_ms: u64,
    /// A rating at or above this counts as satisfied (满意).
    pub satisfied_from: u8,
    /// Red/black list weights.
    pub ranking: RankingWeights,
    /// Handlers with fewer tickets than this in the month are not ranked.
    pub ranking_min_volume: usize,
    /// How many names each list shows.
    pub ranking_size: usize,
    /// The community's UTC offset in minutes, for calendar days (China: +480, no daylight saving).
    pub utc_offset_minutes: i32,
    /// Property-fee value of one green-energy-card point, in fen (cents of a yuan).
    pub fen_per_point: u64,
    /// A linked body accepts a ticket in time if it does so at most this long after its dispatch (1 day).
    pub agency_accept_ms: u64,
    /// A linked body completes a ticket in time if it does so at most this long after its dispatch (5 days).
    pub agency_complete_ms: u64,
    /// Weights of the linked bodies' group of the red/black list.
    pub agency_ranking: AgencyWeights,
}

/// Weights of a linked body's red/black list score (score = Σ weight × figure; see `docs/reports.md`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgencyWeights {
    /// Dispatches, relative to the busiest ranked body.
    pub volume: f64,
    /// On-time acceptance rate (accepted within `agency_accept_ms`).
    pub on_time_acceptance: f64,
    /// On-time completion rate (completed within `agency_complete_ms`).
    pub on_time_completion: f64,
}

/// Weights of the red/black list score (score = Σ weight × figure; see `docs/reports.md`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RankingWeights {
    /// Volume, relative to the busiest handler.
    pub volume: f64,
    /// Satisfaction rate.
    pub satisfaction: f64,
    /// Timely acceptance rate.
    pub timely_acceptance: f64,
    /// On-time completion rate.
    pub on_time_completion: f64,
    /// Reopened rate (subtracted).
    pub reopened: f64,
    /// Sent-back rate (subtracted).
    pub sent_back: f64,
}

impl ReportPolicy {
    /// The defaults.
    pub const DEFAULT: ReportPolicy = ReportPolicy {
        rule52022: Policy52022::STANDARD,
        accept_ms: 30 * 60 * 1000,
        satisfied_from: 4,
        ranking: RankingWeights {
            volume: 0.2,
            satisfaction: 0.3,
            timely_acceptance: 0.2,
            on_time_completion: 0.2,
            reopened: 0.05,
            sent_back: 0.05,
        },
        ranking_min_volume: 3,
        ranking_size: 5,
        utc_offset_minutes: 480,
        fen_per_point: 100,
        agency_accept_ms: 24 * 60 * 60 * 1000,
        agency_complete_ms: 5 * 24 * 60 * 60 * 1000,
        agency_ranking: AgencyWeights {
            volume: 0.2,
            on_time_acceptance: 0.3,
            on_time_completion: 0.5,
        },
    };
}

impl Default for ReportPolicy {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Which data a report covers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    /// Event time from (inclusive), ms since the epoch.
    pub from_ms: u64,
    /// Event time to (exclusive).
    pub to_ms: u64,
    /// Only these grid cells (`None`: all the caller may see).
    pub grids: Option<BTreeSet<GridId>>,
}

impl Filter {
    /// Everything between `from_ms` and `to_ms`.
    pub fn between(from_ms: u64, to_ms: u64) -> Self {
        Filter {
            from_ms,
            to_ms,
            grids: None,
        }
    }

    /// Whether `t` falls in the range.
    pub fn covers(&self, t: u64) -> bool {
        self.from_ms <= t && t < self.to_ms
    }

    /// Whether `grid` is in scope.
    pub fn includes(&self, grid: &GridId) -> bool {
        self.grids.as_ref().is_none_or(|g| g.contains(grid))
    }
}

/// What a report is based on: stated in every report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Basis {
    /// Always `"device_event_time"`: the HLC wall time of the op that recorded each event (when the work was done,
    /// not when it was synced).
    pub time: String,
    /// The report reflects every op with a server sequence number up to this one.
    pub complete_up_to_seq: u64,
    /// The time at which open deadlines were judged (pending or overdue), ms since the epoch.
    pub as_of_ms: u64,
}

impl Basis {
    /// A basis complete up to `seq`, judged at `as_of_ms`.
    pub fn new(complete_up_to_seq: u64, as_of_ms: u64) -> Self {
        Basis {
            time: "device_event_time".into(),
            complete_up_to_seq,
            as_of_ms,
        }
    }
}
