// SPDX-License-Identifier: GPL-2.0-only

//! Order statistics over benchmark samples and the formatting of figures.

/// Returns a sorted copy of `samples`; NaN sorts last.
pub fn sorted(samples: &[f64]) -> Vec<f64> {
    let mut v = samples.to_vec();
    v.sort_by(f64::total_cmp);
    v
}

/// Returns the `p`-th percentile (`0.0..=100.0`) of already sorted samples.
///
/// It interpolates linearly between the two closest ranks, the method numpy
/// calls `linear`: the 50th percentile of an even count is the mean of the
/// middle two. `p` is clamped to the valid range. Returns NaN when empty.
pub fn percentile_sorted(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let p = if p.is_nan() {
        50.0
    } else {
        p.clamp(0.0, 100.0)
    };
    let rank = p / 100.0 * (sorted.len() - 1) as f64;
    // PANIC: `rank` is in `0..=len-1`, so both indices are in range.
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    let frac = rank - lo as f64;
    if lo == hi {
        sorted[lo]
    } else {
        sorted[lo] + (sorted[hi] - sorted[lo]) * frac
    }
}

/// Returns the `p`-th percentile of `samples`, in any order.
pub fn percentile(samples: &[f64], p: f64) -> f64 {
    percentile_sorted(&sorted(samples), p)
}

/// Returns the median of `samples`; NaN when empty.
pub fn median(samples: &[f64]) -> f64 {
    percentile(samples, 50.0)
}

/// The median and spread of one set of samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    /// Number of samples.
    pub n: usize,
    /// Smallest sample.
    pub min: f64,
    /// 25th percentile.
    pub q1: f64,
    /// 50th percentile.
    pub median: f64,
    /// 75th percentile.
    pub q3: f64,
    /// Largest sample.
    pub max: f64,
}

impl Summary {
    /// Summarises `samples`; every field but `n` is NaN when empty.
    pub fn of(samples: &[f64]) -> Self {
        let s = sorted(samples);
        Self {
            n: s.len(),
            min: percentile_sorted(&s, 0.0),
            q1: percentile_sorted(&s, 25.0),
            median: percentile_sorted(&s, 50.0),
            q3: percentile_sorted(&s, 75.0),
            max: percentile_sorted(&s, 100.0),
        }
    }

    /// The interquartile range, `q3 - q1`.
    pub fn iqr(&self) -> f64 {
        self.q3 - self.q1
    }

    /// Formats the median with its range, e.g. `12.3 [11.9, 13.0]`.
    pub fn display(&self) -> String {
        if self.n <= 1 {
            return format_value(self.median);
        }
        format!(
            "{} [{}, {}]",
            format_value(self.median),
            format_value(self.min),
            format_value(self.max)
        )
    }
}

/// Returns `device / pipe`, or `None` when it has no finite value.
pub fn ratio(device: f64, pipe: f64) -> Option<f64> {
    let r = device / pipe;
    (r.is_finite() && pipe != 0.0).then_some(r)
}

/// Returns the ratio of each device/pipe pair, skipping pairs without one.
///
/// Each pair ran back to back, so these ratios are less disturbed by a
/// change of load on the machine than the ratio of the two medians.
pub fn pair_ratios(device: &[f64], pipe: &[f64]) -> Vec<f64> {
    device
        .iter()
        .zip(pipe)
        .filter_map(|(&d, &p)| ratio(d, p))
        .collect()
}

/// Formats the device/pipe ratio for the table, e.g. `0.97x`.
///
/// Two zeros (as in the idle-cost rows) give `both 0`; a zero pipe figure
/// under a non-zero device figure gives `inf`; NaN gives `n/a`.
pub fn format_ratio(device: f64, pipe: f64) -> String {
    if device.is_nan() || pipe.is_nan() {
        return "n/a".to_string();
    }
    if device == 0.0 && pipe == 0.0 {
        return "both 0".to_string();
    }
    match ratio(device, pipe) {
        Some(r) => format!("{r:.2}x"),
        None => "inf".to_string(),
    }
}

/// Formats a figure with about three significant digits.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        return "n/a".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    let a = v.abs();
    if a == 0.0 {
        "0".to_string()
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The median of an odd count is the middle sample, whatever the order.
    #[test]
    fn median_of_odd_count_is_middle() {
        assert_eq!(median(&[5.0, 1.0, 3.0]), 3.0);
    }

    /// The median of an even count is the mean of the middle two.
    #[test]
    fn median_of_even_count_is_mean_of_middle_two() {
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    /// No samples give NaN, not a panic.
    #[test]
    fn empty_samples_give_nan() {
        assert!(median(&[]).is_nan());
        assert!(percentile(&[], 99.0).is_nan());
        assert!(Summary::of(&[]).max.is_nan());
    }

    /// A single sample is every percentile.
    #[test]
    fn single_sample_is_every_percentile() {
        for p in [0.0, 1.0, 50.0, 99.0, 100.0] {
            assert_eq!(percentile(&[7.0], p), 7.0, "p{p}");
        }
    }

    /// Percentiles interpolate linearly between ranks, as numpy's default.
    #[test]
    fn percentile_interpolates_between_ranks() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        // numpy.percentile(range(1, 101), 99) == 99.01
        assert!((percentile(&v, 99.0) - 99.01).abs() < 1e-9);
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert!((percentile(&v, 25.0) - 25.75).abs() < 1e-9);
    }

    /// Out-of-range percentiles are clamped to the extremes.
    #[test]
    fn percentile_is_clamped() {
        assert_eq!(percentile(&[1.0, 2.0], -5.0), 1.0);
        assert_eq!(percentile(&[1.0, 2.0], 500.0), 2.0);
    }

    /// The summary holds the extremes, quartiles and IQR.
    #[test]
    fn summary_has_quartiles() {
        let s = Summary::of(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(
            (s.n, s.min, s.q1, s.median, s.q3, s.max),
            (5, 1.0, 2.0, 3.0, 4.0, 5.0)
        );
        assert_eq!(s.iqr(), 2.0);
        assert_eq!(s.display(), "3.00 [1.00, 5.00]");
    }

    /// Ratios are device over pipe with two decimals.
    #[test]
    fn ratio_is_device_over_pipe() {
        assert_eq!(format_ratio(3.0, 2.0), "1.50x");
        assert_eq!(format_ratio(1.0, 3.0), "0.33x");
        assert_eq!(ratio(3.0, 2.0), Some(1.5));
    }

    /// Pair ratios divide run by run and skip zero pipe figures.
    #[test]
    fn pair_ratios_skip_zero_pipes() {
        assert_eq!(
            pair_ratios(&[2.0, 1.0, 3.0], &[1.0, 0.0, 6.0]),
            vec![2.0, 0.5]
        );
        assert!(pair_ratios(&[1.0], &[]).is_empty());
    }

    /// Zero and NaN figures give words, not `NaNx`.
    #[test]
    fn ratio_edge_cases() {
        assert_eq!(format_ratio(0.0, 0.0), "both 0");
        assert_eq!(format_ratio(1.0, 0.0), "inf");
        assert_eq!(format_ratio(f64::NAN, 1.0), "n/a");
        assert_eq!(ratio(1.0, 0.0), None);
        assert_eq!(format_ratio(0.0, 5.0), "0.00x");
    }

    /// Figures keep about three significant digits.
    #[test]
    fn values_keep_three_digits() {
        assert_eq!(format_value(0.0), "0");
        assert_eq!(format_value(1234.56), "1235");
        assert_eq!(format_value(12.345), "12.3");
        assert_eq!(format_value(1.2345), "1.23");
        assert_eq!(format_value(0.012345), "0.012");
        assert_eq!(format_value(f64::NAN), "n/a");
    }
}
