//! A minimal reproduction of tract's slow `Pad` outside constant mode, for upstream.
//!
//! One `Pad` node (1 pixel on H and W, the generator's padding) on `[1, C, H, W]` f32, timed in a
//! plain tract plan per mode, next to the same padding done as row copies, which checks that the
//! outputs agree. tract 0.23's `Pad::eval_t` assigns the input into an `IxDyn` slice of the
//! output, a strided element-by-element walk, and the reflected or repeated borders one slice at a
//! time; row copies of the contiguous last axis are what the work needs.
//!
//! ```sh
//! cargo run --release --example tract_pad              # [1,16,240,320], 50 runs
//! cargo run --release --example tract_pad -- 16 480 640 20
//! ```

#[path = "support/timing.rs"]
mod timing;

use timing::median;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::array::{Pad, PadMode};

fn main() -> TractResult<()> {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("C H W RUNS")).collect();
    let (c, h, w, runs) = match args[..] {
        [c, h, w, runs] => (c, h, w, runs),
        [] => (16, 240, 320, 50),
        _ => panic!("usage: tract_pad [C H W RUNS]"),
    };
    let input: Tensor =
        tract_ndarray::Array4::from_shape_fn((1, c, h, w), |(_, k, y, x)| (k * 7 + y * 3 + x) as f32).into();
    let values = (c * (h + 2) * (w + 2)) as f64;
    println!("tract Pad, 1 pixel on H and W of [1,{c},{h},{w}] f32, median of {runs} runs, one thread");
    println!("| mode | tract ms | ns per output value | row copies ms | same output |");
    println!("|---|---|---|---|---|");
    for (name, mode) in [
        ("constant", PadMode::Constant(Arc::new(0f32.into()))),
        ("reflect", PadMode::Reflect),
        ("edge", PadMode::Edge),
    ] {
        let mut model = TypedModel::default();
        let x = model.add_source("x", f32::fact([1, c, h, w]))?;
        let pad = Pad { pads: vec![(0, 0), (0, 0), (1, 1), (1, 1)], mode: mode.clone() };
        let y = model.wire_node("pad", pad, &[x])?;
        model.select_output_outlets(&y)?;
        let plan = model.into_optimized()?.into_runnable()?;
        let tract_out = plan.run(tvec![input.clone().into_tvalue()])?.remove(0).into_tensor();
        let tract_ms = median(runs, || {
            plan.run(tvec![input.clone().into_tvalue()]).map(|_| ()).expect("run");
        });
        let rows_out = by_rows(&input, &mode, c, h, w);
        let rows_ms = median(runs, || {
            std::hint::black_box(by_rows(&input, &mode, c, h, w));
        });
        let same = tract_out.try_as_plain_ram()?.as_slice::<f32>()? == &rows_out[..];
        let ns = tract_ms * 1e6 / values;
        println!("| {name} | {tract_ms:.2} | {ns:.2} | {rows_ms:.2} | {same} |");
    }
    Ok(())
}

/// The same padding as copies of whole rows (the last axis is contiguous).
fn by_rows(input: &Tensor, mode: &PadMode, c: usize, h: usize, w: usize) -> Vec<f32> {
    let view = input.try_as_plain_ram().expect("a tensor in memory");
    let src = view.as_slice::<f32>().expect("f32");
    let (ph, pw) = (h + 2, w + 2);
    let mut out = vec![0f32; c * ph * pw];
    for k in 0..c {
        let plane = &src[k * h * w..(k + 1) * h * w];
        let dst = &mut out[k * ph * pw..(k + 1) * ph * pw];
        for y in 0..ph {
            let sy = match (mode, y) {
                (PadMode::Constant(_), 0) => continue,
                (PadMode::Constant(_), y) if y == ph - 1 => continue,
                (PadMode::Reflect, 0) => 1,
                (PadMode::Reflect, y) if y == ph - 1 => h - 2,
                (_, 0) => 0,
                (_, y) if y == ph - 1 => h - 1,
                (_, y) => y - 1,
            };
            let row = &plane[sy * w..(sy + 1) * w];
            let out_row = &mut dst[y * pw..(y + 1) * pw];
            out_row[1..=w].copy_from_slice(row);
            match mode {
                PadMode::Constant(_) => {}
                PadMode::Reflect => (out_row[0], out_row[w + 1]) = (row[1], row[w - 2]),
                PadMode::Edge => (out_row[0], out_row[w + 1]) = (row[0], row[w - 1]),
            }
        }
    }
    out
}
