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
//!
//! The linked bodies (联动单位) are ranked as their own group, from their figures in the `agencies` report
//! ([`crate::agencies`]), with their own weights ([`AgencyWeights`]):
//!
//! score = w_volume × (dispatches ÷ largest dispatches) + w_acceptance × on-time acceptance
//!       + w_completion × on-time completion,
//!
//! over the bodies with at least the minimum volume (in dispatches); a rate a body has no judged dispatch for takes
//! the value of all ranked bodies' dispatches together, as for handlers. Ties go to more dispatches, then to the
//! smaller agency id.

use linli_sync_core::ids::{AgencyId, UserId};
use linli_sync_core::state::State;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::agencies::{self, AgencyRow};
use crate::csv;
use crate::outcomes::Rates;
use crate::policy::{AgencyWeights, Basis, Filter, RankingWeights, ReportPolicy};
use crate::select::{self, Facts};
use crate::stats::Rate;

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
    /// The weights of the linked bodies' group.
    pub agency_weights: AgencyWeights,
    /// The linked bodies with at least the minimum volume (in dispatches), best first.
    pub agencies: Vec<RankedAgency>,
}

/// One ranked linked body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RankedAgency {
    /// The agency.
    pub agency: AgencyId,
    /// Its name.
    pub name: String,
    /// Dispatches to it in the period.
    pub volume: usize,
    /// On-time acceptance (as in the `agencies` report).
    pub on_time_acceptance: Rate,
    /// On-time completion (as in the `agencies` report).
    pub on_time_completion: Rate,
    /// Its score.
    pub score: f64,
}

/// Computes the list over tickets created in the filter's range.
pub fn ranking(state: &State, filter: &Filter, policy: &ReportPolicy, basis: Basis) -> Ranking {
    let facts = select::tickets(state, filter, policy, basis.as_of_ms);
    let all: Vec<Ranked> = scored(
        facts.iter().filter_map(|f| f.handler.map(|h| (h, f))),
        |h| h,
        policy,
        basis.as_of_ms,
    )
    .into_iter()
    .map(|(_, r)| r)
    .collect();
    let (red, black) = lists(&all, policy);
    let agencies = ranked_agencies(
        agencies::agency_rows(state, filter, policy, basis.as_of_ms),
        policy,
    );
    Ranking {
        basis,
        weights: policy.ranking,
        min_volume: policy.ranking_min_volume,
        red,
        black,
        all,
        agency_weights: policy.agency_ranking,
        agencies,
    }
}

/// Scores the agencies of `rows` with at least the minimum volume, best first.
fn ranked_agencies(rows: Vec<AgencyRow>, policy: &ReportPolicy) -> Vec<RankedAgency> {
    let rows: Vec<AgencyRow> = rows
        .into_iter()
        .filter(|r| r.dispatched > 0 && r.dispatched >= policy.ranking_min_volume)
        .collect();
    let pooled = |rate: fn(&AgencyRow) -> Rate| {
        let (n, d) = rows
            .iter()
            .map(rate)
            .fold((0, 0), |(n, d), r| (n + r.numerator, d + r.denominator));
        Rate::of(n, d).value
    };
    let (acceptance, completion) = (
        pooled(|r| r.acceptance.on_time),
        pooled(|r| r.completion.on_time),
    );
    let max_volume = rows.iter().map(|r| r.dispatched).max().unwrap_or(1).max(1);
    let w = policy.agency_ranking;
    let or = |r: Option<f64>, o: Option<f64>| r.or(o).unwrap_or(0.0);
    let mut ranked: Vec<RankedAgency> = rows
        .into_iter()
        .map(|r| RankedAgency {
            score: w.volume * r.dispatched as f64 / max_volume as f64
                + w.on_time_acceptance * or(r.acceptance.on_time.value, acceptance)
                + w.on_time_completion * or(r.completion.on_time.value, completion),
            agency: r.agency,
            name: r.name,
            volume: r.dispatched,
            on_time_acceptance: r.acceptance.on_time,
            on_time_completion: r.completion.on_time,
        })
        .collect();
    ranked.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(b.volume.cmp(&a.volume))
            .then(a.agency.cmp(&b.agency))
    });
    ranked
}

/// The handlers' facts of one community for the district-wide list: gathered one community at a time, so the
/// caller need not hold every community's state at once.
#[derive(Debug)]
pub struct Handled {
    facts: Vec<Facts>,
}

/// The tickets of `state` in the filter's range, as [`district`] ranks them.
pub fn handled(state: &State, filter: &Filter, policy: &ReportPolicy, as_of_ms: u64) -> Handled {
    Handled {
        facts: select::tickets(state, filter, policy, as_of_ms)
            .into_iter()
            .filter(|f| f.handler.is_some())
            .collect(),
    }
}

/// One community of a district-wide list: what its part is based on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// The community's id.
    pub community: i64,
    /// Its name.
    pub name: String,
    /// Time basis and completeness of its part.
    pub basis: Basis,
}

/// One handler on the district-wide list, with their community.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DistrictRanked {
    /// The handler's community.
    pub community: i64,
    /// Its name.
    pub community_name: String,
    /// The handler's ranking, as in one community's list.
    #[serde(flatten)]
    pub ranked: Ranked,
}

/// The district-wide red/black list (街道红黑榜): every handler of every community ranked together, as if the
/// communities' tickets were one community's (the largest volume and the pooled rates are the district's).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DistrictRanking {
    /// The communities ranked, each with its basis.
    pub communities: Vec<Part>,
    /// The weights used.
    pub weights: RankingWeights,
    /// The minimum volume to be ranked (in one community: a handler's tickets are not summed across communities).
    pub min_volume: usize,
    /// Best first.
    pub red: Vec<DistrictRanked>,
    /// Worst first; nobody is on both lists.
    pub black: Vec<DistrictRanked>,
    /// Every ranked handler, best first.
    pub all: Vec<DistrictRanked>,
}

/// Ranks the handlers of every community of `parts` together.
pub fn district(parts: Vec<(Part, Handled)>, policy: &ReportPolicy) -> DistrictRanking {
    let as_of_ms = parts
        .iter()
        .map(|(p, _)| p.basis.as_of_ms)
        .max()
        .unwrap_or(0);
    let names: BTreeMap<i64, String> = parts
        .iter()
        .map(|(p, _)| (p.community, p.name.clone()))
        .collect();
    let all: Vec<DistrictRanked> = scored(
        parts.iter().flat_map(|(p, h)| {
            h.facts
                .iter()
                .filter_map(|f| f.handler.map(|u| ((u, p.community), f)))
        }),
        |(u, _)| u,
        policy,
        as_of_ms,
    )
    .into_iter()
    .map(|((_, community), ranked)| DistrictRanked {
        community,
        community_name: names.get(&community).cloned().unwrap_or_default(),
        ranked,
    })
    .collect();
    let (red, black) = lists(&all, policy);
    DistrictRanking {
        communities: parts.into_iter().map(|(p, _)| p).collect(),
        weights: policy.ranking,
        min_volume: policy.ranking_min_volume,
        red,
        black,
        all,
    }
}

/// Scores every handler key of `facts` with at least the minimum volume, best first. Ties go to the larger volume,
/// then to the smaller key (the handler's id first), so the order is stable.
fn scored<'f, K: Ord + Copy>(
    facts: impl Iterator<Item = (K, &'f Facts)>,
    handler: impl Fn(K) -> UserId,
    policy: &ReportPolicy,
    as_of_ms: u64,
) -> Vec<(K, Ranked)> {
    let mut by_handler: BTreeMap<K, Vec<&Facts>> = BTreeMap::new();
    for (k, f) in facts {
        by_handler.entry(k).or_default().push(f);
    }
    by_handler.retain(|_, fs| fs.len() >= policy.ranking_min_volume);
    let pooled: Vec<&Facts> = by_handler.values().flatten().copied().collect();
    let overall = Rates::of(&pooled, policy, as_of_ms);
    let max_volume = by_handler.values().map(Vec::len).max().unwrap_or(1).max(1);
    let w = policy.ranking;
    let mut all: Vec<(K, Ranked)> = by_handler
        .into_iter()
        .map(|(k, fs)| {
            let rates = Rates::of(&fs, policy, as_of_ms);
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
            let ranked = Ranked {
                handler: handler(k),
                volume: fs.len(),
                rates,
                score,
            };
            (k, ranked)
        })
        .collect();
    all.sort_by(|(ka, a), (kb, b)| {
        b.score
            .total_cmp(&a.score)
            .then(b.volume.cmp(&a.volume))
            .then(ka.cmp(kb))
    });
    all
}

/// The red list (the best) and the black list (the worst, worst first, nobody of the red list) of `all`.
fn lists<T: Clone>(all: &[T], policy: &ReportPolicy) -> (Vec<T>, Vec<T>) {
    let red: Vec<T> = all.iter().take(policy.ranking_size).cloned().collect();
    let black: Vec<T> = all
        .iter()
        .rev()
        .take(policy.ranking_size.min(all.len().saturating_sub(red.len())))
        .cloned()
        .collect();
    (red, black)
}

impl Ranking {
    /// Both lists as CSV, then the linked bodies' group (list `agencies 联动单位`, the body's name in the handler
    /// column, its on-time acceptance and completion in the timely-acceptance and on-time columns).
    pub fn csv(&self) -> String {
        let mut rows = Vec::new();
        for (list, people) in [("red 红榜", &self.red), ("black 黑榜", &self.black)] {
            for (i, r) in people.iter().enumerate() {
                rows.push(row(list, i, r));
            }
        }
        for (i, a) in self.agencies.iter().enumerate() {
            rows.push(vec![
                "agencies 联动单位".into(),
                (i + 1).to_string(),
                a.name.clone(),
                a.volume.to_string(),
                format!("{:.4}", a.score),
                String::new(),
                a.on_time_acceptance.percent(),
                a.on_time_completion.percent(),
                String::new(),
                String::new(),
            ]);
        }
        csv::table(&HEADER, &rows)
    }
}

impl DistrictRanking {
    /// Both lists as CSV, each row led by the handler's community id and name.
    pub fn csv(&self) -> String {
        let mut rows = Vec::new();
        for (list, people) in [("red 红榜", &self.red), ("black 黑榜", &self.black)] {
            for (i, r) in people.iter().enumerate() {
                let mut cells = vec![r.community.to_string(), r.community_name.clone()];
                cells.extend(row(list, i, &r.ranked));
                rows.push(cells);
            }
        }
        let header: Vec<&str> = csv::COMMUNITY_HEADER
            .iter()
            .chain(HEADER.iter())
            .copied()
            .collect();
        csv::table(&header, &rows)
    }
}

const HEADER: [&str; 10] = [
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
];

fn row(list: &str, i: usize, r: &Ranked) -> Vec<String> {
    vec![
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
    ]
}
