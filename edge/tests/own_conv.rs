//! The engine's own convolution (`engine::flat_conv`, x86-64 with AVX-512): on such a CPU it runs
//! the shipped models' stride-1 convolutions with whole blocks of 8 outputs and the strided ones,
//! and the pictures agree with tract's to rounding; elsewhere tract runs them all.

#[path = "common/agree.rs"]
mod agree;
#[path = "common/portrait.rs"]
mod portrait;

use std::path::Path;

use portrait::portrait;

use atelier_edge::engine::{Engine, EngineOptions, image_to_tensor};

fn engine(model: &str, own_convs: bool) -> Engine {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models").join(model);
    Engine::load(&model, EngineOptions { own_convs, ..EngineOptions::default() }).unwrap()
}

fn avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::arch::is_x86_feature_detected!("avx512f");
    #[cfg(not(target_arch = "x86_64"))]
    false
}

#[test]
fn the_residual_blocks_run_in_the_engines_kernel_and_agree_with_tract() {
    // 200×144: rows of 50 and 100 points, neither a whole number of tiles.
    let input = image_to_tensor(&portrait(200, 144));
    for model in ["classics6.onnx", "garments7.onnx"] {
        let (mut own, mut tract) = (engine(model, true), engine(model, false));
        let flat = agree::nodes_run_as(&mut own, &input, "FlatConv");
        if avx512() {
            let strided = ["enc0.conv", "enc1.conv", "enc2.conv", "out.conv.skip"];
            let residual = ["res0.conv0", "res2.conv1", "dec0.conv.subpixel", "dec1.conv.subpixel"];
            for conv in strided.iter().chain(&residual) {
                assert!(flat.iter().any(|n| n == conv), "{model}: {conv} not in {flat:?}");
            }
            // 12 outputs at stride 1: tract's direct form is faster.
            assert!(!flat.iter().any(|n| n == "out.conv.subpixel"), "{model}: {flat:?}");
        } else {
            assert!(flat.is_empty(), "{model}: no AVX-512, yet {flat:?}");
        }
        let untouched = agree::nodes_run_as(&mut tract, &input, "FlatConv");
        assert!(untouched.is_empty(), "{model}: own_convs off, yet {untouched:?}");
        let (style, worst) = agree::worst_difference(&mut own, &mut tract, &input);
        assert!(worst < 1e-4, "{model} {style}: own and tract's convolutions differ by {worst}");
    }
}
