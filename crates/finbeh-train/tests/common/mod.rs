//! Synthetic data for the integration tests (offline, seeded).

use ndarray::Array2;

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Uniform [0, 1) features; class 1 when `x0 + 0.5 x1 + noise > 0.8` (feature 0 is the most
/// informative, feature 1 less, the rest are noise).
pub fn binary(n: usize, n_features: usize, seed: u64) -> (Array2<f32>, Vec<usize>) {
    let mut s = seed;
    let x = Array2::from_shape_fn((n, n_features), |_| {
        (splitmix(&mut s) >> 40) as f32 / (1u64 << 24) as f32
    });
    let y = (0..n)
        .map(|r| {
            let noise = ((splitmix(&mut s) >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.3;
            usize::from(x[[r, 0]] + 0.5 * x[[r, 1]] + noise > 0.8)
        })
        .collect();
    (x, y)
}

#[allow(dead_code)] // not every test binary uses it
/// Three classes by thirds of `x0 + 0.3 x1`.
pub fn three_class(n: usize, seed: u64) -> (Array2<f32>, Vec<usize>) {
    let mut s = seed;
    let x = Array2::from_shape_fn((n, 4), |_| {
        (splitmix(&mut s) >> 40) as f32 / (1u64 << 24) as f32
    });
    let y = (0..n)
        .map(|r| {
            let v = (x[[r, 0]] + 0.3 * x[[r, 1]]) / 1.3;
            if v < 0.33 {
                0
            } else if v < 0.66 {
                1
            } else {
                2
            }
        })
        .collect();
    (x, y)
}
