//! The engine's own padding and `DepthToSpace` copies (`engine::row_pad`, `engine::permute`)
//! replace tract's `Pad` and `MoveAxis` in the shipped models' plans and change no output value.

#[path = "common/portrait.rs"]
mod portrait;

use std::path::Path;

use portrait::portrait;

use atelier_edge::engine::{Engine, EngineOptions, Precision, image_to_tensor};

fn engine(model: &str, row_copies: bool, precision: Precision) -> Engine {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models").join(model);
    Engine::load(&model, EngineOptions { row_copies, precision, ..EngineOptions::default() }).unwrap()
}

#[test]
fn shipped_models_compute_the_same_values_with_the_engines_copies() {
    for model in ["classics6.onnx", "garments7.onnx"] {
        for (w, h) in [(64, 48), (40, 72)] {
            let (mut ours, mut tracts) =
                (engine(model, true, Precision::F32), engine(model, false, Precision::F32));
            let ops = |e: &mut Engine| -> Vec<String> {
                e.profile(image_to_tensor(&portrait(w, h)), 1).unwrap().into_iter().map(|n| n.op).collect()
            };
            let (with, without) = (ops(&mut ours), ops(&mut tracts));
            assert!(with.iter().any(|op| op == "RowPad") && !with.iter().any(|op| op == "Pad"), "{with:?}");
            assert!(
                with.iter().any(|op| op == "Permute") && !with.iter().any(|op| op == "MoveAxis"),
                "{with:?}"
            );
            assert!(without.iter().any(|op| op == "Pad") && without.iter().any(|op| op == "MoveAxis"));
            let input = image_to_tensor(&portrait(w, h));
            for style in ours.styles().to_vec() {
                ours.set_style(&style).unwrap();
                tracts.set_style(&style).unwrap();
                let a = ours.run_tensor(input.clone()).unwrap();
                let b = tracts.run_tensor(input.clone()).unwrap();
                assert_eq!(a, b, "{model} {style} at {w}x{h}");
            }
        }
    }
}

#[test]
fn f16_plans_use_them_too() {
    let (mut ours, mut tracts) =
        (engine("default.onnx", true, Precision::F16), engine("default.onnx", false, Precision::F16));
    let input = image_to_tensor(&portrait(32, 24));
    assert_eq!(ours.run_tensor(input.clone()).unwrap(), tracts.run_tensor(input).unwrap());
    let ops: Vec<String> =
        ours.profile(image_to_tensor(&portrait(32, 24)), 1).unwrap().into_iter().map(|n| n.op).collect();
    assert!(ops.iter().any(|op| op == "RowPad") && ops.iter().any(|op| op == "Permute"), "{ops:?}");
}
