//! Council decisions: what a residents' council (居民议事会) or the deliberation clinic (议事门诊) decided. A
//! complex ticket linked to a decision (`ticket.decide`) has its plan. Community-level: a decision belongs to no
//! grid cell.
//!
//! Merge rules: date, council name and text are last-writer-wins registers (`crdts::LWWReg`, marker = op stamp);
//! `decision.record` writes their first values and fixes the council kind, `decision.edit` the fields it names. If
//! two records ever carried the same decision id (the server refuses the second), the smaller stamp's council kind
//! is kept on every replica, as tickets keep their smallest create. The tickets a decision settles are not stored
//! here but on each ticket (its `Decided` events), so linking never races with editing.

use crdts::LWWReg;
use serde::{Deserialize, Serialize};

use crate::hlc::Stamp;

/// Which kind of council decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Council {
    /// 居民议事会: a residents' council.
    ResidentsCouncil,
    /// 议事门诊: the deliberation clinic.
    DeliberationClinic,
}

/// Body of `decision.record`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionRecord {
    /// The day of the meeting, `YYYY-MM-DD`.
    pub date: String,
    /// Which kind of council.
    pub council: Council,
    /// Which council, e.g. "3号楼居民议事会".
    pub council_name: String,
    /// What was decided.
    pub text: String,
}

/// Body of `decision.edit`: only the fields present change.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DecisionEdit {
    /// Corrected date, `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// Corrected council name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub council_name: Option<String>,
    /// Corrected text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl DecisionEdit {
    /// True when the edit names no field.
    pub fn is_empty(&self) -> bool {
        self.date.is_none() && self.council_name.is_none() && self.text.is_none()
    }
}

/// Every op on a decision. The wire kind is `decision.<snake_case variant>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "k", content = "b", rename_all = "snake_case")]
pub enum DecisionOp {
    /// A new decision.
    Record(DecisionRecord),
    /// Correct some of its fields.
    Edit(DecisionEdit),
}

/// The replicated state of one council decision.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Decision {
    /// The smallest record's stamp and its council kind (the decision exists once it is set).
    pub recorded: Option<(Stamp, Council)>,
    /// Meeting date, `YYYY-MM-DD`.
    pub date: LWWReg<Option<String>, Stamp>,
    /// Council name.
    pub council_name: LWWReg<Option<String>, Stamp>,
    /// Decision text.
    pub text: LWWReg<Option<String>, Stamp>,
}

impl Decision {
    /// Applies one op. Never fails.
    pub fn apply(&mut self, stamp: Stamp, op: &DecisionOp) {
        match op {
            DecisionOp::Record(r) => {
                self.keep_record(stamp, r.council);
                self.date.update(Some(r.date.clone()), stamp);
                self.council_name
                    .update(Some(r.council_name.clone()), stamp);
                self.text.update(Some(r.text.clone()), stamp);
            }
            DecisionOp::Edit(e) => {
                if let Some(d) = &e.date {
                    self.date.update(Some(d.clone()), stamp);
                }
                if let Some(n) = &e.council_name {
                    self.council_name.update(Some(n.clone()), stamp);
                }
                if let Some(t) = &e.text {
                    self.text.update(Some(t.clone()), stamp);
                }
            }
        }
    }

    fn keep_record(&mut self, stamp: Stamp, council: Council) {
        if self.recorded.is_none_or(|(s, _)| stamp < s) {
            self.recorded = Some((stamp, council));
        }
    }

    /// State-based merge.
    pub fn merge(&mut self, other: Decision) {
        if let Some((s, c)) = other.recorded {
            self.keep_record(s, c);
        }
        self.date.update(other.date.val, other.date.marker);
        self.council_name
            .update(other.council_name.val, other.council_name.marker);
        self.text.update(other.text.val, other.text.marker);
    }

    /// Whether its record is known.
    pub fn exists(&self) -> bool {
        self.recorded.is_some()
    }

    /// The kind of council, once recorded.
    pub fn council(&self) -> Option<Council> {
        self.recorded.map(|(_, c)| c)
    }
}

/// Whether `date` is a real calendar day written `YYYY-MM-DD`.
pub fn valid_date(date: &str) -> bool {
    let b = date.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let (Some(year), Some(month), Some(day)) = (num(0..4), num(5..7), num(8..10)) else {
        return false;
    };
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

#[cfg(test)]
mod tests {
    use super::valid_date;

    #[test]
    fn dates_are_real_calendar_days() {
        for ok in ["2026-11-27", "2024-02-29", "2000-02-29", "2026-12-31"] {
            assert!(valid_date(ok), "{ok}");
        }
        for bad in [
            "2026-11-31",
            "2025-02-29",
            "1900-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-1-01",
            "2026/11/27",
            "26-11-27",
            "2026-11-27T08:00",
            "",
        ] {
            assert!(!valid_date(bad), "{bad}");
        }
    }
}
