//! Two-sample Kolmogorov–Smirnov test, as SciPy's `ks_2samp` (two-sided, `method="auto"`).

/// The KS statistic and its two-sided p-value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KsTest {
    /// `D = max_x |F_ref(x) − F_cur(x)|` over the empirical CDFs (right-continuous: `F(x)` counts
    /// values `≤ x`).
    pub statistic: f64,
    /// Two-sided p-value of `D`.
    pub p_value: f64,
}

/// Up to this sample size (the larger of the two) the p-value is exact, as SciPy's `auto`.
pub const KS_EXACT_MAX_N: usize = 10_000;

/// Two-sample KS test on finite values; `None` when a sample is empty.
///
/// The statistic is SciPy's. The p-value follows SciPy 1.17's `ks_2samp(method="auto")`:
/// - when `max(n1, n2) ≤ 10,000` it is exact: `h = round_half_even(D · lcm(n1, n2))`, then for
///   `n1 = n2` the reflection series of `_compute_prob_outside_square`, otherwise Hodges' lattice
///   path count of `_compute_outer_prob_inside_method` (Viehmann's `1 − p` recursion);
/// - above that, or when the exact sum leaves `[0, 1]`, it is asymptotic. **Difference from
///   SciPy:** SciPy uses the finite-n distribution `kstwo.sf(D, round(n1·n2/(n1+n2)))`; finbeh
///   uses its limit, Kolmogorov's `Q(D·√en)` (`kstwobign`), which differs by `O(1/√en)`.
///
/// Values must be finite (the column analysis rejects others).
pub fn ks_2samp(reference: &[f64], current: &[f64]) -> Option<KsTest> {
    ks_2samp_sorted(&sorted(reference), &sorted(current))
}

/// [`ks_2samp`] on samples already sorted ascending.
pub(crate) fn ks_2samp_sorted(reference: &[f64], current: &[f64]) -> Option<KsTest> {
    if reference.is_empty() || current.is_empty() {
        return None;
    }
    let statistic = ks_statistic(reference, current);
    let (n1, n2) = (reference.len(), current.len());
    let exact = if n1.max(n2) <= KS_EXACT_MAX_N {
        exact_p_value(n1 as u64, n2 as u64, statistic)
    } else {
        None
    };
    let (statistic, p_value) = exact.unwrap_or_else(|| {
        let (m, n) = (n1.max(n2) as f64, n1.min(n2) as f64);
        let en = (m * n / (m + n)).round_ties_even();
        (statistic, kolmogorov_sf(statistic * en.sqrt()))
    });
    Some(KsTest {
        statistic,
        p_value: p_value.clamp(0.0, 1.0),
    })
}

pub(crate) fn sorted(values: &[f64]) -> Vec<f64> {
    let mut out = values.to_vec();
    out.sort_unstable_by(f64::total_cmp);
    out
}

/// `max |i/n1 − j/n2|` where `i`, `j` count the values `≤ x`, over every `x` in either sample.
fn ks_statistic(a: &[f64], b: &[f64]) -> f64 {
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j, mut d) = (0, 0, 0.0_f64);
    while i < a.len() || j < b.len() {
        let x = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) => x.min(y),
            (Some(&x), None) | (None, Some(&x)) => x,
            (None, None) => break,
        };
        while a.get(i).is_some_and(|&v| v <= x) {
            i += 1;
        }
        while b.get(j).is_some_and(|&v| v <= x) {
            j += 1;
        }
        d = d.max((i as f64 / n1 - j as f64 / n2).abs());
    }
    d
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// SciPy's `_attempt_exact_2kssamp`: `Some((D rounded to the lattice, p))`, or `None` when the
/// computation leaves `[0, 1]` (SciPy then falls back to the asymptotic p-value).
fn exact_p_value(n1: u64, n2: u64, d: f64) -> Option<(f64, f64)> {
    let g = gcd(n1, n2);
    let lcm = (n1 / g).checked_mul(n2)?;
    let h = (d * lcm as f64).round_ties_even() as u64;
    let d = h as f64 / lcm as f64;
    if h == 0 {
        return Some((d, 1.0));
    }
    let p = if n1 == n2 {
        prob_outside_square(n1, h)
    } else {
        outer_prob_inside(n1, n2, g, h)
    };
    (0.0..=1.0).contains(&p).then_some((d, p))
}

/// Share of lattice paths from (0,0) to (n,n) that leave the band `|x − y| < h`.
fn prob_outside_square(n: u64, h: u64) -> f64 {
    let (nf, hf) = (n as f64, h as f64);
    let mut p = 0.0;
    let mut k = n / h;
    loop {
        let kf = k as f64;
        let mut p1 = 1.0;
        for j in 0..h {
            let jf = j as f64;
            p1 = (nf - kf * hf - jf) * p1 / (nf + kf * hf + jf + 1.0);
        }
        p = p1 * (1.0 - p);
        if k == 0 {
            break;
        }
        k -= 1;
    }
    2.0 * p
}

/// Share of lattice paths from (0,0) to (m,n) that do not stay strictly inside
/// `|x/m − y/n| < h/lcm(m,n)`, one sliding column at a time.
fn outer_prob_inside(m: u64, n: u64, g: u64, h: u64) -> f64 {
    let (m, n) = if m < n { (n, m) } else { (m, n) };
    let (mg, ng) = ((m / g) as f64, (n / g) as f64);
    let hf = h as f64;
    let mut minj: usize = 0;
    let mut maxj = ((hf / mg).ceil() as usize).min(n as usize + 1);
    let mut curlen = maxj - minj;
    let len_a = (2 * maxj + 2).min(n as usize + 1);
    let mut a = vec![1.0_f64; len_a];
    a[..maxj].fill(0.0);
    for i in 1..=m {
        let fi = i as f64;
        let (lastminj, lastlen) = (minj, curlen);
        let low = ((ng * fi - hf) / mg).floor() + 1.0;
        minj = (low.max(0.0) as usize).min(n as usize);
        maxj = (((ng * fi + hf) / mg).ceil() as usize).min(n as usize + 1);
        if maxj <= minj {
            return 1.0;
        }
        let mut val = if minj == 0 { 0.0 } else { 1.0 };
        for jj in 0..maxj - minj {
            let j = (jj + minj) as f64;
            val = (a[jj + minj - lastminj] * fi + val * j) / (fi + j);
            a[jj] = val;
        }
        curlen = maxj - minj;
        if lastlen > curlen {
            let end = (maxj - minj + lastlen - curlen).min(a.len());
            a[maxj - minj..end].fill(1.0);
        }
    }
    a[maxj - minj - 1]
}

/// Kolmogorov's limiting survival function `Q(x) = 2 Σ_{k≥1} (−1)^{k−1} e^{−2k²x²}`, switching
/// to `1 − √(2π)/x Σ_{k≥1} e^{−(2k−1)²π²/(8x²)}` for small `x` where the first series converges
/// slowly.
pub(crate) fn kolmogorov_sf(x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    if x < 1.0 {
        let mut cdf = 0.0;
        for k in 1..=20 {
            let odd = f64::from(2 * k - 1);
            cdf += (-odd * odd * std::f64::consts::PI.powi(2) / (8.0 * x * x)).exp();
        }
        return 1.0 - (2.0 * std::f64::consts::PI).sqrt() / x * cdf;
    }
    let mut sf = 0.0;
    for k in 1..=100 {
        let kf = f64::from(k);
        let term = (-2.0 * kf * kf * x * x).exp();
        sf += if k % 2 == 1 { term } else { -term };
        if term < 1e-300 {
            break;
        }
    }
    2.0 * sf
}
