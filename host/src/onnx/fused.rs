//! The fused form of a decoder stage (bilinear ×2 → edge-padded 3×3 convolution as one 3×3
//! convolution at the lower resolution with 4× the outputs and a `DepthToSpace`): its kernels,
//! and the way back to the original weights. Why it is exact: `Builder::fused_upsampling`.

/// `PHASE_TAPS[a][k][d]`: how much low-resolution row `i + d - 1` contributes to up-sampled row
/// `2i + a + k - 1` (bilinear ×2, half-pixel centres), i.e. to tap `k` of a 3×3 kernel centred on
/// output row `2i + a`.
pub(super) const PHASE_TAPS: [[[f32; 3]; 3]; 2] = {
    let mut t = [[[0.0; 3]; 3]; 2];
    let mut a = 0;
    while a < 2 {
        let mut k = 0;
        while k < 3 {
            // Up-sampled row p = 2j + r: r = 0 blends rows j - 1, j (¼, ¾); r = 1 rows j, j + 1.
            let p = a as i32 + k as i32 - 1;
            let (j, r) = (p.div_euclid(2), p.rem_euclid(2));
            let d = (j + 1) as usize; // low-resolution row j relative to i, shifted to 0..3
            if r == 0 {
                t[a][k][d - 1] += 0.25;
                t[a][k][d] += 0.75;
            } else {
                t[a][k][d] += 0.75;
                t[a][k][d + 1] += 0.25;
            }
            k += 1;
        }
        a += 1;
    }
    t
};

/// The `[4·cout, low, 3, 3]` kernel of the fused convolution over the first `low` input channels
/// of `w` (`[cout, cin, 3, 3]`): output channel `4·o + 2·a + b` is phase `(a, b)` of channel `o`.
pub(super) fn subpixel_kernel(w: &[f32], cout: usize, cin: usize, low: usize) -> Vec<f32> {
    let mut out = vec![0f32; 4 * cout * low * 9];
    for (o, a, b, row) in phases(cout) {
        for c in 0..low {
            for ky in 0..3 {
                for kx in 0..3 {
                    let v = w[((o * cin + c) * 3 + ky) * 3 + kx];
                    for dy in 0..3 {
                        for dx in 0..3 {
                            out[((row * low + c) * 3 + dy) * 3 + dx] +=
                                v * PHASE_TAPS[a][ky][dy] * PHASE_TAPS[b][kx][dx];
                        }
                    }
                }
            }
        }
    }
    out
}

/// The `[4·cout, cin - low, 4, 4]` stride-2 kernel that convolves the concatenated full-resolution
/// channels (after `low`) of `w` into the same four phases: output row `2i + a` reads padded rows
/// `2i + a + ky`, i.e. row `a + ky` of the 4×4 window at `2i`.
pub(super) fn skip_phase_kernel(w: &[f32], cout: usize, cin: usize, low: usize) -> Vec<f32> {
    let skip = cin - low;
    let mut out = vec![0f32; 4 * cout * skip * 16];
    for (o, a, b, row) in phases(cout) {
        for c in 0..skip {
            for ky in 0..3 {
                for kx in 0..3 {
                    out[((row * skip + c) * 4 + a + ky) * 4 + b + kx] =
                        w[((o * cin + low + c) * 3 + ky) * 3 + kx];
                }
            }
        }
    }
    out
}

/// Every output channel `o` and phase `(a, b)` of a fused convolution, with the fused output
/// channel `4·o + 2·a + b` (the order `DepthToSpace` mode CRD expects).
fn phases(cout: usize) -> impl Iterator<Item = (usize, usize, usize, usize)> {
    (0..cout).flat_map(|o| [(0, 0), (0, 1), (1, 0), (1, 1)].map(|(a, b)| (o, a, b, 4 * o + 2 * a + b)))
}

/// The original weight `name` (`[cout, cin, 3, 3]`) or bias of a fused decoder convolution, from
/// the fused file's `<conv>.subpixel.*` (and `<conv>.skip.weight`) initializers.
pub(super) fn unfuse(
    name: &str,
    shape: &[usize],
    values: &dyn Fn(&str) -> Option<Vec<f32>>,
) -> Option<Vec<f32>> {
    if let Some(conv) = name.strip_suffix(".bias") {
        let phased = values(&format!("{conv}.subpixel.bias"))?;
        return Some(phased.iter().step_by(4).copied().collect());
    }
    let conv = name.strip_suffix(".weight")?;
    let fused = values(&format!("{conv}.subpixel.weight"))?;
    let (cout, cin) = (shape[0], shape[1]);
    let low = fused.len() / (4 * cout * 9);
    let skip = values(&format!("{conv}.skip.weight"));
    // K₀₀ = Tᵀ·w·T with T = PHASE_TAPS[0] (rows: taps k, columns: low-resolution rows d).
    let t = PHASE_TAPS[0].map(|r| r.map(f64::from));
    let inv = invert3(t)?;
    let mut w = vec![0f32; cout * cin * 9];
    for o in 0..cout {
        for c in 0..low {
            let k = |dy: usize, dx: usize| fused[(((4 * o) * low + c) * 3 + dy) * 3 + dx] as f64;
            // w = T⁻ᵀ·K·T⁻¹
            for ky in 0..3 {
                for kx in 0..3 {
                    let mut v = 0.0;
                    for dy in 0..3 {
                        for dx in 0..3 {
                            v += inv[dy][ky] * k(dy, dx) * inv[dx][kx];
                        }
                    }
                    w[((o * cin + c) * 3 + ky) * 3 + kx] = v as f32;
                }
            }
        }
        if let Some(skip) = &skip {
            let channels = cin - low;
            for c in 0..channels {
                for ky in 0..3 {
                    for kx in 0..3 {
                        w[((o * cin + low + c) * 3 + ky) * 3 + kx] =
                            skip[(((4 * o) * channels + c) * 4 + ky) * 4 + kx];
                    }
                }
            }
        }
    }
    Some(w)
}

/// The inverse of a 3×3 matrix, or `None` when it is singular.
fn invert3(m: [[f64; 3]; 3]) -> Option<[[f64; 3]; 3]> {
    let cof = |r: usize, c: usize| {
        let (r1, r2, c1, c2) = ((r + 1) % 3, (r + 2) % 3, (c + 1) % 3, (c + 2) % 3);
        m[r1][c1] * m[r2][c2] - m[r1][c2] * m[r2][c1]
    };
    let det = (0..3).map(|c| m[0][c] * cof(0, c)).sum::<f64>();
    if det.abs() < 1e-12 {
        return None;
    }
    let mut inv = [[0.0; 3]; 3];
    for (r, row) in inv.iter_mut().enumerate() {
        for (c, v) in row.iter_mut().enumerate() {
            *v = cof(c, r) / det;
        }
    }
    Some(inv)
}
