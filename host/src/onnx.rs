//! Writes a [`Generator`] and its weights as an ONNX model that honours the edge's contract.
//!
//! Uses the protobuf types tract-onnx already ships (`tract_onnx::pb`) and prost to encode them,
//! so there is one protobuf stack in the workspace. prost omits zero-valued scalar fields, so no
//! attribute here is ever written with a zero value (readers would see "absent" instead).

use std::collections::BTreeMap;
use std::path::Path;

use atelier_edge::contract::{self, Quantization, keys};
use prost::Message;
use tract_onnx::pb;
use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::tensor_proto::DataType;

use crate::generator::{Generator, Layer, Padding, Upsampling, Weights, conv_padding};

mod fused;
use fused::{skip_phase_kernel, subpixel_kernel, unfuse};

/// The opset written. 17 is accepted by tract, onnxruntime and the ONNX checker alike.
pub const OPSET: i64 = 17;
/// IR version matching opset 17.
pub const IR_VERSION: i64 = 8;
const NORM_EPSILON: f32 = 1e-5;

/// Descriptive metadata written to `metadata_props`.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelMeta {
    pub train_size: u32,
    pub quantization: Quantization,
    pub trained_with: String,
    /// Style image file names, parallel to the styles (trained models only).
    pub style_sources: Option<Vec<String>>,
}

/// How the decoder's up-sampling stages are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// Each bilinear ×2 followed by an edge-padded 3×3 convolution becomes one 3×3 convolution
    /// at the lower resolution with 4× the outputs and a `DepthToSpace`: the same numbers, without
    /// the up-sampled tensor, the `Resize` or the full-resolution matrix product with 3 rows that
    /// made the generator slow in tract (docs/benchmarks.md).
    Fused,
    /// Layer by layer, as trained: `Resize` → `Pad` → `Conv`. Tests check the two agree.
    Reference,
}

/// Builds the ModelProto for a generator with the given weights, in the [`Form::Fused`] form.
///
/// A model with one style has no `style` input: its norm scales and shifts are folded into the
/// InstanceNormalization nodes. With several styles, each norm mixes its `[S, C]` tables by the
/// `style` input (`MatMul` → `Reshape` → `Mul`/`Add`).
pub fn generator_to_proto(
    g: &Generator,
    weights: &Weights,
    meta: &ModelMeta,
) -> Result<pb::ModelProto, crate::generator::GeneratorError> {
    generator_to_proto_as(g, weights, meta, Form::Fused)
}

/// [`generator_to_proto`] in a chosen [`Form`].
pub fn generator_to_proto_as(
    g: &Generator,
    weights: &Weights,
    meta: &ModelMeta,
    form: Form,
) -> Result<pb::ModelProto, crate::generator::GeneratorError> {
    g.check_weights(weights)?;
    let mut b = GraphBuilder::new(weights, g.styles.len(), form);
    let out = b.layers(&g.layers, contract::INPUT_IMAGE.to_string());
    b.rename_output(&out, contract::OUTPUT);
    let mut inputs = vec![value_info_image(contract::INPUT_IMAGE)];
    if g.styles.len() > 1 {
        inputs.push(value_info(contract::INPUT_STYLE, &[Dim::Fixed(1), Dim::Fixed(g.styles.len() as i64)]));
    }
    let graph = pb::GraphProto {
        name: "atelier_generator".into(),
        node: b.nodes,
        initializer: b.initializers.into_values().collect(),
        input: inputs,
        output: vec![value_info_image(contract::OUTPUT)],
        ..Default::default()
    };
    let mut props = vec![
        (keys::FORMAT, contract::FORMAT_VERSION.to_string()),
        (keys::STYLES, serde_json::to_string(&g.styles).expect("strings serialise")),
        (keys::TRAIN_SIZE, meta.train_size.to_string()),
        (keys::QUANTIZATION, meta.quantization.to_string()),
        (keys::MACS_PER_PIXEL, g.macs_per_pixel().to_string()),
        (keys::TRAINED_WITH, meta.trained_with.clone()),
        ("atelier.generator", serde_json::to_string(&g.config).expect("config serialises")),
    ];
    if let Some(sources) = &meta.style_sources {
        props.push((keys::STYLE_SOURCES, serde_json::to_string(sources).expect("strings serialise")));
    }
    Ok(pb::ModelProto {
        ir_version: IR_VERSION,
        opset_import: vec![pb::OperatorSetIdProto { domain: String::new(), version: OPSET }],
        producer_name: "atelier".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        graph: Some(graph),
        metadata_props: props
            .into_iter()
            .map(|(key, value)| pb::StringStringEntryProto { key: key.to_string(), value })
            .collect(),
        ..Default::default()
    })
}

/// The generator configuration a model this writer wrote records (`atelier.generator`).
pub fn generator_config(proto: &pb::ModelProto) -> Option<crate::generator::GeneratorConfig> {
    let entry = proto.metadata_props.iter().find(|p| p.key == "atelier.generator")?;
    serde_json::from_str(&entry.value).ok()
}

/// Why a model's weights cannot be read back.
#[derive(Debug, thiserror::Error)]
pub enum ReadWeightsError {
    #[error(transparent)]
    Contract(#[from] contract::ContractError),
    #[error("its styles {found:?} are not this generator's {wanted:?} (same names, same order)")]
    Styles { found: Vec<String>, wanted: Vec<String> },
    #[error("weight `{0}` is missing or not f32 (int8 models cannot be read back; use the f32 file)")]
    Missing(String),
    #[error("weight `{name}` holds {found} values, the generator needs {wanted}")]
    Size { name: String, found: usize, wanted: usize },
}

/// Reads the weights of `g` back from a model this writer wrote, e.g. to fine-tune a shipped model
/// whose checkpoint is gone. Fused decoder stages are inverted ([`fused::unfuse`]): their phase (0, 0)
/// kernel is the original one blended by an invertible 3×3 matrix on each side.
pub fn read_weights(proto: &pb::ModelProto, g: &Generator) -> Result<Weights, ReadWeightsError> {
    let info = contract::validate(proto)?;
    if info.styles != g.styles {
        return Err(ReadWeightsError::Styles { found: info.styles, wanted: g.styles.clone() });
    }
    let initializers: BTreeMap<&str, &pb::TensorProto> =
        proto.graph.iter().flat_map(|g| &g.initializer).map(|t| (t.name.as_str(), t)).collect();
    let values = |name: &str| initializers.get(name).and_then(|t| crate::quantize::f32_values(t).ok());
    g.param_shapes()
        .into_iter()
        .map(|(name, shape)| {
            let data = values(&name)
                .or_else(|| unfuse(&name, &shape, &values))
                .ok_or_else(|| ReadWeightsError::Missing(name.clone()))?;
            let wanted = shape.iter().product();
            if data.len() != wanted {
                return Err(ReadWeightsError::Size { name, found: data.len(), wanted });
            }
            Ok((name, crate::generator::Param { shape, data }))
        })
        .collect()
}

/// Encodes and writes a model atomically (temporary file, then rename), so a crash or a full
/// disk never leaves a truncated model where a good one was.
pub fn save(proto: &pb::ModelProto, path: &Path) -> std::io::Result<()> {
    let bytes = proto.encode_to_vec();
    let tmp = path.with_extension("onnx.part");
    std::fs::write(&tmp, &bytes).and_then(|_| std::fs::rename(&tmp, path)).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

enum Dim {
    Fixed(i64),
    Param(&'static str),
}

fn value_info_image(name: &str) -> pb::ValueInfoProto {
    value_info(name, &[Dim::Fixed(1), Dim::Fixed(3), Dim::Param("H"), Dim::Param("W")])
}

fn value_info(name: &str, dims: &[Dim]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{Dimension, dimension::Value};
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Dim::Fixed(v) => Value::DimValue(*v),
                Dim::Param(p) => Value::DimParam(p.to_string()),
            }),
            ..Default::default()
        })
        .collect();
    pb::ValueInfoProto {
        name: name.to_string(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: DataType::Float as i32,
                shape: Some(pb::TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// An f32 initializer with little-endian raw data.
pub fn f32_tensor(name: &str, shape: &[usize], data: &[f32]) -> pb::TensorProto {
    pb::TensorProto {
        name: name.to_string(),
        dims: shape.iter().map(|&d| d as i64).collect(),
        data_type: DataType::Float as i32,
        raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

/// An i64 initializer (shapes, axes).
pub fn i64_tensor(name: &str, data: &[i64]) -> pb::TensorProto {
    pb::TensorProto {
        name: name.to_string(),
        dims: vec![data.len() as i64],
        data_type: DataType::Int64 as i32,
        raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

pub fn attr_ints(name: &str, values: &[i64]) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: AttributeType::Ints as i32,
        ints: values.to_vec(),
        ..Default::default()
    }
}

pub fn attr_int(name: &str, value: i64) -> pb::AttributeProto {
    assert!(value != 0, "prost drops zero-valued fields; attribute {name} must be non-zero");
    pb::AttributeProto {
        name: name.into(),
        r#type: AttributeType::Int as i32,
        i: value,
        ..Default::default()
    }
}

pub fn attr_float(name: &str, value: f32) -> pb::AttributeProto {
    assert!(value != 0.0, "prost drops zero-valued fields; attribute {name} must be non-zero");
    pb::AttributeProto {
        name: name.into(),
        r#type: AttributeType::Float as i32,
        f: value,
        ..Default::default()
    }
}

pub fn attr_string(name: &str, value: &str) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: AttributeType::String as i32,
        s: value.as_bytes().to_vec(),
        ..Default::default()
    }
}

pub fn node(
    op: &str,
    name: &str,
    inputs: &[&str],
    outputs: &[&str],
    attribute: Vec<pb::AttributeProto>,
) -> pb::NodeProto {
    pb::NodeProto {
        op_type: op.into(),
        name: name.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        attribute,
        ..Default::default()
    }
}

struct GraphBuilder<'a> {
    weights: &'a Weights,
    styles: usize,
    form: Form,
    nodes: Vec<pb::NodeProto>,
    initializers: BTreeMap<String, pb::TensorProto>,
    counter: usize,
    /// Tensors kept by [`Layer::Save`], by slot.
    saved: BTreeMap<String, String>,
}

impl<'a> GraphBuilder<'a> {
    fn new(weights: &'a Weights, styles: usize, form: Form) -> GraphBuilder<'a> {
        GraphBuilder {
            weights,
            styles,
            form,
            nodes: Vec::new(),
            initializers: BTreeMap::new(),
            counter: 0,
            saved: BTreeMap::new(),
        }
    }

    fn fresh(&mut self, hint: &str) -> String {
        self.counter += 1;
        format!("{hint}_{}", self.counter)
    }

    fn weight(&mut self, name: &str) -> String {
        let p = &self.weights[name];
        self.initializers.entry(name.to_string()).or_insert_with(|| f32_tensor(name, &p.shape, &p.data));
        name.to_string()
    }

    fn constant(&mut self, tensor: pb::TensorProto) -> String {
        let name = tensor.name.clone();
        self.initializers.entry(name.clone()).or_insert(tensor);
        name
    }

    fn layers(&mut self, layers: &[Layer], mut x: String) -> String {
        let mut rest = layers;
        while let Some(layer) = rest.first() {
            if let Some((used, y)) = self.fused_upsampling(rest, &x) {
                (x, rest) = (y, &rest[used..]);
            } else {
                (x, rest) = (self.layer(layer, x), &rest[1..]);
            }
        }
        x
    }

    /// Writes `Upsample(Bilinear) [→ ConcatSaved] → Conv(3×3, stride 1, edge)` at the start of
    /// `layers` as one convolution at the low resolution and a `DepthToSpace`, when the form is
    /// fused; returns how many layers it wrote and the output.
    ///
    /// Why it is exact: with half-pixel centres, up-sampled row `2i + a` blends low-resolution rows
    /// `i - 1 .. i + 1` with fixed weights, so each of the four output phases `(a, b)` of a 3×3
    /// convolution over the up-sampled map is a 3×3 convolution over the low-resolution one, whose
    /// kernel is the original one blended by those weights ([`fused::subpixel_kernel`]). Clamping at the
    /// borders is what edge padding of the low-resolution input reproduces, and what edge padding
    /// of the up-sampled map leaves unchanged, so borders agree too. A concatenated full-resolution
    /// input (the photo) is convolved by a stride-2 4×4 convolution writing the same four phases.
    fn fused_upsampling(&mut self, layers: &[Layer], x: &str) -> Option<(usize, String)> {
        if self.form != Form::Fused || layers.first() != Some(&Layer::Upsample(Upsampling::Bilinear)) {
            return None;
        }
        let (skip, at) = match layers.get(1) {
            Some(Layer::ConcatSaved { slot }) if slot == "input" => (Some(self.saved[slot].clone()), 2),
            Some(Layer::ConcatSaved { .. }) => return None,
            _ => (None, 1),
        };
        let Some(Layer::Conv { name, cin, cout, kernel: 3, stride: 1, groups: 1, padding: Padding::Edge }) =
            layers.get(at)
        else {
            return None;
        };
        let w = &self.weights[&format!("{name}.weight")];
        let bias = &self.weights[&format!("{name}.bias")];
        let skip_channels = if skip.is_some() { SKIP_INPUT_CHANNELS } else { 0 };
        let low = cin - skip_channels;
        let kernel = subpixel_kernel(&w.data, *cout, *cin, low);
        let phased_bias: Vec<f32> = bias.data.iter().flat_map(|&b| [b; 4]).collect();
        let k =
            self.constant(f32_tensor(&format!("{name}.subpixel.weight"), &[4 * cout, low, 3, 3], &kernel));
        let b = self.constant(f32_tensor(&format!("{name}.subpixel.bias"), &[4 * cout], &phased_bias));
        let edge1 = self.constant(i64_tensor("pads.edge1", &[0, 0, 1, 1, 0, 0, 1, 1]));
        let pad = |b: &mut Self, input: &str, out: String| {
            let attrs = vec![attr_string("mode", "edge")];
            b.nodes.push(node("Pad", &out.clone(), &[input, &edge1], &[&out], attrs));
            out
        };
        let padded = pad(self, x, format!("{name}.low.padded"));
        let mut phases = format!("{name}.phases");
        self.nodes.push(node(
            "Conv",
            &format!("{name}.subpixel"),
            &[&padded, &k, &b],
            &[&phases],
            vec![attr_ints("kernel_shape", &[3, 3])],
        ));
        if let Some(skip) = skip {
            let skip_kernel = skip_phase_kernel(&w.data, *cout, *cin, low);
            let sk = self.constant(f32_tensor(
                &format!("{name}.skip.weight"),
                &[4 * cout, skip_channels, 4, 4],
                &skip_kernel,
            ));
            let skip_padded = pad(self, &skip, format!("{name}.skip.padded"));
            let skip_phases = format!("{name}.skip.phases");
            self.nodes.push(node(
                "Conv",
                &format!("{name}.skip"),
                &[&skip_padded, &sk],
                &[&skip_phases],
                vec![attr_ints("kernel_shape", &[4, 4]), attr_ints("strides", &[2, 2])],
            ));
            let sum = format!("{name}.phases.sum");
            self.nodes.push(node("Add", &sum.clone(), &[&phases, &skip_phases], &[&sum], vec![]));
            phases = sum;
        }
        let y = format!("{name}.out");
        self.nodes.push(node(
            "DepthToSpace",
            &format!("{name}.depth_to_space"),
            &[&phases],
            &[&y],
            vec![attr_int("blocksize", 2), attr_string("mode", "CRD")],
        ));
        Some((at + 1, y))
    }

    fn layer(&mut self, layer: &Layer, x: String) -> String {
        match layer {
            Layer::Conv { name, kernel, stride, groups, padding, .. } => {
                let w = self.weight(&format!("{name}.weight"));
                let b = self.weight(&format!("{name}.bias"));
                let y = format!("{name}.out");
                let k = *kernel as i64;
                let p = conv_padding(*kernel, *stride) as i64;
                let mut attrs =
                    vec![attr_ints("kernel_shape", &[k, k]), attr_ints("strides", &[*stride as i64; 2])];
                let mut x = x;
                match padding {
                    _ if p == 0 => {}
                    Padding::Zero => attrs.push(attr_ints("pads", &[p; 4])),
                    Padding::Reflect | Padding::Edge => {
                        let mode = if *padding == Padding::Reflect { "reflect" } else { "edge" };
                        let pads =
                            self.constant(i64_tensor(&format!("pads.{mode}{p}"), &[0, 0, p, p, 0, 0, p, p]));
                        let padded = format!("{name}.padded");
                        self.nodes.push(node(
                            "Pad",
                            &format!("{name}.pad"),
                            &[&x, &pads],
                            &[&padded],
                            vec![attr_string("mode", mode)],
                        ));
                        x = padded;
                    }
                }
                if *groups > 1 {
                    attrs.push(attr_int("group", *groups as i64));
                }
                self.nodes.push(node("Conv", name, &[&x, &w, &b], &[&y], attrs));
                y
            }
            Layer::CondNorm { name, channels } => self.cond_norm(name, *channels, x),
            Layer::Relu => self.unary("Relu", x),
            Layer::Sigmoid => self.unary("Sigmoid", x),
            Layer::Upsample(mode) => {
                let scales = self.constant(f32_tensor("upsample2.scales", &[4], &[1.0, 1.0, 2.0, 2.0]));
                let y = self.fresh("upsample");
                let attrs = match mode {
                    Upsampling::Nearest => vec![
                        attr_string("mode", "nearest"),
                        attr_string("coordinate_transformation_mode", "asymmetric"),
                        attr_string("nearest_mode", "floor"),
                    ],
                    // libtorch's bilinear with align_corners=false.
                    Upsampling::Bilinear => vec![
                        attr_string("mode", "linear"),
                        attr_string("coordinate_transformation_mode", "half_pixel"),
                    ],
                };
                self.nodes.push(node("Resize", &y.clone(), &[&x, "", &scales], &[&y], attrs));
                y
            }
            Layer::Save { slot } => {
                self.saved.insert(slot.clone(), x.clone());
                x
            }
            Layer::AddSaved { slot } => {
                let skip = self.saved[slot].clone();
                let y = self.fresh(&format!("skip_{slot}"));
                self.nodes.push(node("Add", &y.clone(), &[&x, &skip], &[&y], vec![]));
                y
            }
            Layer::ConcatSaved { slot } => {
                let skip = self.saved[slot].clone();
                let y = self.fresh(&format!("concat_{slot}"));
                self.nodes.push(node("Concat", &y.clone(), &[&x, &skip], &[&y], vec![attr_int("axis", 1)]));
                y
            }
            Layer::AddConvSaved { slot, conv } => {
                let saved = self.saved[slot].clone();
                let c = self.layer(conv, saved);
                let y = self.fresh(&format!("skip_{slot}"));
                self.nodes.push(node("Add", &y.clone(), &[&x, &c], &[&y], vec![]));
                y
            }
            Layer::DepthToSpace(n) => {
                let y = self.fresh("depth_to_space");
                let attrs = vec![attr_int("blocksize", *n as i64), attr_string("mode", "CRD")];
                self.nodes.push(node("DepthToSpace", &y.clone(), &[&x], &[&y], attrs));
                y
            }
            Layer::Residual { body } => {
                let inner = self.layers(body, x.clone());
                let y = self.fresh("residual");
                self.nodes.push(node("Add", &y.clone(), &[&x, &inner], &[&y], vec![]));
                y
            }
        }
    }

    fn unary(&mut self, op: &str, x: String) -> String {
        let y = self.fresh(&op.to_lowercase());
        self.nodes.push(node(op, &y.clone(), &[&x], &[&y], vec![]));
        y
    }

    fn cond_norm(&mut self, name: &str, channels: usize, x: String) -> String {
        let eps = vec![attr_float("epsilon", NORM_EPSILON)];
        let y = format!("{name}.out");
        if self.styles == 1 {
            // One style: its scale and shift are the norm's own parameters, stored as `[C]`.
            let [g1, b1] = ["gamma", "beta"].map(|part| {
                let key = format!("{name}.{part}");
                let data = self.weights[&key].data.clone();
                self.constant(f32_tensor(&key, &[channels], &data))
            });
            self.nodes.push(node("InstanceNormalization", name, &[&x, &g1, &b1], &[&y], eps));
            return y;
        }
        let ones = self.constant(f32_tensor(&format!("ones.{channels}"), &[channels], &vec![1.0; channels]));
        let zeros =
            self.constant(f32_tensor(&format!("zeros.{channels}"), &[channels], &vec![0.0; channels]));
        let shape =
            self.constant(i64_tensor(&format!("shape.1x{channels}x1x1"), &[1, channels as i64, 1, 1]));
        let normed = format!("{name}.normed");
        self.nodes.push(node("InstanceNormalization", name, &[&x, &ones, &zeros], &[&normed], eps));
        let mut mixed = Vec::new();
        for part in ["gamma", "beta"] {
            let table = self.weight(&format!("{name}.{part}"));
            let row = format!("{name}.{part}.mixed");
            let col = format!("{name}.{part}.nchw");
            self.nodes.push(node(
                "MatMul",
                &format!("{name}.{part}.matmul"),
                &[contract::INPUT_STYLE, &table],
                &[&row],
                vec![],
            ));
            self.nodes.push(node(
                "Reshape",
                &format!("{name}.{part}.reshape"),
                &[&row, &shape],
                &[&col],
                vec![],
            ));
            mixed.push(col);
        }
        let scaled = format!("{name}.scaled");
        self.nodes.push(node("Mul", &format!("{name}.mul"), &[&normed, &mixed[0]], &[&scaled], vec![]));
        self.nodes.push(node("Add", &format!("{name}.add"), &[&scaled, &mixed[1]], &[&y], vec![]));
        y
    }

    /// Makes the last node write the contract's output name.
    fn rename_output(&mut self, current: &str, wanted: &str) {
        for n in self.nodes.iter_mut().rev() {
            if let Some(o) = n.output.iter_mut().find(|o| *o == current) {
                *o = wanted.to_string();
                return;
            }
        }
    }
}

/// Channels of the tensor a decoder concatenates before its last convolution: the photo.
const SKIP_INPUT_CHANNELS: usize = 3;

#[cfg(test)]
mod tests {
    use super::fused::PHASE_TAPS;
    use super::*;
    use crate::generator::GeneratorConfig;
    use atelier_edge::{Engine, EngineOptions, Size};

    fn meta() -> ModelMeta {
        ModelMeta {
            train_size: 256,
            quantization: Quantization::F32,
            trained_with: "test".into(),
            style_sources: None,
        }
    }

    fn model_bytes(styles: &[&str]) -> Vec<u8> {
        let g = Generator::new(GeneratorConfig::default(), styles.iter().map(|s| s.to_string()).collect())
            .unwrap();
        generator_to_proto(&g, &g.init_weights(1), &meta()).unwrap().encode_to_vec()
    }

    #[test]
    fn multi_style_model_meets_the_contract_and_runs() {
        let bytes = model_bytes(&["a", "b", "c"]);
        let mut engine = Engine::from_bytes(&bytes, "test", EngineOptions::default()).unwrap();
        assert_eq!(engine.styles(), ["a", "b", "c"]);
        assert_eq!(engine.info().macs_per_pixel, Some(6957));
        assert!(engine.info().has_style_input);
        let img = image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8 * 4, y as u8 * 5, 128]));
        engine.set_style("a").unwrap();
        let a = engine.stylize(&img).unwrap();
        engine.set_style("c").unwrap();
        let c = engine.stylize(&img).unwrap();
        assert_eq!(a.dimensions(), (64, 48));
        assert_ne!(a, c, "styles must differ");
        engine.prepare(Size::new(320, 240)).unwrap();
    }

    /// Runs both forms of `config` on the same photo-like input; returns the largest difference
    /// and the fused graph's operators.
    fn fused_against_reference(config: GeneratorConfig, styles: &[&str], size: Size) -> (f32, Vec<String>) {
        let g = Generator::new(config, styles.iter().map(|s| s.to_string()).collect()).unwrap();
        let weights = g.init_weights(5);
        let fused = generator_to_proto_as(&g, &weights, &meta(), Form::Fused).unwrap();
        let reference = generator_to_proto_as(&g, &weights, &meta(), Form::Reference).unwrap();
        let ops = fused.graph.as_ref().unwrap().node.iter().map(|n| n.op_type.clone()).collect();
        let img = image::RgbImage::from_fn(size.width, size.height, |x, y| {
            image::Rgb([(x * 7 + y * 3) as u8, (x * y) as u8, ((x ^ y) * 5) as u8])
        });
        let run = |proto: &pb::ModelProto| {
            let mut e = Engine::from_bytes(&proto.encode_to_vec(), "t", EngineOptions::default()).unwrap();
            e.set_style(styles[styles.len() - 1]).unwrap();
            e.run_tensor(atelier_edge::engine::image_to_tensor(&img)).unwrap()
        };
        let (a, b) = (run(&fused), run(&reference));
        let (a, b) = (a.try_as_plain_ram().unwrap(), b.try_as_plain_ram().unwrap());
        let (a, b) = (a.as_slice::<f32>().unwrap(), b.as_slice::<f32>().unwrap());
        (a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max), ops)
    }

    #[test]
    fn fused_up_sampling_computes_what_the_layers_do() {
        // Borders included: a difference there would show as a frame around the picture.
        let (diff, ops) = fused_against_reference(GeneratorConfig::default(), &["a", "b"], Size::new(40, 24));
        assert!(diff < 1e-4, "fused and reference differ by {diff}");
        assert!(!ops.iter().any(|o| o == "Resize" || o == "Concat"), "{ops:?}");
        assert_eq!(ops.iter().filter(|o| *o == "DepthToSpace").count(), 3, "{ops:?}");
        // Without skips, one style, two stages.
        let config = GeneratorConfig {
            encoder: vec![8, 16],
            decoder: vec![8],
            skips: false,
            residual_blocks: 1,
            ..GeneratorConfig::default()
        };
        let (diff, ops) = fused_against_reference(config, &["only"], Size::new(32, 16));
        assert!(diff < 1e-4, "fused and reference differ by {diff}");
        assert_eq!(ops.iter().filter(|o| *o == "DepthToSpace").count(), 2, "{ops:?}");
    }

    #[test]
    fn reflection_padded_decoders_stay_layer_by_layer() {
        // The v2 models: reflection after up-sampling has no exact fused form, so none is written.
        let config = GeneratorConfig { decoder_padding: None, ..GeneratorConfig::default() };
        let (diff, ops) = fused_against_reference(config, &["a"], Size::new(16, 16));
        assert_eq!(diff, 0.0);
        assert_eq!(ops.iter().filter(|o| *o == "Resize").count(), 3, "{ops:?}");
    }

    #[test]
    fn weights_read_back_from_either_form() {
        let g = Generator::new(GeneratorConfig::default(), vec!["a".into(), "b".into()]).unwrap();
        let weights = g.init_weights(9);
        for form in [Form::Fused, Form::Reference] {
            let proto = generator_to_proto_as(&g, &weights, &meta(), form).unwrap();
            let back = read_weights(&proto, &g).unwrap();
            for (name, p) in &weights {
                let worst =
                    p.data.iter().zip(&back[name].data).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
                assert!(worst < 1e-4, "{form:?} {name}: off by {worst}");
            }
        }
        let other = Generator::new(GeneratorConfig::default(), vec!["b".into(), "a".into()]).unwrap();
        let proto = generator_to_proto(&g, &weights, &meta()).unwrap();
        assert!(matches!(read_weights(&proto, &other), Err(ReadWeightsError::Styles { .. })));
    }

    #[test]
    fn a_quarter_head_model_runs_and_reads_back() {
        let config = GeneratorConfig {
            encoder: vec![16, 32],
            decoder: vec![16],
            head: crate::generator::Head::Quarter,
            ..GeneratorConfig::default()
        };
        let (diff, ops) = fused_against_reference(config.clone(), &["a", "b"], Size::new(48, 32));
        assert!(diff < 1e-4, "fused and reference differ by {diff}");
        assert!(!ops.iter().any(|o| o == "Resize" || o == "Concat"), "{ops:?}");
        let g = Generator::new(config, vec!["a".into(), "b".into()]).unwrap();
        let weights = g.init_weights(4);
        let proto = generator_to_proto(&g, &weights, &meta()).unwrap();
        let d2s: Vec<i64> = proto
            .graph
            .as_ref()
            .unwrap()
            .node
            .iter()
            .filter(|n| n.op_type == "DepthToSpace")
            .map(|n| n.attribute.iter().find(|a| a.name == "blocksize").unwrap().i)
            .collect();
        assert_eq!(d2s, [2, 4], "the decoder's ×2, then the picture's ×4");
        let back = read_weights(&proto, &g).unwrap();
        assert_eq!(back["out.photo.weight"], weights["out.photo.weight"]);
        let mut engine = Engine::from_bytes(&proto.encode_to_vec(), "q", EngineOptions::default()).unwrap();
        assert_eq!(engine.info().macs_per_pixel, Some(g.macs_per_pixel()));
        let img = image::RgbImage::from_fn(40, 24, |x, y| image::Rgb([x as u8 * 6, y as u8 * 9, 77]));
        assert_eq!(engine.stylize(&img).unwrap().dimensions(), (40, 24));
    }

    #[test]
    fn phase_taps_are_bilinear_weights() {
        for phase in PHASE_TAPS {
            for tap in phase {
                assert_eq!(tap.iter().sum::<f32>(), 1.0, "{tap:?}");
            }
        }
        // Output row 2i (a = 0), centre tap: up-sampled row 2i = ¼ row i-1 + ¾ row i.
        assert_eq!(PHASE_TAPS[0][1], [0.25, 0.75, 0.0]);
        assert_eq!(PHASE_TAPS[1][2], [0.0, 0.25, 0.75]);
    }

    #[test]
    fn single_style_model_has_no_style_input() {
        let bytes = model_bytes(&["only"]);
        let engine = Engine::from_bytes(&bytes, "test", EngineOptions::default()).unwrap();
        assert!(!engine.info().has_style_input);
        assert_eq!(engine.styles(), ["only"]);
    }
}
