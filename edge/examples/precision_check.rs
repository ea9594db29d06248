//! Compares the engine's f16 plans with its f32 plans on one image, for every style, on one thread.
//!
//! Made for emulated aarch64 (`scripts/cross-build.sh --tests` runs it under qemu-aarch64):
//! qemu-user here cannot start threads, so the test harness and the mirror's pipeline cannot run
//! there, but this can. Exits non-zero when any style is below 35 dB.
//!
//! ```sh
//! cargo run --example precision_check -- models/default.onnx edge/assets/demo/mpl_grace_hopper.jpg
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use atelier_edge::engine::{Engine, EngineOptions, Precision, image_to_tensor};
use tract_onnx::prelude::Tensor;

fn values(t: &Tensor) -> anyhow::Result<Vec<f32>> {
    Ok(t.try_as_plain_ram()?.as_slice::<f32>()?.to_vec())
}

fn main() -> anyhow::Result<ExitCode> {
    let mut args = std::env::args().skip(1).map(PathBuf::from);
    let (Some(model), Some(image)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: precision_check MODEL.onnx IMAGE");
    };
    let img = image::open(&image)?.to_rgb8();
    let input =
        image_to_tensor(&image::imageops::resize(&img, 64, 72, image::imageops::FilterType::Triangle));
    let load = |precision| Engine::load(&model, EngineOptions { precision, ..EngineOptions::default() });
    let (mut full, mut half) = (load(Precision::F32)?, load(Precision::F16)?);
    println!("{}: native f16 kernels: {}", std::env::consts::ARCH, Precision::F16.is_native());
    let mut ok = true;
    for style in full.styles().to_vec() {
        full.set_style(&style)?;
        half.set_style(&style)?;
        let a = values(&full.run_tensor(input.clone())?)?;
        let b = values(&half.run_tensor(input.clone())?)?;
        let mse = a.iter().zip(&b).map(|(x, y)| ((x - y) as f64).powi(2)).sum::<f64>() / a.len() as f64;
        let db = 10.0 * (1.0 / mse).log10();
        println!("{style}: f16 vs f32 {db:.1} dB");
        ok &= db >= 35.0;
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
