//! The engine's choice of tract's direct convolution (`engine::direct_conv`): the shipped
//! models' output stage takes it, the stride-2 encoder convolution to 32 channels does not, and
//! the pictures agree with im2col's to rounding.

#[path = "common/agree.rs"]
mod agree;
#[path = "common/portrait.rs"]
mod portrait;

use std::path::Path;

use portrait::portrait;

use atelier_edge::engine::{DirectConv, Engine, EngineOptions, image_to_tensor};

fn engine(model: &str, direct_conv: DirectConv) -> Engine {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models").join(model);
    Engine::load(&model, EngineOptions { direct_conv, ..EngineOptions::default() }).unwrap()
}

#[test]
fn the_output_stage_runs_direct_and_agrees_with_im2col() {
    // 320×240: the output stage's rows are 160 points, long enough for tract's direct form.
    let input = image_to_tensor(&portrait(320, 240));
    for model in ["classics6.onnx", "garments7.onnx"] {
        let (mut chosen, mut off) = (engine(model, DirectConv::Chosen), engine(model, DirectConv::Off));
        let direct = agree::nodes_run_as(&mut chosen, &input, "DirectSpatialConv");
        assert!(direct.iter().any(|n| n.starts_with("out.conv")), "{model}: {direct:?}");
        assert!(
            !direct.iter().any(|n| n.starts_with("enc1")),
            "{model}: stride 2 to 32 channels: {direct:?}"
        );
        let im2col = agree::nodes_run_as(&mut off, &input, "DirectSpatialConv");
        assert!(im2col.is_empty(), "{model}: Off took the direct form: {im2col:?}");
        let (style, worst) = agree::worst_difference(&mut chosen, &mut off, &input);
        assert!(worst < 1e-4, "{model} {style}: direct and im2col differ by {worst}");
    }
}
