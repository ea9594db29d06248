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
//!
//! Two more modes were built, measured and dropped (their code is in git history at 88eefca,
//! removed in 2289a8a; the figures are in `docs/benchmarks.md`): `int8` (QDQ
//! activations) ran slower than f32 in tract and fell below 35 dB, and `f16` storage was larger
//! than int8-weights at no visible gain. Half-precision *arithmetic*, which is what pays on
//! ARMv8.2 boards, is a property of the device, not of the file: the mirror's
//! `--precision f16` ([`atelier_edge::engine::Precision`]).
//!
//! Each run reports the file size, the speed in tract, and the PSNR of the quantized model's
//! output against the f32 model's.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use atelier_edge::contract::{self, ContractError, Quantization, keys};
use atelier_edge::engine::{EngineError, ModelError};
use atelier_edge::imageops::{Fit, Scaler};
use atelier_edge::{Engine, EngineOptions, Size};
use prost::Message;
use tract_onnx::pb;
use tract_onnx::pb::tensor_proto::DataType;

use crate::eval::{ms_per_frame, run_planes};
use crate::images::{ImageError, list_images, load_rgb};
use crate::onnx::{self, attr_int, f32_tensor, node};
use crate::planes::{Planes, psnr};

/// Size at which comparison and timing run: the mirror's usual model size.
pub const QUANT_SIZE: Size = Size::new(320, 240);
/// PSNR against the f32 model below which the output is visibly different.
pub const TARGET_PSNR_DB: f64 = 35.0;
/// Timing runs (the median is reported).
pub const TIMING_RUNS: usize = 7;

/// A quantization mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Int8Weights,
}

impl Mode {
    pub fn quantization(self) -> Quantization {
        match self {
            Mode::Int8Weights => Quantization::Int8Weights,
        }
    }
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Mode, String> {
        match s {
            "int8-weights" => Ok(Mode::Int8Weights),
            "int8" => Err("`int8` (int8 activations) was measured and dropped: slower than f32 in tract \
                 and below 35 dB (docs/benchmarks.md); use int8-weights"
                .into()),
            "f16" => Err("`f16` storage was dropped: int8-weights is smaller at the same visual quality; \
                 for f16 arithmetic on a Pi 5 or Jetson Orin run the mirror with --precision f16"
                .into()),
            _ => Err(format!("`{s}` is not a quantization mode; accepted: int8-weights")),
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
    #[error("images for {purpose}: {message}")]
    Images { purpose: &'static str, message: String },
    #[error("initializer `{name}`: {problem}")]
    Initializer { name: String, problem: String },
    #[error("{}: {error}", path.display())]
    Io { path: PathBuf, error: std::io::Error },
}

/// Returns a quantized copy of `proto`.
pub fn quantize(proto: &pb::ModelProto, mode: Mode) -> Result<pb::ModelProto, QuantizeError> {
    let info = contract::validate(proto)?;
    if info.quantization != Quantization::F32 {
        return Err(QuantizeError::AlreadyQuantized(info.quantization));
    }
    let mut out = proto.clone();
    let graph = out.graph.as_mut().ok_or(ContractError::NoGraph)?;
    match mode {
        Mode::Int8Weights => conv_weights_to_int8(graph)?,
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
pub(crate) fn f32_values(t: &pb::TensorProto) -> Result<Vec<f32>, QuantizeError> {
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

/// Quantizes `model` into `out` and measures it against the original on the images in
/// `compare_dir`.
pub fn quantize_file(
    model: &Path,
    mode: Mode,
    compare_dir: &Path,
    out: &Path,
) -> Result<QuantReport, QuantizeError> {
    let proto = contract::read(model).map_err(|kind| ModelError { path: model.to_path_buf(), kind })?;
    let compare_images = load_folder(compare_dir, QUANT_SIZE, "comparison")?;
    let quantized = quantize(&proto, mode)?;
    onnx::save(&quantized, out).map_err(|error| QuantizeError::Io { path: out.to_path_buf(), error })?;

    let mut reference =
        Engine::from_bytes(&proto.encode_to_vec(), &model.display().to_string(), EngineOptions::default())?;
    let mut engine = Engine::load(out, EngineOptions::default())?;
    let (psnr_db, min_psnr_db) = compare(&mut reference, &mut engine, &compare_images)?;
    let size_of = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.len())
            .map_err(|error| QuantizeError::Io { path: p.to_path_buf(), error })
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
        let q = quantize(&f32_model, Mode::Int8Weights).unwrap();
        let (f32_bytes, q_bytes) = (f32_model.encode_to_vec().len(), q.encode_to_vec().len());
        assert!((q_bytes as f64) < 0.4 * f32_bytes as f64, "{q_bytes} vs {f32_bytes} bytes");
        let mut q_engine = engine(&q);
        assert_eq!(q_engine.info().quantization, Quantization::Int8Weights);
        let (pooled, worst) = compare(&mut engine(&f32_model), &mut q_engine, &photos(2)).unwrap();
        assert!(worst >= TARGET_PSNR_DB, "PSNR {worst:.1} dB (pooled {pooled:.1})");
        assert!(worst.is_finite(), "the weights must actually have changed");
        // Refuses to quantize twice.
        assert!(matches!(quantize(&q, Mode::Int8Weights), Err(QuantizeError::AlreadyQuantized(_))));
    }

    #[test]
    fn dropped_modes_say_why_and_what_to_use() {
        let int8 = "int8".parse::<Mode>().unwrap_err();
        assert!(int8.contains("int8-weights") && int8.contains("slower"), "{int8}");
        let f16 = "f16".parse::<Mode>().unwrap_err();
        assert!(f16.contains("--precision f16"), "{f16}");
        assert!("f32".parse::<Mode>().unwrap_err().contains("accepted: int8-weights"));
    }

    #[test]
    fn per_channel_scales_follow_each_channel() {
        let (scales, q) = quantize_per_channel(&[0.5, -1.27, 0.0, 0.0, 2.54, 1.0], 3);
        let expected = [0.01, 1.0, 0.02];
        assert!(scales.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-7), "{scales:?}");
        assert_eq!(q, vec![50, -127, 0, 0, 127, 50]);
    }
}
