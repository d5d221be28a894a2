//! Small summaries of measured samples (latencies in milliseconds).

use serde_json::{json, Value};

/// Percentile summary of a sample set.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Summary {
    pub count: usize,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Summary {
    /// Summarises `samples` (sorted in place); all zero when empty.
    pub fn of(samples: &mut [f64]) -> Self {
        if samples.is_empty() {
            return Summary::default();
        }
        samples.sort_by(f64::total_cmp);
        let at = |q: f64| {
            let idx = ((samples.len() - 1) as f64 * q).round() as usize;
            samples.get(idx).copied().unwrap_or(0.0)
        };
        Summary {
            count: samples.len(),
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            max: samples.last().copied().unwrap_or(0.0),
        }
    }

    /// As JSON with values rounded to 0.01 ms.
    pub fn to_json(self) -> Value {
        let r = |v: f64| (v * 100.0).round() / 100.0;
        json!({"count": self.count, "p50_ms": r(self.p50), "p90_ms": r(self.p90),
               "p99_ms": r(self.p99), "max_ms": r(self.max)})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_one_to_hundred() {
        let mut v: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        let s = Summary::of(&mut v);
        assert_eq!(s.count, 100);
        assert_eq!(s.p50, 51.0);
        assert_eq!(s.p99, 99.0);
        assert_eq!(s.max, 100.0);
    }

    #[test]
    fn empty_is_zero() {
        assert_eq!(Summary::of(&mut []), Summary::default());
    }
}
