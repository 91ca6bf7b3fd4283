//! Small statistics: rates with their parts, and nearest-rank percentiles.

use serde::{Deserialize, Serialize};

/// A rate, with its numerator and denominator so that a spreadsheet can re-aggregate it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    /// How many meet the condition.
    pub numerator: usize,
    /// Out of how many.
    pub denominator: usize,
    /// `numerator / denominator`, `None` when the denominator is 0.
    pub value: Option<f64>,
}

impl Rate {
    /// `n / d`.
    pub fn of(numerator: usize, denominator: usize) -> Rate {
        Rate {
            numerator,
            denominator,
            value: (denominator > 0).then(|| numerator as f64 / denominator as f64),
        }
    }

    /// The value as a percentage with one decimal, or empty.
    pub fn percent(&self) -> String {
        self.value
            .map_or_else(String::new, |v| format!("{:.1}", v * 100.0))
    }
}

/// The nearest-rank percentile `p` (0 < p ≤ 1) of `values`: the smallest value such that at least `p` of the
/// values are ≤ it. `None` for no values. The median is `percentile(0.5)`, the lower median for even counts.
pub fn percentile(values: &[u64], p: f64) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let rank = (p * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted.get(rank.min(sorted.len()) - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(percentile(&[7], 0.9), Some(7));
        assert_eq!(percentile(&[4, 1, 3, 2], 0.5), Some(2));
        assert_eq!(percentile(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9), Some(9));
        assert_eq!(
            percentile(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 0.9),
            Some(10)
        );
        assert_eq!(Rate::of(1, 3).percent(), "33.3");
        assert_eq!(Rate::of(0, 0).value, None);
    }
}
