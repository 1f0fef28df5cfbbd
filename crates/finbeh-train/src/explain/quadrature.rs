//! Gauss–Legendre quadrature on [0, 1]: `m` nodes integrate every polynomial of degree at most
//! `2m − 1` exactly, which is what turns the Shapley sum over subsets into a few products.

/// Point counts the explainer is compiled for (a rule may have more points than it needs: any
/// `m ≥ ⌈depth / 2⌉` is exact). The largest covers trees 128 levels deep.
pub(crate) const POINT_COUNTS: [usize; 14] = [1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 24, 32, 48, 64];

/// The smallest compiled point count that integrates degree `depth − 1` exactly.
pub(crate) fn points_for_depth(depth: usize) -> Option<usize> {
    POINT_COUNTS
        .iter()
        .copied()
        .find(|&m| m >= depth.div_ceil(2))
}

/// Nodes `t` and weights `w` of the `m`-point Gauss–Legendre rule on [0, 1].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GaussLegendre {
    pub(crate) nodes: Vec<f64>,
    pub(crate) weights: Vec<f64>,
}

impl GaussLegendre {
    /// The `m`-point rule (`m ≥ 1`), roots of the Legendre polynomial by Newton's method.
    pub(crate) fn new(m: usize) -> Self {
        let m = m.max(1);
        let mut nodes = vec![0.0; m];
        let mut weights = vec![0.0; m];
        for i in 0..m.div_ceil(2) {
            // Chebyshev-like first guess of the i-th largest root on [-1, 1].
            let mut x = (std::f64::consts::PI * (i as f64 + 0.75) / (m as f64 + 0.5)).cos();
            let mut derivative = 1.0;
            for _ in 0..100 {
                let (p, dp) = legendre(m, x);
                derivative = dp;
                let step = p / dp;
                x -= step;
                if step.abs() <= 1e-16 {
                    break;
                }
            }
            let (_, dp) = legendre(m, x);
            if dp.is_finite() && dp != 0.0 {
                derivative = dp;
            }
            let w = 2.0 / ((1.0 - x * x) * derivative * derivative);
            // Map [-1, 1] to [0, 1]: t = (x + 1) / 2, weights halve.
            nodes[i] = (1.0 - x) / 2.0;
            nodes[m - 1 - i] = (1.0 + x) / 2.0;
            weights[i] = w / 2.0;
            weights[m - 1 - i] = w / 2.0;
        }
        Self { nodes, weights }
    }

    /// Number of points.
    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }
}

/// `(P_m(x), P_m'(x))` by the three-term recurrence.
fn legendre(m: usize, x: f64) -> (f64, f64) {
    let (mut p0, mut p1) = (1.0, x);
    for k in 2..=m {
        let k = k as f64;
        let p2 = ((2.0 * k - 1.0) * x * p1 - (k - 1.0) * p0) / k;
        p0 = p1;
        p1 = p2;
    }
    if m == 0 {
        return (1.0, 0.0);
    }
    let dp = m as f64 * (x * p1 - p0) / (x * x - 1.0);
    (p1, dp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrates_polynomials_up_to_degree_2m_minus_1_exactly() {
        for m in POINT_COUNTS {
            let rule = GaussLegendre::new(m);
            for degree in 0..2 * m {
                // ∫_0^1 t^d dt = 1 / (d + 1)
                let integral: f64 = rule
                    .nodes
                    .iter()
                    .zip(&rule.weights)
                    .map(|(t, w)| w * t.powi(degree as i32))
                    .sum();
                let exact = 1.0 / (degree as f64 + 1.0);
                assert!(
                    (integral - exact).abs() < 1e-13,
                    "m {m} degree {degree}: {integral} vs {exact}"
                );
            }
        }
    }
}
