//! What the timing examples share (`#[path]`-included: a folder without `main.rs` is no example).

use std::time::Instant;

/// Median wall time of `runs` calls of `f`, in milliseconds, after one warm-up call.
pub fn median(runs: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut times: Vec<f64> = (0..runs.max(1))
        .map(|_| {
            let t0 = Instant::now();
            f();
            t0.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}
