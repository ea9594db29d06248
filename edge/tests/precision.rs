//! Half-precision plans on the shipped default model: the engine's f16 translation keeps the
//! picture (instance norms stay f32), really changes the arithmetic, and keeps f32 at the edges.
//! On an aarch64 CPU with FP16 (or under `qemu-aarch64 -cpu max`) this runs tract's native f16
//! kernels; elsewhere its scalar fallback.

use std::path::Path;

use atelier_edge::engine::{Engine, EngineOptions, Precision, image_to_tensor};

fn engine(precision: Precision) -> Engine {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/default.onnx");
    Engine::load(&model, EngineOptions { precision, ..EngineOptions::default() }).unwrap()
}

fn portrait() -> image::RgbImage {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/mpl_grace_hopper.jpg");
    let img = image::open(path).unwrap().to_rgb8();
    image::imageops::resize(&img, 64, 72, image::imageops::FilterType::Triangle)
}

fn psnr(a: &[f32], b: &[f32]) -> f64 {
    let mse = a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum::<f64>() / a.len() as f64;
    10.0 * (1.0 / mse).log10()
}

#[test]
fn f16_plans_stay_within_35_db_of_f32_for_every_style() {
    let (mut full, mut half) = (engine(Precision::F32), engine(Precision::F16));
    assert_eq!(half.precision(), Precision::F16);
    let input = image_to_tensor(&portrait());
    let styles = full.styles().to_vec();
    for style in &styles {
        full.set_style(style).unwrap();
        half.set_style(style).unwrap();
        let a = full.run_tensor(input.clone()).unwrap();
        let b = half.run_tensor(input.clone()).unwrap();
        assert_eq!(b.datum_type(), a.datum_type(), "callers always get f32");
        assert_eq!(a.shape(), b.shape());
        let values = |t: &tract_onnx::prelude::Tensor| {
            t.try_as_plain_ram().unwrap().as_slice::<f32>().unwrap().to_vec()
        };
        let (a, b) = (values(&a), values(&b));
        let db = psnr(&a, &b);
        assert!(db >= 35.0, "{style}: f16 is {db:.1} dB from f32");
        assert!(db.is_finite(), "{style}: f16 output is bit-identical to f32: nothing was translated");
    }
}
