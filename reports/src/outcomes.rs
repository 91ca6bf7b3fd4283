//! Ticket outcomes: counts by request type, category, status and intake channel, and the rates admins track —
//! resolution (解决率), timely acceptance (及时签收率), on-time completion (按时办结率), satisfaction (满意率),
//! reopened and sent back — plus dispute mediation (纠纷调处) cases and their resolution rate.

use linli_sync_core::state::State;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::csv;
use crate::policy::{Basis, Filter, ReportPolicy};
use crate::select::{self, Facts, name};
use crate::stats::Rate;

/// The category code of dispute-mediation tickets.
pub const DISPUTE_CATEGORY: &str = "dispute";

/// Rates of a group of tickets.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Rates {
    /// Resolved ÷ tickets.
    pub resolution: Rate,
    /// Taken within the acceptance window ÷ tickets whose acceptance is decided.
    pub timely_acceptance: Rate,
    /// Every applicable 5-20-2-2 step met ÷ tickets whose steps are all decided.
    pub on_time_completion: Rate,
    /// Latest rating ≥ the satisfied threshold ÷ rated tickets.
    pub satisfaction: Rate,
    /// Reopened at least once ÷ tickets.
    pub reopened: Rate,
    /// Sent back at least once ÷ tickets.
    pub sent_back: Rate,
}

impl Rates {
    pub(crate) fn of(facts: &[&Facts], policy: &ReportPolicy, as_of_ms: u64) -> Rates {
        let n = facts.len();
        let count = |f: &dyn Fn(&Facts) -> bool| facts.iter().filter(|x| f(x)).count();
        let accept: Vec<bool> = facts
            .iter()
            .filter_map(|f| f.timely_acceptance(policy, as_of_ms))
            .collect();
        let completion: Vec<bool> = facts.iter().filter_map(|f| f.eval.compliant()).collect();
        let rated: Vec<u8> = facts.iter().filter_map(|f| f.satisfaction).collect();
        Rates {
            resolution: Rate::of(count(&|f| f.resolved()), n),
            timely_acceptance: Rate::of(accept.iter().filter(|b| **b).count(), accept.len()),
            on_time_completion: Rate::of(
                completion.iter().filter(|b| **b).count(),
                completion.len(),
            ),
            satisfaction: Rate::of(
                rated
                    .iter()
                    .filter(|s| **s >= policy.satisfied_from)
                    .count(),
                rated.len(),
            ),
            reopened: Rate::of(count(&|f| f.reopened), n),
            sent_back: Rate::of(count(&|f| f.sent_back), n),
        }
    }
}

/// The outcomes report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outcomes {
    /// Time basis and completeness.
    pub basis: Basis,
    /// Tickets created in the range.
    pub tickets: usize,
    /// Counts by request type.
    pub by_request_type: BTreeMap<String, usize>,
    /// Counts by category.
    pub by_category: BTreeMap<String, usize>,
    /// Counts by current status.
    pub by_status: BTreeMap<String, usize>,
    /// Counts by intake channel.
    pub by_channel: BTreeMap<String, usize>,
    /// The rates over all tickets.
    pub rates: Rates,
    /// Dispute mediation (category `dispute`): cases and resolution rate.
    pub disputes: Rate,
}

/// Computes the report for tickets created in the filter's range.
pub fn outcomes(state: &State, filter: &Filter, policy: &ReportPolicy, basis: Basis) -> Outcomes {
    let facts = select::tickets(state, filter, policy, basis.as_of_ms);
    let refs: Vec<&Facts> = facts.iter().collect();
    let count_by = |key: &dyn Fn(&Facts) -> String| {
        let mut m = BTreeMap::new();
        for f in &facts {
            *m.entry(key(f)).or_insert(0) += 1;
        }
        m
    };
    let disputes: Vec<&Facts> = refs
        .iter()
        .copied()
        .filter(|f| f.category == DISPUTE_CATEGORY)
        .collect();
    Outcomes {
        tickets: facts.len(),
        by_request_type: count_by(&|f| name(&f.request_type)),
        by_category: count_by(&|f| f.category.clone()),
        by_status: count_by(&|f| name(&f.status)),
        by_channel: count_by(&|f| name(&f.channel)),
        rates: Rates::of(&refs, policy, basis.as_of_ms),
        disputes: Rate::of(
            disputes.iter().filter(|f| f.resolved()).count(),
            disputes.len(),
        ),
        basis,
    }
}

impl Outcomes {
    /// Counts and rates as one CSV table of (section, key, value) rows.
    pub fn csv(&self) -> String {
        let mut rows: Vec<Vec<String>> = vec![vec![
            "total".into(),
            "tickets".into(),
            self.tickets.to_string(),
        ]];
        for (section, m) in [
            ("request_type", &self.by_request_type),
            ("category", &self.by_category),
            ("status", &self.by_status),
            ("channel", &self.by_channel),
        ] {
            for (k, v) in m {
                rows.push(vec![section.into(), k.clone(), v.to_string()]);
            }
        }
        let r = &self.rates;
        for (k, rate) in [
            ("resolution 解决率 %", &r.resolution),
            ("timely_acceptance 及时签收率 %", &r.timely_acceptance),
            ("on_time_completion 按时办结率 %", &r.on_time_completion),
            ("satisfaction 满意率 %", &r.satisfaction),
            ("reopened 重办率 %", &r.reopened),
            ("sent_back 退单率 %", &r.sent_back),
            ("dispute_resolution 纠纷调处解决率 %", &self.disputes),
        ] {
            rows.push(vec!["rate".into(), k.into(), rate.percent()]);
        }
        csv::table(&["section 类别", "key 项目", "value 数值"], &rows)
    }
}
