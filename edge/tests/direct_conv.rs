//! The engine's choice of tract's direct convolution (`engine::direct_conv`): the shipped
//! models' output stage takes it, the stride-2 encoder convolution to 32 channels does not, and
//! the pictures agree with im2col's to rounding.

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
        let direct: Vec<String> = chosen
            .profile(input.clone(), 1)
            .unwrap()
            .into_iter()
            .filter(|n| n.op == "DirectSpatialConv")
            .map(|n| n.name)
            .collect();
        assert!(direct.iter().any(|n| n.starts_with("out.conv")), "{model}: {direct:?}");
        assert!(
            !direct.iter().any(|n| n.starts_with("enc1")),
            "{model}: stride 2 to 32 channels: {direct:?}"
        );
        let im2col = off.profile(input.clone(), 1).unwrap();
        assert!(im2col.iter().all(|n| n.op != "DirectSpatialConv"), "{model}: Off took the direct form");
        for style in chosen.styles().to_vec() {
            chosen.set_style(&style).unwrap();
            off.set_style(&style).unwrap();
            let values = |e: &mut Engine| -> Vec<f32> {
                let t = e.run_tensor(input.clone()).unwrap();
                t.try_as_plain_ram().unwrap().as_slice::<f32>().unwrap().to_vec()
            };
            let (a, b) = (values(&mut chosen), values(&mut off));
            let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
            assert!(worst < 1e-4, "{model} {style}: direct and im2col differ by {worst}");
        }
    }
}
