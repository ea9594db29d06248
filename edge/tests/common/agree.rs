//! How far two engines' pictures are apart: the check behind each engine choice's test.

use atelier_edge::engine::Engine;
use tract_onnx::prelude::Tensor;

/// The largest difference between `a`'s and `b`'s outputs for `input`, over every style, and the
/// style where it is.
pub fn worst_difference(a: &mut Engine, b: &mut Engine, input: &Tensor) -> (String, f32) {
    let values = |e: &mut Engine| -> Vec<f32> {
        let t = e.run_tensor(input.clone()).unwrap();
        t.try_as_plain_ram().unwrap().as_slice::<f32>().unwrap().to_vec()
    };
    let mut worst = (String::new(), 0f32);
    for style in a.styles().to_vec() {
        a.set_style(&style).unwrap();
        b.set_style(&style).unwrap();
        let (x, y) = (values(a), values(b));
        let diff = x.iter().zip(&y).map(|(p, q)| (p - q).abs()).fold(0f32, f32::max);
        if diff >= worst.1 {
            worst = (style, diff);
        }
    }
    worst
}

/// The names of the nodes of `engine`'s plan for `input` that run as `op`.
pub fn nodes_run_as(engine: &mut Engine, input: &Tensor, op: &str) -> Vec<String> {
    let nodes = engine.profile(input.clone(), 1).unwrap();
    nodes.into_iter().filter(|n| n.op == op).map(|n| n.name).collect()
}
