//! A minimal reproduction, for upstream, of tract-linalg's x86 kernels leaving the upper halves
//! of the vector registers dirty, and what it costs the code that runs after them.
//!
//! tract-linalg 0.23's assembly kernels (`x86_64/fma/postamble.j2` and the element-wise ones)
//! return with `ret` and no `vzeroupper`. Code compiled for baseline x86-64, which is legacy SSE
//! (most Rust code, tract's own generic ops among it), then runs several times slower on some
//! CPUs until something clears those halves. This times one SSE loop (a sum of squares over
//! 1.2 M values) before a tract matrix product, after it, and after a `vzeroupper`.
//!
//! ```sh
//! cargo run -p atelier-edge --example tract_vzeroupper
//! ```

#[path = "support/timing.rs"]
mod timing;

use timing::median;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::einsum::EinSum;

fn main() -> TractResult<()> {
    atelier_edge::engine::kernels::choose();
    let values: Vec<f32> = (0..16 * 240 * 320).map(|i| (i % 977) as f32 * 1e-3).collect();
    let sse_loop = || {
        median(20, || {
            std::hint::black_box(sum_of_squares(std::hint::black_box(&values)));
        })
    };

    let mut model = TypedModel::default();
    let a = model.add_source("a", f32::fact([64, 576]))?;
    let b = model.add_source("b", f32::fact([576, 4800]))?;
    let c = model.wire_node("mm", EinSum::new("ik,kj->ij".parse()?, f32::datum_type()), &[a, b])?;
    model.select_output_outlets(&c)?;
    let plan = model.into_optimized()?.into_runnable()?;
    let inputs = || {
        tvec![
            Tensor::zero::<f32>(&[64, 576]).unwrap().into_tvalue(),
            Tensor::zero::<f32>(&[576, 4800]).unwrap().into_tvalue()
        ]
    };

    let before = sse_loop();
    plan.run(inputs())?;
    let after_tract = sse_loop();
    atelier_edge::engine::kernels::clear_upper_registers();
    let after_clear = sse_loop();
    println!("sum of squares over {} f32 (SSE code), median of 20 runs:", values.len());
    println!("| when | ms |");
    println!("|---|---|");
    println!("| before any tract kernel ran | {before:.3} |");
    println!("| after a tract matrix product | {after_tract:.3} |");
    println!("| after vzeroupper | {after_clear:.3} |");
    Ok(())
}

/// Plain Rust: compiled for the baseline target, so SSE.
fn sum_of_squares(values: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    for eight in values.chunks_exact(8) {
        for k in 0..8 {
            lanes[k] += eight[k] * eight[k];
        }
    }
    lanes.iter().sum()
}
