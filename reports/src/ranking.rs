//! The red/black list (红黑榜) of a period, normally a month: handlers scored from volume, satisfaction, timely
//! acceptance, on-time completion, reopened and sent-back rates, with the weights in one policy value. The top
//! scorers are on the red list, the bottom ones on the black list; handlers under a minimum volume are not ranked,
//! so one lucky ticket does not top the list.
//!
//! score = w_volume × (volume ÷ largest volume) + w_satisfaction × satisfaction + w_timely × timely acceptance
//!       + w_on_time × on-time completion − w_reopened × reopened − w_sent_back × sent back.
//!
//! A rate that a handler has no data for (no rated ticket, say) takes the value of all ranked tickets together,
//! so missing data neither rewards nor punishes.

use linli_sync_core::ids::UserId;
use linli_sync_core::state::State;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::csv;
use crate::outcomes::Rates;
use crate::policy::{Basis, Filter, RankingWeights, ReportPolicy};
use crate::select::{self, Facts};

/// One ranked handler.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ranked {
    /// The handler.
    pub handler: UserId,
    /// Tickets they took in the period.
    pub volume: usize,
    /// Their rates.
    pub rates: Rates,
    /// Their score.
    pub score: f64,
}

/// The red/black list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ranking {
    /// Time basis and completeness.
    pub basis: Basis,
    /// The weights used.
    pub weights: RankingWeights,
    /// The minimum volume to be ranked.
    pub min_volume: usize,
    /// Best first.
    pub red: Vec<Ranked>,
    /// Worst first; nobody is on both lists.
    pub black: Vec<Ranked>,
    /// Every ranked handler, best first.
    pub all: Vec<Ranked>,
}

/// Computes the list over tickets created in the filter's range.
pub fn ranking(state: &State, filter: &Filter, policy: &ReportPolicy, basis: Basis) -> Ranking {
    let facts = select::tickets(state, filter, policy, basis.as_of_ms);
    let mut by_handler: BTreeMap<UserId, Vec<&Facts>> = BTreeMap::new();
    for f in &facts {
        if let Some(h) = f.handler {
            by_handler.entry(h).or_default().push(f);
        }
    }
    by_handler.retain(|_, fs| fs.len() >= policy.ranking_min_volume);
    let pooled: Vec<&Facts> = by_handler.values().flatten().copied().collect();
    let overall = Rates::of(&pooled, policy, basis.as_of_ms);
    let max_volume = by_handler.values().map(Vec::len).max().unwrap_or(1).max(1);
    let w = policy.ranking;
    let mut all: Vec<Ranked> = by_handler
        .into_iter()
        .map(|(handler, fs)| {
            let rates = Rates::of(&fs, policy, basis.as_of_ms);
            let or = |r: Option<f64>, o: Option<f64>| r.or(o).unwrap_or(0.0);
            let score = w.volume * fs.len() as f64 / max_volume as f64
                + w.satisfaction * or(rates.satisfaction.value, overall.satisfaction.value)
                + w.timely_acceptance
                    * or(
                        rates.timely_acceptance.value,
                        overall.timely_acceptance.value,
                    )
                + w.on_time_completion
                    * or(
                        rates.on_time_completion.value,
                        overall.on_time_completion.value,
                    )
                - w.reopened * or(rates.reopened.value, overall.reopened.value)
                - w.sent_back * or(rates.sent_back.value, overall.sent_back.value);
            Ranked {
                handler,
                volume: fs.len(),
                rates,
                score,
            }
        })
        .collect();
    // Best first; ties go to the larger volume, then to the smaller id so the order is stable.
    all.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(b.volume.cmp(&a.volume))
            .then(a.handler.cmp(&b.handler))
    });
    let red: Vec<Ranked> = all.iter().take(policy.ranking_size).cloned().collect();
    let black: Vec<Ranked> = all
        .iter()
        .rev()
        .take(policy.ranking_size.min(all.len().saturating_sub(red.len())))
        .cloned()
        .collect();
    Ranking {
        basis,
        weights: w,
        min_volume: policy.ranking_min_volume,
        red,
        black,
        all,
    }
}

impl Ranking {
    /// Both lists as CSV.
    pub fn csv(&self) -> String {
        let mut rows = Vec::new();
        for (list, people) in [("red 红榜", &self.red), ("black 黑榜", &self.black)] {
            for (i, r) in people.iter().enumerate() {
                rows.push(vec![
                    list.into(),
                    (i + 1).to_string(),
                    r.handler.to_string(),
                    r.volume.to_string(),
                    format!("{:.4}", r.score),
                    r.rates.satisfaction.percent(),
                    r.rates.timely_acceptance.percent(),
                    r.rates.on_time_completion.percent(),
                    r.rates.reopened.percent(),
                    r.rates.sent_back.percent(),
                ]);
            }
        }
        csv::table(
            &[
                "list 榜单",
                "rank 名次",
                "handler 处理人",
                "volume 工单数",
                "score 得分",
                "satisfaction % 满意率",
                "timely_acceptance % 及时签收率",
                "on_time % 按时办结率",
                "reopened % 重办率",
                "sent_back % 退单率",
            ],
            &rows,
        )
    }
}
