//! Property-fee collection (物业费收缴率): what was due, paid in cash, and offset by green-energy-card points
//! (志愿服务抵扣物业费), per community, grid cell and building, per period.
//!
//! rate = (cash + offsets) ÷ due. Offsets are card redemptions whose purpose is a fee offset for the household and
//! period, valued at `fen_per_point`.

use linli_sync_core::card::{Movement, Purpose, SpendKind};
use linli_sync_core::ids::HouseholdId;
use linli_sync_core::state::State;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::csv;
use crate::policy::{Basis, Filter, ReportPolicy};
use crate::stats::Rate;

/// A household's fee for a period (from the property office's ledger).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeDue {
    /// The household.
    pub household: HouseholdId,
    /// `YYYY` or `YYYY-MM`.
    pub period: String,
    /// Amount due, fen.
    pub amount_fen: u64,
}

/// A cash (or transfer) payment recorded by the property office.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CashPayment {
    /// The household.
    pub household: HouseholdId,
    /// The period paid for.
    pub period: String,
    /// Amount, fen.
    pub amount_fen: u64,
}

/// The property office's records.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    /// Dues.
    pub dues: Vec<FeeDue>,
    /// Payments.
    pub payments: Vec<CashPayment>,
}

/// One line: a level (`community`, `grid`, `building`), its key, a period.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeeRow {
    /// `community`, `grid` or `building`.
    pub level: String,
    /// The community name, the grid cell id, or `<grid id>/<building>`.
    pub key: String,
    /// The period.
    pub period: String,
    /// Due, fen.
    pub due_fen: u64,
    /// Paid in cash, fen.
    pub cash_fen: u64,
    /// Offset by points, fen.
    pub offset_fen: u64,
    /// (cash + offset) ÷ due, in fen.
    pub rate: Rate,
}

/// The fee report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fees {
    /// Basis (periods are calendar periods, not event times).
    pub basis: Basis,
    /// Value of a point, fen.
    pub fen_per_point: u64,
    /// Community rows, then grid cells, then buildings; periods ascending within.
    pub rows: Vec<FeeRow>,
}

#[derive(Default)]
struct Sums {
    due: u64,
    cash: u64,
    offset: u64,
}

/// Computes fee collection for periods in `[from_period, to_period]` (inclusive, compared as text, e.g. `2026-01`
/// to `2026-12`) and the filter's grid cells. Households not found in any grid cell are reported under the
/// community `unknown`.
pub fn fees(
    state: &State,
    ledger: &Ledger,
    from_period: &str,
    to_period: &str,
    filter: &Filter,
    policy: &ReportPolicy,
    basis: Basis,
) -> Fees {
    // Where each household lives.
    let mut place: BTreeMap<HouseholdId, (String, String, String)> = BTreeMap::new();
    for (gid, grid) in state.grids() {
        if !filter.includes(gid) {
            continue;
        }
        let community = grid.community.val.clone().unwrap_or_default();
        for h in grid.households.iter() {
            if let Some(d) = grid.household(h) {
                place.insert(
                    *h,
                    (
                        community.clone(),
                        gid.to_string(),
                        format!("{gid}/{}", d.building),
                    ),
                );
            }
        }
    }
    let in_period = |p: &str| from_period <= p && p <= to_period;
    let mut sums: BTreeMap<(u8, String, String), Sums> = BTreeMap::new();
    let mut add = |h: &HouseholdId, period: &str, f: &dyn Fn(&mut Sums)| {
        if !in_period(period) {
            return;
        }
        let Some((community, grid, building)) = place.get(h) else {
            if filter.grids.is_none() {
                f(sums
                    .entry((0, "unknown".into(), period.into()))
                    .or_default());
            }
            return;
        };
        for (level, key) in [(0u8, community), (1, grid), (2, building)] {
            f(sums.entry((level, key.clone(), period.into())).or_default());
        }
    };
    for d in &ledger.dues {
        add(&d.household, &d.period, &|s| s.due += d.amount_fen);
    }
    for p in &ledger.payments {
        add(&p.household, &p.period, &|s| s.cash += p.amount_fen);
    }
    for card in state.cards().values() {
        for m in card.movements() {
            if let Movement::Redeem { spend, .. } = m
                && let SpendKind::Redeem {
                    purpose: Purpose::FeeOffset { household, period },
                } = &spend.kind
            {
                let fen = spend.points.0 * policy.fen_per_point;
                add(household, period, &|s| s.offset += fen);
            }
        }
    }
    let rows = sums
        .into_iter()
        .map(|((level, key, period), s)| FeeRow {
            level: ["community", "grid", "building"][usize::from(level)].into(),
            key,
            period,
            due_fen: s.due,
            cash_fen: s.cash,
            offset_fen: s.offset,
            rate: rate_fen(s.cash + s.offset, s.due),
        })
        .collect();
    Fees {
        basis,
        fen_per_point: policy.fen_per_point,
        rows,
    }
}

/// A rate of amounts in fen (the numerator and denominator are amounts, not counts).
fn rate_fen(paid: u64, due: u64) -> Rate {
    Rate {
        numerator: usize::try_from(paid).unwrap_or(usize::MAX),
        denominator: usize::try_from(due).unwrap_or(usize::MAX),
        value: (due > 0).then(|| paid as f64 / due as f64),
    }
}

impl Fees {
    /// All rows as CSV, amounts in yuan.
    pub fn csv(&self) -> String {
        let yuan = |fen: u64| format!("{}.{:02}", fen / 100, fen % 100);
        let rows: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| {
                vec![
                    r.level.clone(),
                    r.key.clone(),
                    r.period.clone(),
                    yuan(r.due_fen),
                    yuan(r.cash_fen),
                    yuan(r.offset_fen),
                    r.rate.percent(),
                ]
            })
            .collect();
        csv::table(
            &[
                "level 层级",
                "key 对象",
                "period 期间",
                "due 应收(元)",
                "cash 现金(元)",
                "offset 积分抵扣(元)",
                "collection_rate 收缴率 %",
            ],
            &rows,
        )
    }
}

/// A rejected line of an import file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowError {
    /// 1-based line number in the file (the header is line 1).
    pub line: usize,
    /// Why, in words a property office can act on.
    pub reason: String,
}

/// Reads a property office's dues file. Columns (by header name, any order, Chinese or English; a byte-order mark
/// is allowed): `building`/`楼号`, `unit`/`单元`, `room`/`房号`, `period`/`期间` (`YYYY-MM` or `YYYY`),
/// `amount`/`应收金额` (yuan, at most two decimals). Each row is matched to a household of the merged state by
/// building, unit and room.
///
/// All or nothing: if any row is rejected, the whole file is, and every rejected row is listed.
pub fn parse_dues(text: &str, state: &State) -> Result<Vec<FeeDue>, Vec<RowError>> {
    let text = text.strip_prefix(csv::BOM).unwrap_or(text);
    let mut reader = ::csv::ReaderBuilder::new()
        .flexible(true)
        .trim(::csv::Trim::All)
        .from_reader(text.as_bytes());
    let header = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            return Err(vec![RowError {
                line: 1,
                reason: format!("unreadable header: {e}"),
            }]);
        }
    };
    let column = |names: &[&str]| {
        header
            .iter()
            .position(|h| names.iter().any(|n| h.eq_ignore_ascii_case(n)))
    };
    let cols = [
        column(&["building", "楼号"]),
        column(&["unit", "单元"]),
        column(&["room", "房号"]),
        column(&["period", "期间"]),
        column(&["amount", "应收金额"]),
    ];
    let missing: Vec<&str> = ["building", "unit", "room", "period", "amount"]
        .iter()
        .zip(cols)
        .filter(|(_, c)| c.is_none())
        .map(|(n, _)| *n)
        .collect();
    if !missing.is_empty() {
        return Err(vec![RowError {
            line: 1,
            reason: format!("missing column(s): {}", missing.join(", ")),
        }]);
    }
    let [b, u, r, p, a] = cols.map(|c| c.unwrap_or(0));
    let mut by_place: BTreeMap<(String, String, String), Vec<HouseholdId>> = BTreeMap::new();
    for grid in state.grids().values() {
        for h in grid.households.iter() {
            if let Some(d) = grid.household(h) {
                by_place
                    .entry((d.building.clone(), d.unit.clone(), d.room.clone()))
                    .or_default()
                    .push(*h);
            }
        }
    }
    let mut dues = Vec::new();
    let mut errors = Vec::new();
    let mut seen: BTreeMap<(HouseholdId, String), usize> = BTreeMap::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                errors.push(RowError {
                    line,
                    reason: format!("unreadable: {e}"),
                });
                continue;
            }
        };
        let cell = |c: usize| record.get(c).unwrap_or("").to_string();
        let place = (cell(b), cell(u), cell(r));
        let household = match by_place.get(&place).map(Vec::as_slice) {
            Some([h]) => *h,
            Some(_) => {
                errors.push(RowError {
                    line,
                    reason: format!(
                        "building {} unit {} room {} matches several households",
                        place.0, place.1, place.2
                    ),
                });
                continue;
            }
            None => {
                errors.push(RowError {
                    line,
                    reason: format!(
                        "no household at building {} unit {} room {}",
                        place.0, place.1, place.2
                    ),
                });
                continue;
            }
        };
        let period = cell(p);
        if !valid_period(&period) {
            errors.push(RowError {
                line,
                reason: format!("period `{period}` is not YYYY-MM or YYYY"),
            });
            continue;
        }
        let Some(amount_fen) = parse_yuan(&cell(a)) else {
            errors.push(RowError {
                line,
                reason: format!(
                    "amount `{}` is not a non-negative amount in yuan with at most two decimals",
                    cell(a)
                ),
            });
            continue;
        };
        if let Some(first) = seen.insert((household, period.clone()), line) {
            errors.push(RowError {
                line,
                reason: format!("the same household and period as line {first}"),
            });
            continue;
        }
        dues.push(FeeDue {
            household,
            period,
            amount_fen,
        });
    }
    if errors.is_empty() {
        Ok(dues)
    } else {
        Err(errors)
    }
}

/// `YYYY-MM` with a real month, or `YYYY`.
pub fn valid_period(p: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    match p.split_once('-') {
        None => p.len() == 4 && digits(p),
        Some((y, m)) => {
            y.len() == 4 && digits(y) && m.len() == 2 && digits(m) && ("01"..="12").contains(&m)
        }
    }
}

/// Yuan text (`120`, `120.5`, `120.50`, `1,200.00`) to fen.
pub fn parse_yuan(s: &str) -> Option<u64> {
    let s: String = s.chars().filter(|c| *c != ',').collect();
    let (whole, frac) = s.split_once('.').unwrap_or((&s, ""));
    if whole.is_empty()
        || !whole.bytes().all(|c| c.is_ascii_digit())
        || frac.len() > 2
        || !frac.bytes().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let fen_part: u64 = match frac.len() {
        0 => 0,
        1 => frac.parse::<u64>().ok()? * 10,
        _ => frac.parse().ok()?,
    };
    whole
        .parse::<u64>()
        .ok()?
        .checked_mul(100)?
        .checked_add(fen_part)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_amounts() {
        assert_eq!(parse_yuan("120"), Some(12_000));
        assert_eq!(parse_yuan("120.5"), Some(12_050));
        assert_eq!(parse_yuan("1,200.05"), Some(120_005));
        for bad in ["", "-1", "1.234", "abc", "1.2.3", ".5"] {
            assert_eq!(parse_yuan(bad), None, "{bad}");
        }
        assert!(valid_period("2026-11") && valid_period("2026"));
        assert!(!valid_period("2026-13") && !valid_period("26-11") && !valid_period("2026-1"));
    }
}
