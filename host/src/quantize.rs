//! `atelier quantize`: smaller model files for the mirror, checked against the f32 original.
//!
//! Works on the decoded ONNX `ModelProto` and rewrites it with standard ONNX ops only, so the
//! result still honours the model contract and runs in tract and onnxruntime alike:
//!
//! - `int8-weights`: each Conv weight becomes an int8 initializer with per-output-channel
//!   symmetric scales, followed by `DequantizeLinear` (axis −4, i.e. 0 for a 4-D weight: prost
//!   drops zero-valued ints, and the op's default axis is 1). The node's output keeps the original
//!   weight's name, so the Convs are untouched. Files shrink about 4×; tract folds the
//!   dequantization at load, so speed is unchanged.
//! - `int8`: the above plus QDQ activations: a `QuantizeLinear → DequantizeLinear` pair (uint8,
//!   asymmetric, per-tensor, power-of-two scales: see [`activation_params`]) on each Conv input,
//!   with ranges calibrated by running the f32 model on calibration images with every style.
//!   This simulates an int8 runtime's rounding; tract runs the pairs as f32 ops, so it is slower
//!   in tract, not faster.
//! - `f16`: the learnt f32 initializers feeding Conv and MatMul (weights, biases, style tables)
//!   are stored as f16 and followed by `Cast` to f32, so the graph still computes in f32 and
//!   needs no f16 kernels (which tract and onnxruntime's CPU provider lack for several ops, such
//!   as InstanceNormalization). The simpler of the two designs, and the one that changes only
//!   storage. Resize scales and the folded norm parameters of single-style models stay f32.
//!
//! Each run reports the file size, the speed in tract, and the PSNR of the quantized model's
//! output against the f32 model's.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use atelier_edge::contract::{self, ContractError, Quantization, keys};
use atelier_edge::engine::{EngineError, ModelError};
use atelier_edge::imageops::{Fit, Scaler};
use atelier_edge::{Engine, EngineOptions, Size};
use prost::Message;
use tract_onnx::pb;
use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::prelude::*;

use crate::eval::{ms_per_frame, run_planes};
use crate::images::{ImageError, list_images, load_rgb};
use crate::onnx::{self, attr_int, f32_tensor, node};
use crate::planes::{Planes, psnr};

/// Size at which calibration, comparison and timing run: the mirror's usual model size.
pub const QUANT_SIZE: Size = Size::new(320, 240);
/// PSNR against the f32 model below which the output is visibly different.
pub const TARGET_PSNR_DB: f64 = 35.0;
/// Timing runs (the median is reported).
pub const TIMING_RUNS: usize = 7;

/// A quantization mode (every [`Quantization`] but `f32`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Int8Weights,
    Int8,
    F16,
}

impl Mode {
    pub fn quantization(self) -> Quantization {
        match self {
            Mode::Int8Weights => Quantization::Int8Weights,
            Mode::Int8 => Quantization::Int8,
            Mode::F16 => Quantization::F16,
        }
    }
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Mode, String> {
        match s.parse::<Quantization>()? {
            Quantization::Int8Weights => Ok(Mode::Int8Weights),
            Quantization::Int8 => Ok(Mode::Int8),
            Quantization::F16 => Ok(Mode::F16),
            Quantization::F32 => {
                Err("`f32` is the unquantized model; choose int8-weights, int8 or f16".into())
            }
        }
    }
}

/// Why a model could not be quantized or checked.
#[derive(Debug, thiserror::Error)]
pub enum QuantizeError {
    #[error(transparent)]
    Contract(#[from] ContractError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error("the model is already quantized ({0}); quantize its f32 original")]
    AlreadyQuantized(Quantization),
    #[error("--mode int8 needs calibration images (--calib DIR)")]
    NeedsCalibration,
    #[error("images for {purpose}: {message}")]
    Images { purpose: &'static str, message: String },
    #[error("calibration: {0}")]
    Calibration(String),
    #[error("initializer `{name}`: {problem}")]
    Initializer { name: String, problem: String },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Returns a quantized copy of `proto`. `calibration` images (f32, all of one size) are needed by
/// [`Mode::Int8`] only.
pub fn quantize(
    proto: &pb::ModelProto,
    mode: Mode,
    calibration: &[Planes],
) -> Result<pb::ModelProto, QuantizeError> {
    let info = contract::validate(proto)?;
    if info.quantization != Quantization::F32 {
        return Err(QuantizeError::AlreadyQuantized(info.quantization));
    }
    let ranges = match mode {
        Mode::Int8 if calibration.is_empty() => return Err(QuantizeError::NeedsCalibration),
        Mode::Int8 => Some(calibrate(proto, calibration)?),
        _ => None,
    };
    let mut out = proto.clone();
    let graph = out.graph.as_mut().ok_or(ContractError::NoGraph)?;
    match mode {
        Mode::F16 => weights_to_f16(graph)?,
        Mode::Int8Weights => conv_weights_to_int8(graph)?,
        Mode::Int8 => {
            conv_weights_to_int8(graph)?;
            quantize_conv_inputs(graph, ranges.as_ref().expect("calibrated above"));
        }
    }
    set_metadata(&mut out, keys::QUANTIZATION, mode.quantization().as_str());
    Ok(out)
}

fn set_metadata(proto: &mut pb::ModelProto, key: &str, value: &str) {
    match proto.metadata_props.iter_mut().find(|p| p.key == key) {
        Some(p) => p.value = value.to_string(),
        None => {
            proto.metadata_props.push(pb::StringStringEntryProto { key: key.into(), value: value.into() })
        }
    }
}

/// The values of an f32 initializer (raw little-endian data or `float_data`).
fn f32_values(t: &pb::TensorProto) -> Result<Vec<f32>, QuantizeError> {
    if t.data_type != DataType::Float as i32 {
        return Err(QuantizeError::Initializer { name: t.name.clone(), problem: "not f32".into() });
    }
    if t.raw_data.is_empty() {
        return Ok(t.float_data.clone());
    }
    Ok(t.raw_data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
}

fn raw_tensor(name: &str, dims: &[usize], data_type: DataType, raw_data: Vec<u8>) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: data_type as i32,
        raw_data,
        ..Default::default()
    }
}

/// Per-output-channel symmetric int8 quantization of a `[C_out, ...]` weight: the scales
/// (`max |w| / 127` per channel, 1 for an all-zero channel) and the int8 values.
pub fn quantize_per_channel(data: &[f32], channels: usize) -> (Vec<f32>, Vec<i8>) {
    let per = data.len() / channels;
    let mut scales = Vec::with_capacity(channels);
    let mut q = Vec::with_capacity(data.len());
    for chunk in data.chunks_exact(per) {
        let max = chunk.iter().fold(0f32, |m, v| m.max(v.abs()));
        let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
        scales.push(scale);
        q.extend(chunk.iter().map(|v| (v / scale).round().clamp(-127.0, 127.0) as i8));
    }
    (scales, q)
}

/// Replaces every 4-D f32 Conv weight initializer by int8 + `DequantizeLinear`.
fn conv_weights_to_int8(graph: &mut pb::GraphProto) -> Result<(), QuantizeError> {
    let weights: HashSet<String> =
        graph.node.iter().filter(|n| n.op_type == "Conv").filter_map(|n| n.input.get(1).cloned()).collect();
    let mut dequantize = Vec::new();
    let mut extra = Vec::new();
    for init in graph.initializer.iter_mut() {
        if !weights.contains(&init.name) || init.data_type != DataType::Float as i32 || init.dims.len() != 4 {
            continue;
        }
        let name = init.name.clone();
        let channels = init.dims[0] as usize;
        let (scales, q) = quantize_per_channel(&f32_values(init)?, channels);
        let (qname, sname, zname) =
            (format!("{name}.int8"), format!("{name}.scale"), format!("{name}.zero_point"));
        let dims: Vec<usize> = init.dims.iter().map(|&d| d as usize).collect();
        *init = raw_tensor(&qname, &dims, DataType::Int8, q.iter().map(|&v| v as u8).collect());
        extra.push(f32_tensor(&sname, &[channels], &scales));
        extra.push(raw_tensor(&zname, &[channels], DataType::Int8, vec![0; channels]));
        dequantize.push(node(
            "DequantizeLinear",
            &format!("{name}.dequantize"),
            &[&qname, &sname, &zname],
            &[&name],
            vec![attr_int("axis", -4)],
        ));
    }
    graph.initializer.extend(extra);
    dequantize.append(&mut graph.node);
    graph.node = dequantize;
    Ok(())
}

/// Stores the f32 initializers read by Conv and MatMul nodes as f16, each followed by a `Cast`.
fn weights_to_f16(graph: &mut pb::GraphProto) -> Result<(), QuantizeError> {
    let used: HashSet<String> = graph
        .node
        .iter()
        .filter(|n| n.op_type == "Conv" || n.op_type == "MatMul")
        .flat_map(|n| n.input.iter().cloned())
        .collect();
    let mut casts = Vec::new();
    for init in graph.initializer.iter_mut() {
        if !used.contains(&init.name) || init.data_type != DataType::Float as i32 {
            continue;
        }
        let name = init.name.clone();
        let half_name = format!("{name}.f16");
        let raw = f32_values(init)?.iter().flat_map(|&v| half::f16::from_f32(v).to_le_bytes()).collect();
        let dims: Vec<usize> = init.dims.iter().map(|&d| d as usize).collect();
        *init = raw_tensor(&half_name, &dims, DataType::Float16, raw);
        casts.push(node(
            "Cast",
            &format!("{name}.cast"),
            &[&half_name],
            &[&name],
            vec![attr_int("to", DataType::Float as i64)],
        ));
    }
    casts.append(&mut graph.node);
    graph.node = casts;
    Ok(())
}

/// uint8 asymmetric parameters (scale, zero point) covering `[min, max]` and 0.
///
/// The scale is rounded up to a power of two. tract quantizes by multiplying with `1/scale`,
/// onnxruntime by dividing; for other scales the two round some values differently and the
/// difference grows through the network (measured on the default model at 96×128: max
/// |onnxruntime − tract| 3.3e-2 with exact scales, 1.2e-7 with powers of two). It costs at
/// most one bit of activation resolution.
pub fn activation_params(min: f32, max: f32) -> (f32, u8) {
    let (lo, hi) = (min.min(0.0), max.max(0.0));
    if hi - lo <= f32::EPSILON {
        return (1.0, 0);
    }
    let scale = ((hi - lo) / 255.0).log2().ceil().exp2();
    (scale, (-lo / scale).round().clamp(0.0, 255.0) as u8)
}

/// Inserts a QuantizeLinear → DequantizeLinear pair in front of each Conv's data input.
fn quantize_conv_inputs(graph: &mut pb::GraphProto, ranges: &HashMap<String, (f32, f32)>) {
    let mut done: HashMap<String, String> = HashMap::new();
    let mut nodes = Vec::with_capacity(graph.node.len());
    for mut n in std::mem::take(&mut graph.node) {
        if n.op_type == "Conv"
            && let Some((min, max)) = ranges.get(&n.input[0]).copied()
        {
            let x = n.input[0].clone();
            let dq = done.entry(x.clone()).or_insert_with(|| {
                let (scale, zero_point) = activation_params(min, max);
                let (s, z, q, dq) = (
                    format!("{x}.act_scale"),
                    format!("{x}.act_zero_point"),
                    format!("{x}.q"),
                    format!("{x}.dq"),
                );
                graph.initializer.push(f32_tensor(&s, &[], &[scale]));
                graph.initializer.push(raw_tensor(&z, &[], DataType::Uint8, vec![zero_point]));
                nodes.push(node("QuantizeLinear", &format!("{x}.quantize"), &[&x, &s, &z], &[&q], vec![]));
                nodes.push(node(
                    "DequantizeLinear",
                    &format!("{x}.dequantize"),
                    &[&q, &s, &z],
                    &[&dq],
                    vec![],
                ));
                dq
            });
            n.input[0] = dq.clone();
        }
        nodes.push(n);
    }
    graph.node = nodes;
}

/// Min and max of every Conv data input over the images (all of one size), each run with every
/// style: the f32 model is run in tract with those tensors selected as extra outputs.
pub fn calibrate(
    proto: &pb::ModelProto,
    images: &[Planes],
) -> Result<HashMap<String, (f32, f32)>, QuantizeError> {
    let err = |e: TractError| QuantizeError::Calibration(format!("{e:#}"));
    let info = contract::validate(proto)?;
    let graph = proto.graph.as_ref().ok_or(ContractError::NoGraph)?;
    let mut names: Vec<String> = Vec::new();
    for n in graph.node.iter().filter(|n| n.op_type == "Conv") {
        if !names.contains(&n.input[0]) {
            names.push(n.input[0].clone());
        }
    }
    let first = images.first().ok_or(QuantizeError::NeedsCalibration)?;
    let (w, h) = (first.width, first.height);
    if images.iter().any(|p| (p.width, p.height) != (w, h)) {
        return Err(QuantizeError::Calibration("calibration images must share one size".into()));
    }
    let mut model = contract::to_tract(proto)?;
    let outlets = names
        .iter()
        .map(|name| {
            model
                .find_outlet_label(name)
                .or_else(|| model.node_by_name(name).ok().map(|n| OutletId::new(n.id, 0)))
                .ok_or_else(|| QuantizeError::Calibration(format!("no tensor named `{name}` in the graph")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let inputs = model.input_outlets().map_err(err)?.to_vec();
    let position = |wanted: &str| inputs.iter().position(|o| model.node(o.node).name == wanted);
    let image_input =
        position(contract::INPUT_IMAGE).ok_or(ContractError::MissingInput(contract::INPUT_IMAGE))?;
    let style_input = position(contract::INPUT_STYLE);
    let styles = info.styles.len();
    model.set_input_fact(image_input, f32::fact([1, 3, h, w]).into()).map_err(err)?;
    if let Some(i) = style_input {
        model.set_input_fact(i, f32::fact([1, styles]).into()).map_err(err)?;
    }
    model.select_output_outlets(&outlets).map_err(err)?;
    let plan = model.into_optimized().and_then(|m| m.into_runnable()).map_err(err)?;

    let mut ranges: HashMap<String, (f32, f32)> =
        names.iter().map(|n| (n.clone(), (f32::INFINITY, f32::NEG_INFINITY))).collect();
    for image in images {
        for s in 0..if style_input.is_some() { styles } else { 1 } {
            let mut values: TVec<TValue> = tvec![image.to_tensor().into_tvalue(); inputs.len()];
            if let Some(i) = style_input {
                let mut one_hot = vec![0f32; styles];
                one_hot[s] = 1.0;
                values[i] = tensor1(&one_hot).into_shape(&[1, styles]).map_err(err)?.into_tvalue();
            }
            let outputs = plan.run(values).map_err(err)?;
            for (name, t) in names.iter().zip(outputs.iter()) {
                let data = t
                    .try_as_plain_ram()
                    .and_then(|d| d.as_slice::<f32>().map(|s| s.to_vec()))
                    .map_err(err)?;
                let r = ranges.get_mut(name).expect("every name has a range");
                for v in data {
                    r.0 = r.0.min(v);
                    r.1 = r.1.max(v);
                }
            }
        }
    }
    Ok(ranges)
}

/// How a quantized model compares with its f32 original, as printed and written by `--report`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct QuantReport {
    pub model: PathBuf,
    pub out: PathBuf,
    pub mode: String,
    pub f32_file_bytes: u64,
    pub file_bytes: u64,
    /// Median ms per frame in tract at [`QUANT_SIZE`] (one thread), f32 original and quantized.
    pub f32_ms_per_frame: f64,
    pub ms_per_frame: f64,
    pub size: String,
    /// PSNR of the quantized output against the f32 output, pooled over every image and style.
    pub psnr_db: f64,
    /// The worst single image and style.
    pub min_psnr_db: f64,
    pub target_psnr_db: f64,
    pub compared_images: usize,
    pub calibration_images: usize,
}

impl QuantReport {
    pub fn meets_target(&self) -> bool {
        self.min_psnr_db >= self.target_psnr_db
    }
}

/// PSNR of `quantized` against `reference` over every image and every style one-hot: the pooled
/// figure and the worst single case.
pub fn compare(
    reference: &mut Engine,
    quantized: &mut Engine,
    images: &[Planes],
) -> Result<(f64, f64), EngineError> {
    let styles = reference.styles().len();
    let (mut pooled_se, mut count, mut worst) = (0.0f64, 0usize, f64::INFINITY);
    for image in images {
        for s in 0..styles {
            let mut one_hot = vec![0f32; styles];
            one_hot[s] = 1.0;
            reference.set_style_weights(&one_hot)?;
            quantized.set_style_weights(&one_hot)?;
            let (a, b) = (run_planes(reference, image)?, run_planes(quantized, image)?);
            worst = worst.min(psnr(&a.data, &b.data, 1.0));
            pooled_se += a.data.iter().zip(&b.data).map(|(x, y)| ((x - y) as f64).powi(2)).sum::<f64>();
            count += a.data.len();
        }
    }
    let pooled = 10.0 * (count as f64 / pooled_se).log10();
    Ok((pooled, worst))
}

/// Loads every image in `dir`, cover-cropped to `size`.
pub fn load_folder(dir: &Path, size: Size, purpose: &'static str) -> Result<Vec<Planes>, QuantizeError> {
    let paths = list_images(dir).map_err(|message| QuantizeError::Images { purpose, message })?;
    let mut scaler = Scaler::new();
    paths.iter().map(|p| Ok(Planes::from_image(&scaler.resize(&load_rgb(p)?, size, Fit::Cover)))).collect()
}

/// Quantizes `model` into `out` and measures it. Calibration uses the images in `calib_dir`;
/// the comparison uses `calib_dir` too when given, else `compare_dir`.
pub fn quantize_file(
    model: &Path,
    mode: Mode,
    calib_dir: Option<&Path>,
    compare_dir: &Path,
    out: &Path,
) -> Result<QuantReport, QuantizeError> {
    let proto = contract::read(model).map_err(|kind| ModelError { path: model.to_path_buf(), kind })?;
    let calibration = match (mode, calib_dir) {
        (Mode::Int8, None) => return Err(QuantizeError::NeedsCalibration),
        (Mode::Int8, Some(dir)) => load_folder(dir, QUANT_SIZE, "calibration")?,
        _ => Vec::new(),
    };
    let quantized = quantize(&proto, mode, &calibration)?;
    onnx::save(&quantized, out).map_err(|source| QuantizeError::Io { path: out.to_path_buf(), source })?;

    let compare_images = match (calib_dir, calibration.is_empty()) {
        (Some(_), false) => calibration.clone(),
        (Some(dir), true) => load_folder(dir, QUANT_SIZE, "comparison")?,
        (None, _) => load_folder(compare_dir, QUANT_SIZE, "comparison")?,
    };
    let mut reference =
        Engine::from_bytes(&proto.encode_to_vec(), &model.display().to_string(), EngineOptions::default())?;
    let mut engine = Engine::load(out, EngineOptions::default())?;
    let (psnr_db, min_psnr_db) = compare(&mut reference, &mut engine, &compare_images)?;
    let size_of = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.len())
            .map_err(|source| QuantizeError::Io { path: p.to_path_buf(), source })
    };
    Ok(QuantReport {
        model: model.to_path_buf(),
        out: out.to_path_buf(),
        mode: mode.quantization().to_string(),
        f32_file_bytes: size_of(model)?,
        file_bytes: size_of(out)?,
        f32_ms_per_frame: ms_per_frame(&mut reference, QUANT_SIZE, TIMING_RUNS)?,
        ms_per_frame: ms_per_frame(&mut engine, QUANT_SIZE, TIMING_RUNS)?,
        size: QUANT_SIZE.to_string(),
        psnr_db,
        min_psnr_db,
        target_psnr_db: TARGET_PSNR_DB,
        compared_images: compare_images.len(),
        calibration_images: calibration.len(),
    })
}

/// Metadata of a model as a map, for tests and reports.
pub fn metadata(proto: &pb::ModelProto) -> BTreeMap<String, String> {
    proto.metadata_props.iter().map(|p| (p.key.clone(), p.value.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generator::{Generator, GeneratorConfig};
    use crate::onnx::{ModelMeta, generator_to_proto};

    fn fresh_model(styles: &[&str]) -> pb::ModelProto {
        let g = Generator::new(GeneratorConfig::default(), styles.iter().map(|s| s.to_string()).collect())
            .unwrap();
        let meta = ModelMeta {
            train_size: 256,
            quantization: Quantization::F32,
            trained_with: "test".into(),
            style_sources: None,
        };
        generator_to_proto(&g, &g.init_weights(11), &meta).unwrap()
    }

    /// Smooth photo-like test images (gradients and a soft blob).
    fn photos(n: usize) -> Vec<Planes> {
        (0..n)
            .map(|k| {
                let (w, h) = (64, 48);
                let mut data = vec![0f32; 3 * w * h];
                for c in 0..3 {
                    for y in 0..h {
                        for x in 0..w {
                            let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
                            let blob = (-((fx - 0.5).powi(2) + (fy - 0.4).powi(2)) * 12.0).exp();
                            data[c * w * h + y * w + x] = (0.2
                                + 0.3 * fx * (c as f32 + 1.0) / 3.0
                                + 0.4 * blob
                                + 0.1 * (fy * (k + 2) as f32).sin())
                            .clamp(0.0, 1.0);
                        }
                    }
                }
                Planes { width: w, height: h, data }
            })
            .collect()
    }

    fn engine(proto: &pb::ModelProto) -> Engine {
        Engine::from_bytes(&proto.encode_to_vec(), "test", EngineOptions::default()).unwrap()
    }

    #[test]
    fn int8_weights_keep_the_output_and_shrink_the_file() {
        let f32_model = fresh_model(&["a", "b"]);
        let q = quantize(&f32_model, Mode::Int8Weights, &[]).unwrap();
        let (f32_bytes, q_bytes) = (f32_model.encode_to_vec().len(), q.encode_to_vec().len());
        assert!((q_bytes as f64) < 0.4 * f32_bytes as f64, "{q_bytes} vs {f32_bytes} bytes");
        let mut q_engine = engine(&q);
        assert_eq!(q_engine.info().quantization, Quantization::Int8Weights);
        let (pooled, worst) = compare(&mut engine(&f32_model), &mut q_engine, &photos(2)).unwrap();
        assert!(worst >= TARGET_PSNR_DB, "PSNR {worst:.1} dB (pooled {pooled:.1})");
        assert!(worst.is_finite(), "the weights must actually have changed");
        // Refuses to quantize twice.
        assert!(matches!(quantize(&q, Mode::F16, &[]), Err(QuantizeError::AlreadyQuantized(_))));
    }

    #[test]
    fn f16_keeps_the_output_and_halves_the_file() {
        let f32_model = fresh_model(&["a", "b"]);
        let q = quantize(&f32_model, Mode::F16, &[]).unwrap();
        assert!((q.encode_to_vec().len() as f64) < 0.55 * f32_model.encode_to_vec().len() as f64);
        let (_, worst) = compare(&mut engine(&f32_model), &mut engine(&q), &photos(2)).unwrap();
        assert!(worst >= 50.0, "{worst:.1} dB");
        assert_eq!(metadata(&q)[keys::QUANTIZATION], "f16");
    }

    #[test]
    fn int8_needs_calibration_and_stays_close() {
        let f32_model = fresh_model(&["solo"]);
        assert!(matches!(quantize(&f32_model, Mode::Int8, &[]), Err(QuantizeError::NeedsCalibration)));
        let images = photos(3);
        let ranges = calibrate(&f32_model, &images).unwrap();
        // The image itself is the first Conv's input: its range is the images' range.
        let (lo, hi) = ranges[contract::INPUT_IMAGE];
        let (min, max) =
            images.iter().flat_map(|p| &p.data).fold((1f32, 0f32), |(a, b), &v| (a.min(v), b.max(v)));
        assert_eq!((lo, hi), (min, max));
        let q = quantize(&f32_model, Mode::Int8, &images).unwrap();
        let (pooled, _) = compare(&mut engine(&f32_model), &mut engine(&q), &images).unwrap();
        assert!(pooled >= 30.0, "int8 PSNR {pooled:.1} dB");
    }

    #[test]
    fn per_channel_scales_follow_each_channel() {
        let (scales, q) = quantize_per_channel(&[0.5, -1.27, 0.0, 0.0, 2.54, 1.0], 3);
        let expected = [0.01, 1.0, 0.02];
        assert!(scales.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-7), "{scales:?}");
        assert_eq!(q, vec![50, -127, 0, 0, 127, 50]);
        // [0, 2.55] needs 0.01 per step, rounded up to 2^-6; the range always includes 0.
        assert_eq!(activation_params(0.5, 2.55), (0.015625, 0));
        // [-1, 3]: 4/255 per step → 2^-5, and 0 falls on step 1 / 2^-5 = 32.
        assert_eq!(activation_params(-1.0, 3.0), (0.03125, 32));
    }
}
