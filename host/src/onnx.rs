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

use crate::generator::{Generator, Layer, Padding, Upsampling, Weights};

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

/// Builds the ModelProto for a generator with the given weights.
///
/// A model with one style has no `style` input: its norm scales and shifts are folded into the
/// InstanceNormalization nodes. With several styles, each norm mixes its `[S, C]` tables by the
/// `style` input (`MatMul` → `Reshape` → `Mul`/`Add`).
pub fn generator_to_proto(
    g: &Generator,
    weights: &Weights,
    meta: &ModelMeta,
) -> Result<pb::ModelProto, crate::generator::GeneratorError> {
    g.check_weights(weights)?;
    let mut b = GraphBuilder::new(weights, g.styles.len());
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
    nodes: Vec<pb::NodeProto>,
    initializers: BTreeMap<String, pb::TensorProto>,
    counter: usize,
    /// Tensors kept by [`Layer::Save`], by slot.
    saved: BTreeMap<String, String>,
}

impl<'a> GraphBuilder<'a> {
    fn new(weights: &'a Weights, styles: usize) -> GraphBuilder<'a> {
        GraphBuilder {
            weights,
            styles,
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
        for layer in layers {
            x = self.layer(layer, x);
        }
        x
    }

    fn layer(&mut self, layer: &Layer, x: String) -> String {
        match layer {
            Layer::Conv { name, kernel, stride, groups, padding, .. } => {
                let w = self.weight(&format!("{name}.weight"));
                let b = self.weight(&format!("{name}.bias"));
                let y = format!("{name}.out");
                let k = *kernel as i64;
                let p = k / 2;
                let mut attrs =
                    vec![attr_ints("kernel_shape", &[k, k]), attr_ints("strides", &[*stride as i64; 2])];
                let mut x = x;
                match padding {
                    _ if p == 0 => {}
                    Padding::Zero => attrs.push(attr_ints("pads", &[p; 4])),
                    Padding::Reflect => {
                        let pads =
                            self.constant(i64_tensor(&format!("pads.reflect{p}"), &[0, 0, p, p, 0, 0, p, p]));
                        let padded = format!("{name}.padded");
                        self.nodes.push(node(
                            "Pad",
                            &format!("{name}.pad"),
                            &[&x, &pads],
                            &[&padded],
                            vec![attr_string("mode", "reflect")],
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

#[cfg(test)]
mod tests {
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

    #[test]
    fn single_style_model_has_no_style_input() {
        let bytes = model_bytes(&["only"]);
        let engine = Engine::from_bytes(&bytes, "test", EngineOptions::default()).unwrap();
        assert!(!engine.info().has_style_input);
        assert_eq!(engine.styles(), ["only"]);
    }
}
