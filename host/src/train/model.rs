//! The generator in libtorch: an interpreter of [`Generator`]'s layer list, so training and the
//! ONNX writer share one definition. Parameter names match the writer's (`enc0.conv.weight`, ...).

use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

use std::collections::HashMap;

use crate::generator::{Generator, Layer, Padding, Param, Upsampling, Weights, conv_padding};

/// Must match the ONNX writer's InstanceNormalization epsilon.
const NORM_EPSILON: f64 = 1e-5;

/// A generator whose parameters live in a [`VarStore`].
pub struct TchGenerator {
    pub spec: Generator,
    pub vs: VarStore,
}

impl TchGenerator {
    /// Creates the parameters from `weights` (e.g. [`Generator::init_weights`]).
    pub fn new(spec: Generator, weights: &Weights, device: Device) -> TchGenerator {
        let vs = VarStore::new(device);
        for (name, param) in weights {
            let tensor = Tensor::from_slice(&param.data)
                .view(param.shape.iter().map(|&d| d as i64).collect::<Vec<_>>().as_slice());
            create_var(&vs, name, &tensor);
        }
        TchGenerator { spec, vs }
    }

    /// Stylizes `x` `[B,3,H,W]` in [0,1] with per-sample style weights `style` `[B,S]`.
    pub fn forward(&self, x: &Tensor, style: &Tensor) -> Tensor {
        self.forward_with_bottleneck(x, style).1
    }

    /// [`forward`](Self::forward), also returning the bottleneck: the activation after the
    /// last residual block, which distillation matches when the blocks change shape.
    pub fn forward_with_bottleneck(&self, x: &Tensor, style: &Tensor) -> (Tensor, Tensor) {
        let vars = self.vs.variables();
        let param =
            |name: &str| vars.get(name).unwrap_or_else(|| panic!("parameter {name} missing")).shallow_clone();
        let layers = &self.spec.layers;
        let split = layers.iter().rposition(|l| matches!(l, Layer::Residual { .. })).map_or(0, |i| i + 1);
        let mut saved = HashMap::new();
        let bottleneck = run_layers(&layers[..split], x.shallow_clone(), style, &mut saved, &param);
        let out = run_layers(&layers[split..], bottleneck.shallow_clone(), style, &mut saved, &param);
        (bottleneck, out)
    }

    /// The current weights, for the ONNX writer.
    pub fn weights(&self) -> Weights {
        let vars = self.vs.variables();
        self.spec
            .param_shapes()
            .into_iter()
            .map(|(name, shape)| {
                let t = vars[&name].to_device(Device::Cpu).to_kind(Kind::Float).flatten(0, -1);
                let data = Vec::<f32>::try_from(&t).expect("f32 parameter");
                (name, Param { shape, data })
            })
            .collect()
    }
}

/// Creates variable `a.b.c` as `c` under the path `a/b` (tch forbids dots in variable names).
pub fn create_var(vs: &VarStore, name: &str, value: &Tensor) {
    let mut parts: Vec<&str> = name.split('.').collect();
    let leaf = parts.pop().expect("non-empty name");
    let path = parts.iter().fold(vs.root(), |p, part| p.sub(*part));
    let _ = path.var_copy(leaf, value);
}

fn run_layers(
    layers: &[Layer],
    mut x: Tensor,
    style: &Tensor,
    saved: &mut HashMap<String, Tensor>,
    param: &dyn Fn(&str) -> Tensor,
) -> Tensor {
    for layer in layers {
        x = match layer {
            Layer::Conv { .. } => conv(layer, x, param),
            Layer::CondNorm { name, channels } => {
                let c = *channels as i64;
                let normed = x.instance_norm(
                    None::<Tensor>,
                    None::<Tensor>,
                    None::<Tensor>,
                    None::<Tensor>,
                    true,
                    0.0,
                    NORM_EPSILON,
                    false,
                );
                let gamma = style.matmul(&param(&format!("{name}.gamma"))).view([-1, c, 1, 1]);
                let beta = style.matmul(&param(&format!("{name}.beta"))).view([-1, c, 1, 1]);
                normed * gamma + beta
            }
            Layer::Relu => x.relu(),
            Layer::Sigmoid => x.sigmoid(),
            Layer::Upsample(mode) => {
                let (h, w) = (x.size()[2], x.size()[3]);
                match mode {
                    Upsampling::Nearest => x.upsample_nearest2d([h * 2, w * 2], 2.0, 2.0),
                    Upsampling::Bilinear => x.upsample_bilinear2d([h * 2, w * 2], false, 2.0, 2.0),
                }
            }
            Layer::Save { slot } => {
                saved.insert(slot.clone(), x.shallow_clone());
                x
            }
            Layer::AddSaved { slot } => x + &saved[slot],
            Layer::ConcatSaved { slot } => Tensor::cat(&[x, saved[slot].shallow_clone()], 1),
            Layer::AddConvSaved { slot, conv: c } => x + conv(c, saved[slot].shallow_clone(), param),
            Layer::DepthToSpace(n) => x.pixel_shuffle(*n as i64),
            Layer::Residual { body } => {
                let inner = run_layers(body, x.shallow_clone(), style, saved, param);
                x + inner
            }
        };
    }
    x
}

/// A [`Layer::Conv`] applied to `x`.
fn conv(layer: &Layer, x: Tensor, param: &dyn Fn(&str) -> Tensor) -> Tensor {
    let Layer::Conv { name, kernel, stride, groups, padding, .. } = layer else {
        panic!("not a convolution: {layer:?}");
    };
    let w = param(&format!("{name}.weight"));
    let b = param(&format!("{name}.bias"));
    let p = conv_padding(*kernel, *stride) as i64;
    let (x, p) = match padding {
        Padding::Reflect if p > 0 => (x.reflection_pad2d([p, p, p, p]), 0),
        Padding::Edge if p > 0 => (x.replication_pad2d([p, p, p, p]), 0),
        _ => (x, p),
    };
    x.conv2d(&w, Some(&b), [*stride as i64; 2], [p, p], [1, 1], *groups as i64)
}
