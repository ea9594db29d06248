//! The model contract between the host (which writes generators) and the edge (which runs them).
//!
//! A model is an ONNX file, opset ≥ 13, with:
//! - input `image`: f32 `[1,3,H,W]`, RGB in [0,1];
//! - optional input `style`: f32 `[1,S]`, mixing weights over the model's S styles;
//! - output `stylized`: f32 `[1,3,H,W]` in [0,1];
//! - `metadata_props` naming the styles and describing the model (see [`keys`]).
//!
//! [`validate`] checks a decoded `ModelProto` against all of that before tract ever sees it, so a
//! bad file is rejected with a message that names what is wrong instead of a deep tract error.
//! `docs/model-contract.md` is the prose version of this module.

use std::collections::HashMap;
use std::path::Path;

pub mod bounds;

use tract_onnx::pb;
use tract_onnx::prelude::*;

/// Contract version written to `atelier.format` by this build.
pub const FORMAT_VERSION: u32 = 1;
/// Lowest ONNX opset the contract accepts (Resize with empty `roi`, `Unsqueeze` with inputs).
pub const MIN_OPSET: i64 = 13;
/// Name of the image input.
pub const INPUT_IMAGE: &str = "image";
/// Name of the optional style-mixing input.
pub const INPUT_STYLE: &str = "style";
/// Name of the output.
pub const OUTPUT: &str = "stylized";
/// H and W must be multiples of this (three stride-2 stages in the generator).
pub const SIZE_MULTIPLE: usize = 8;

/// Keys of the `metadata_props` entries.
pub mod keys {
    /// Contract version, an integer.
    pub const FORMAT: &str = "atelier.format";
    /// JSON array of style names, length S.
    pub const STYLES: &str = "atelier.styles";
    /// Crop size in pixels the model was trained at.
    pub const TRAIN_SIZE: &str = "atelier.train_size";
    /// `f32` or `int8-weights`.
    pub const QUANTIZATION: &str = "atelier.quantization";
    /// Multiply-accumulates per output pixel.
    pub const MACS_PER_PIXEL: &str = "atelier.macs_per_pixel";
    /// Free-text provenance: tool, command, data.
    pub const TRAINED_WITH: &str = "atelier.trained_with";
    /// JSON array, parallel to `atelier.styles`, of the style image file names (trained models).
    pub const STYLE_SOURCES: &str = "atelier.style_sources";
}

/// Why a file is not a usable model. Each variant names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    #[error("cannot read the model file: {0}")]
    Io(std::io::Error),
    #[error("the file is empty: expected an ONNX model")]
    Empty,
    #[error(
        "not an ONNX model (protobuf decoding failed: {0}); the file may be truncated or of another format"
    )]
    NotOnnx(String),
    #[error("the ONNX model has no graph; the file is truncated or not a model")]
    NoGraph,
    #[error("the file is out of bounds for a model ({0}); a style generator is far smaller")]
    OutOfBounds(String),
    #[error("opset {found} is too old: the contract needs ai.onnx opset >= {MIN_OPSET}")]
    OldOpset { found: i64 },
    #[error("missing input `{0}`: the contract needs an f32 [1,3,H,W] input named `{INPUT_IMAGE}`")]
    MissingInput(&'static str),
    #[error("missing output `{OUTPUT}`: the model's outputs are {0:?}")]
    MissingOutput(Vec<String>),
    #[error("unexpected input `{0}`: only `{INPUT_IMAGE}` and `{INPUT_STYLE}` are allowed")]
    ExtraInput(String),
    #[error("`{name}` must be {expected}, found {found}")]
    BadTensor { name: String, expected: String, found: String },
    #[error("metadata `{key}` is {problem}")]
    BadMetadata { key: &'static str, problem: String },
    #[error("metadata `{}` lists {names} styles but the `{INPUT_STYLE}` input has {inputs}", keys::STYLES)]
    StyleCountMismatch { names: usize, inputs: usize },
    #[error("tract cannot run the model: {0:#}")]
    Unsupported(String),
}

/// How the model's weights are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Quantization {
    F32,
    Int8Weights,
}

impl Quantization {
    pub const ALL: [Quantization; 2] = [Quantization::F32, Quantization::Int8Weights];

    pub fn as_str(self) -> &'static str {
        match self {
            Quantization::F32 => "f32",
            Quantization::Int8Weights => "int8-weights",
        }
    }
}

impl std::fmt::Display for Quantization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Quantization {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Quantization::ALL.into_iter().find(|q| q.as_str() == s).ok_or_else(|| {
            let all: Vec<_> = Quantization::ALL.iter().map(|q| q.as_str()).collect();
            format!("unknown quantization `{s}`; expected one of {}", all.join(", "))
        })
    }
}

/// What the contract's metadata says about a model.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ModelInfo {
    pub format: u32,
    /// Style names; one entry for a single-style model.
    pub styles: Vec<String>,
    /// True when the model has the `style` input (S ≥ 1 mixing weights).
    pub has_style_input: bool,
    pub train_size: Option<u32>,
    pub quantization: Quantization,
    pub macs_per_pixel: Option<u64>,
    pub trained_with: Option<String>,
    pub style_sources: Option<Vec<String>>,
}

/// Decodes ONNX bytes, telling an empty or non-ONNX file apart from other failures. What the
/// decoding would allocate is bounded first ([`bounds`]).
pub fn decode(bytes: &[u8]) -> Result<pb::ModelProto, ContractError> {
    use prost::Message;
    if bytes.is_empty() {
        return Err(ContractError::Empty);
    }
    bounds::check(bytes)?;
    let proto = pb::ModelProto::decode(bytes).map_err(|e| ContractError::NotOnnx(e.to_string()))?;
    if proto.graph.is_none() {
        return Err(ContractError::NoGraph);
    }
    Ok(proto)
}

/// Reads and decodes a model file.
pub fn read(path: &Path) -> Result<pb::ModelProto, ContractError> {
    decode(&std::fs::read(path).map_err(ContractError::Io)?)
}

/// Checks a decoded model against the contract and returns its metadata.
pub fn validate(proto: &pb::ModelProto) -> Result<ModelInfo, ContractError> {
    let graph = proto.graph.as_ref().ok_or(ContractError::NoGraph)?;
    let opset = proto
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
        .unwrap_or(0);
    if opset < MIN_OPSET {
        return Err(ContractError::OldOpset { found: opset });
    }
    let initializers: std::collections::HashSet<&str> =
        graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let inputs: Vec<&pb::ValueInfoProto> =
        graph.input.iter().filter(|i| !initializers.contains(i.name.as_str())).collect();
    for input in &inputs {
        if input.name != INPUT_IMAGE && input.name != INPUT_STYLE {
            return Err(ContractError::ExtraInput(input.name.clone()));
        }
    }
    let image =
        inputs.iter().find(|i| i.name == INPUT_IMAGE).ok_or(ContractError::MissingInput(INPUT_IMAGE))?;
    check_image_tensor(image, "[1,3,H,W]")?;
    let output =
        graph.output.iter().find(|o| o.name == OUTPUT).ok_or_else(|| {
            ContractError::MissingOutput(graph.output.iter().map(|o| o.name.clone()).collect())
        })?;
    check_image_tensor(output, "[1,3,H,W]")?;

    let meta: HashMap<&str, &str> =
        proto.metadata_props.iter().map(|p| (p.key.as_str(), p.value.as_str())).collect();
    let format =
        required(&meta, keys::FORMAT)?.parse::<u32>().map_err(|_| bad(keys::FORMAT, "not an integer"))?;
    if format == 0 || format > FORMAT_VERSION {
        return Err(bad(
            keys::FORMAT,
            &format!("{format}, but this build understands format {FORMAT_VERSION}; upgrade atelier"),
        ));
    }
    let styles = parse_string_list(keys::STYLES, required(&meta, keys::STYLES)?)?;
    if styles.is_empty() {
        return Err(bad(keys::STYLES, "an empty list; a model has at least one style"));
    }
    let style_input = inputs.iter().find(|i| i.name == INPUT_STYLE);
    if let Some(style) = style_input {
        let dims = check_f32(style, 2, "f32 [1,S]")?;
        if dims[0] != Some(1) {
            return Err(bad_tensor(style, "f32 [1,S]"));
        }
        match dims[1] {
            Some(s) if s as usize == styles.len() => {}
            Some(s) => {
                return Err(ContractError::StyleCountMismatch { names: styles.len(), inputs: s as usize });
            }
            None => return Err(bad_tensor(style, "f32 [1,S] with a fixed S")),
        }
    } else if styles.len() != 1 {
        return Err(ContractError::StyleCountMismatch { names: styles.len(), inputs: 1 });
    }
    let quantization = match meta.get(keys::QUANTIZATION) {
        None => Quantization::F32,
        Some(q) => q.parse().map_err(|e: String| bad(keys::QUANTIZATION, &e))?,
    };
    let train_size = optional_number(&meta, keys::TRAIN_SIZE)?;
    let macs_per_pixel = optional_number(&meta, keys::MACS_PER_PIXEL)?;
    let style_sources = match meta.get(keys::STYLE_SOURCES) {
        None => None,
        Some(v) => {
            let list = parse_string_list(keys::STYLE_SOURCES, v)?;
            if list.len() != styles.len() {
                return Err(bad(
                    keys::STYLE_SOURCES,
                    &format!("{} entries long, but there are {} styles", list.len(), styles.len()),
                ));
            }
            Some(list)
        }
    };
    Ok(ModelInfo {
        format,
        styles,
        has_style_input: style_input.is_some(),
        train_size,
        quantization,
        macs_per_pixel,
        trained_with: meta.get(keys::TRAINED_WITH).map(|s| s.to_string()),
        style_sources,
    })
}

/// Parses a validated proto with tract, turning op errors into [`ContractError::Unsupported`].
pub fn to_tract(proto: &pb::ModelProto) -> Result<InferenceModel, ContractError> {
    tract_onnx::onnx().model_for_proto_model(proto).map_err(|e| ContractError::Unsupported(format!("{e:#}")))
}

fn check_image_tensor(v: &pb::ValueInfoProto, shape: &str) -> Result<(), ContractError> {
    let expected = format!("f32 {shape}");
    let dims = check_f32(v, 4, &expected)?;
    if dims[0].is_some_and(|d| d != 1) || dims[1].is_some_and(|d| d != 3) {
        return Err(bad_tensor(v, &expected));
    }
    Ok(())
}

/// Checks dtype and rank; returns the dims (None where symbolic).
fn check_f32(v: &pb::ValueInfoProto, rank: usize, expected: &str) -> Result<Vec<Option<i64>>, ContractError> {
    let Some(pb::type_proto::Value::TensorType(tt)) = v.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
        return Err(bad_tensor(v, expected));
    };
    if tt.elem_type != pb::tensor_proto::DataType::Float as i32 {
        return Err(bad_tensor(v, expected));
    }
    let dims: Vec<Option<i64>> = tt
        .shape
        .as_ref()
        .map(|s| {
            s.dim
                .iter()
                .map(|d| match d.value {
                    Some(pb::tensor_shape_proto::dimension::Value::DimValue(x)) => Some(x),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    if dims.len() != rank {
        return Err(bad_tensor(v, expected));
    }
    Ok(dims)
}

fn bad_tensor(v: &pb::ValueInfoProto, expected: &str) -> ContractError {
    ContractError::BadTensor { name: v.name.clone(), expected: expected.to_string(), found: describe(v) }
}

/// Renders a value's type as `f32 [1,3,H,W]` for error messages.
fn describe(v: &pb::ValueInfoProto) -> String {
    match v.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(pb::type_proto::Value::TensorType(tt)) => {
            let dtype = pb::tensor_proto::DataType::try_from(tt.elem_type)
                .map(|d| format!("{d:?}").to_lowercase())
                .unwrap_or_else(|_| format!("type {}", tt.elem_type));
            let dtype = if dtype == "float" { "f32".to_string() } else { dtype };
            let dims: Vec<String> = tt
                .shape
                .as_ref()
                .map(|s| {
                    s.dim
                        .iter()
                        .map(|d| match &d.value {
                            Some(pb::tensor_shape_proto::dimension::Value::DimValue(x)) => x.to_string(),
                            Some(pb::tensor_shape_proto::dimension::Value::DimParam(p)) => p.clone(),
                            None => "?".into(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            format!("{dtype} [{}] (rank {})", dims.join(","), dims.len())
        }
        _ => "not a tensor".into(),
    }
}

fn required<'a>(meta: &HashMap<&str, &'a str>, key: &'static str) -> Result<&'a str, ContractError> {
    meta.get(key).copied().ok_or_else(|| bad(key, "missing; was the model written by `atelier export`?"))
}

fn optional_number<T: std::str::FromStr>(
    meta: &HashMap<&str, &str>,
    key: &'static str,
) -> Result<Option<T>, ContractError> {
    meta.get(key).map(|v| v.parse::<T>().map_err(|_| bad(key, &format!("`{v}`, not a number")))).transpose()
}

fn parse_string_list(key: &'static str, value: &str) -> Result<Vec<String>, ContractError> {
    serde_json::from_str::<Vec<String>>(value)
        .map_err(|e| bad(key, &format!("not a JSON array of strings ({e})")))
}

fn bad(key: &'static str, problem: &str) -> ContractError {
    ContractError::BadMetadata { key, problem: problem.to_string() }
}

/// Checks that a size is accepted by the contract (positive multiples of [`SIZE_MULTIPLE`]).
pub fn check_size(width: usize, height: usize) -> Result<(), String> {
    if width == 0
        || height == 0
        || !width.is_multiple_of(SIZE_MULTIPLE)
        || !height.is_multiple_of(SIZE_MULTIPLE)
    {
        return Err(format!(
            "{width}x{height} is not a valid model size: width and height must be positive multiples of {SIZE_MULTIPLE}"
        ));
    }
    Ok(())
}
