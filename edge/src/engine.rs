//! The inference engine: a contract-checked model run by tract at concrete sizes.
//!
//! tract runs a model with symbolic H/W about 4× slower than one pinned to concrete sizes (kernel
//! selection and fusion need them), and optimising a pinned model takes tens of milliseconds, so
//! the engine keeps one optimised plan per size it has been asked to run.
//!
//! Plans compute in f32, or in f16 ([`Precision::F16`]) for CPUs with native half-precision
//! arithmetic (ARMv8.2: Raspberry Pi 5, Jetson Orin). The model file is the same either way:
//! precision is a property of the device, not of the model.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use image::RgbImage;
use tract_onnx::pb;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::knobs::KnobScope;
use tract_onnx::tract_core::ops::matmul::optimized::OptMatMul;
use tract_onnx::tract_core::runtime::RunOptions;

use crate::contract::{self, ContractError, ModelInfo};
use crate::frame::Size;

pub use direct_conv::DirectConv;

mod copy_op;
mod direct_conv;
#[cfg(target_arch = "x86_64")]
mod flat_conv;
pub mod kernels;
mod memory;
mod permute;
mod row_pad;

/// A model that could not be loaded, with the file it came from.
///
/// The message includes the cause (`kind`), which is therefore not also its `source()`: messages
/// reach screens and replies through `Display`, and `{:#}` at the binaries' edges would print the
/// cause twice.
#[derive(Debug, thiserror::Error)]
#[error("model {}: {kind}", path.display())]
pub struct ModelError {
    pub path: PathBuf,
    pub kind: ContractError,
}

/// Errors while running a loaded model.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Size(String),
    #[error("style: {0}")]
    Style(String),
    #[error("tract failed to prepare the model for {size}: {message}")]
    Prepare { size: Size, message: String },
    #[error("tract failed to run the model: {0}")]
    Run(String),
}

/// How the engine runs tract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineOptions {
    /// Threads for tract's matrix products; 1 runs on the calling thread only.
    pub threads: usize,
    /// Which convolutions may run as tract's direct spatial convolution ([`DirectConv`]).
    pub direct_conv: DirectConv,
    /// Arithmetic precision of the plans.
    pub precision: Precision,
    /// Pad by row copies instead of with tract's `Pad` ([`row_pad`]) and do each
    /// `DepthToSpace` in one copy instead of two `MoveAxis` ([`permute`]): the same values,
    /// faster. Off only to measure the difference.
    pub row_copies: bool,
    /// Run the stride-1 convolutions the engine's own kernel can (x86-64 with AVX-512,
    /// `engine/flat_conv.rs`) in it rather than in tract. Off only to measure the difference.
    pub own_convs: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            threads: 1,
            direct_conv: DirectConv::default(),
            precision: Precision::F32,
            row_copies: true,
            own_convs: true,
        }
    }
}

/// Arithmetic precision of the engine's plans.
///
/// `F16` translates the whole graph to half precision except the instance normalisations, whose
/// spatial sums lose too much in f16 (measured: 0.14 mean error when they are translated too,
/// 0.003 when they stay f32). Inputs and outputs stay f32 for the caller. Only CPUs with native
/// f16 arithmetic gain from it; elsewhere tract falls back to scalar code (measured ~100× slower
/// on x86, docs/benchmarks.md).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    #[default]
    F32,
    F16,
}

impl Precision {
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
        }
    }

    /// Whether tract has native kernels for this precision on this CPU (f16 needs ARMv8.2's FP16
    /// extension). Asks tract itself, which reads `asimdhp` in /proc/cpuinfo to pick its kernels.
    pub fn is_native(self) -> bool {
        match self {
            Precision::F32 => true,
            #[cfg(target_arch = "aarch64")]
            Precision::F16 => tract_linalg::arm64::has_fp16(),
            #[cfg(not(target_arch = "aarch64"))]
            Precision::F16 => false,
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> Result<Precision, String> {
        match s {
            "f32" => Ok(Precision::F32),
            "f16" => Ok(Precision::F16),
            _ => Err(format!("`{s}` is not a precision; accepted: f32, f16")),
        }
    }
}

/// A loaded generator, ready to stylize frames.
///
/// ```no_run
/// use atelier_edge::engine::{Engine, EngineOptions};
/// let mut engine = Engine::load("models/default.onnx".as_ref(), EngineOptions::default())?;
/// engine.set_style("the-scream")?;
/// let photo = image::open("me.jpg")?.to_rgb8(); // width and height multiples of 8
/// let stylized = engine.stylize(&photo)?;
/// # Ok::<(), anyhow::Error>(())
/// ```
///
/// A clone shares the compiled plans; each clone runs on its own thread (one frame each).
#[derive(Clone)]
pub struct Engine {
    name: String,
    info: ModelInfo,
    model: InferenceModel,
    image_input: usize,
    style_input: Option<usize>,
    style_weights: Vec<f32>,
    /// `style_weights` as the plans' `style` input, converted once per change, not per frame.
    style: TValue,
    plans: HashMap<Size, Arc<TypedRunnableModel>>,
    run_options: RunOptions,
    knobs: KnobScope,
    direct_conv: DirectConv,
    precision: Precision,
    row_copies: bool,
    own_convs: bool,
    /// Names of the graph's InstanceNormalization nodes: they stay f32 at f16 precision.
    norms: Arc<Vec<String>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("name", &self.name).field("info", &self.info).finish()
    }
}

/// Size used to check at load time that tract can type the whole graph.
const PROBE_SIZE: Size = Size::new(32, 32);

impl Engine {
    /// Loads, validates and type-checks a model file.
    pub fn load(path: &Path, options: EngineOptions) -> Result<Engine, ModelError> {
        let err = |kind| ModelError { path: path.to_path_buf(), kind };
        let bytes = std::fs::read(path).map_err(|e| err(ContractError::Io(e)))?;
        Engine::from_bytes(&bytes, &path.display().to_string(), options).map_err(|e| err(e.kind))
    }

    /// Loads a model from memory; `name` is used in messages.
    pub fn from_bytes(bytes: &[u8], name: &str, options: EngineOptions) -> Result<Engine, ModelError> {
        let err = |kind| ModelError { path: PathBuf::from(name), kind };
        let proto = contract::decode(bytes).map_err(err)?;
        Engine::from_proto(&proto, name, options).map_err(err)
    }

    fn from_proto(
        proto: &pb::ModelProto,
        name: &str,
        options: EngineOptions,
    ) -> Result<Engine, ContractError> {
        kernels::choose();
        memory::retain_freed();
        let info = contract::validate(proto)?;
        let model = contract::to_tract(proto)?;
        let outlets = model.input_outlets().map_err(|e| ContractError::Unsupported(e.to_string()))?;
        let position = |wanted: &str| outlets.iter().position(|o| model.node(o.node).name == wanted);
        let image_input =
            position(contract::INPUT_IMAGE).ok_or(ContractError::MissingInput(contract::INPUT_IMAGE))?;
        let style_input = position(contract::INPUT_STYLE);
        let mut one_hot = vec![0f32; info.styles.len()];
        one_hot[0] = 1.0;
        let style = style_value(&one_hot, options.precision);
        let norms = proto
            .graph
            .iter()
            .flat_map(|g| &g.node)
            .filter(|n| n.op_type == "InstanceNormalization")
            .map(|n| n.name.clone())
            .collect();
        let run_options = RunOptions { executor: executor(options.threads), ..RunOptions::default() };
        let knobs = KnobScope::new([(direct_conv::KNOB, options.direct_conv.disable_knob())])
            .expect("knob exists in this tract version");
        let engine = Engine {
            name: name.to_string(),
            info,
            model,
            image_input,
            style_input,
            style_weights: one_hot,
            style,
            plans: HashMap::new(),
            run_options,
            knobs,
            direct_conv: options.direct_conv,
            precision: options.precision,
            row_copies: options.row_copies,
            own_convs: options.own_convs,
            norms: Arc::new(norms),
        };
        // Surface unsupported ops and shape errors now, naming the file, not on the first frame.
        engine
            .pinned(PROBE_SIZE)
            .and_then(|m| m.into_typed())
            .map_err(|e| ContractError::Unsupported(format!("{e:#}")))?;
        Ok(engine)
    }

    /// The model's metadata.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Style names, in the order of the `style` input.
    pub fn styles(&self) -> &[String] {
        &self.info.styles
    }

    /// The file name or label the model was loaded from.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Current style weights.
    pub fn style_weights(&self) -> &[f32] {
        &self.style_weights
    }

    /// Sets the style mixing weights (one per style, non-negative, not all zero).
    pub fn set_style_weights(&mut self, weights: &[f32]) -> Result<(), EngineError> {
        if weights.len() != self.info.styles.len() {
            return Err(EngineError::Style(format!(
                "{} weights given, the model has {} styles",
                weights.len(),
                self.info.styles.len()
            )));
        }
        if weights.iter().any(|w| !w.is_finite() || *w < 0.0) || weights.iter().all(|w| *w == 0.0) {
            return Err(EngineError::Style("weights must be finite, >= 0 and not all zero".into()));
        }
        self.style_weights = weights.to_vec();
        self.style = style_value(weights, self.precision);
        Ok(())
    }

    /// Selects one style by name.
    pub fn set_style(&mut self, name: &str) -> Result<(), EngineError> {
        let weights =
            crate::style::StyleMix::single(name).weights(self.styles()).map_err(EngineError::Style)?;
        self.set_style_weights(&weights)
    }

    /// Optimises the model for `size` unless already done. Call it before timing-sensitive work.
    pub fn prepare(&mut self, size: Size) -> Result<(), EngineError> {
        self.plan(size).map(|_| ())
    }

    fn plan(&mut self, size: Size) -> Result<Arc<TypedRunnableModel>, EngineError> {
        if let Some(plan) = self.plans.get(&size) {
            return Ok(plan.clone());
        }
        contract::check_size(size.width as usize, size.height as usize).map_err(EngineError::Size)?;
        let prepare_err = |e: TractError| EngineError::Prepare { size, message: format!("{e:#}") };
        let plan = self
            .knobs
            .enter(|| {
                let typed = self.pinned(size)?.into_typed()?;
                let typed = match self.precision {
                    Precision::F32 => typed,
                    Precision::F16 => to_f16(typed, self.norms.clone())?,
                };
                let mut optimized = typed.into_decluttered()?;
                if self.own_convs {
                    let own = own_convs(&mut optimized)?;
                    tracing::debug!("{size}: {own} convolution(s) in the engine's own kernel");
                }
                if self.direct_conv == DirectConv::Chosen {
                    let direct = direct_conv::compile_chosen(&mut optimized)?;
                    tracing::debug!("{size}: {direct} convolution(s) in tract's direct form");
                }
                optimized.optimize()?;
                if self.row_copies {
                    row_pad::swap_pads(&mut optimized)?;
                    permute::fuse_moves(&mut optimized)?;
                }
                optimized.into_runnable_with_options(&self.run_options)
            })
            .map_err(prepare_err)?;
        self.plans.insert(size, plan.clone());
        Ok(plan)
    }

    /// The inference model with every input pinned to a concrete shape.
    fn pinned(&self, size: Size) -> TractResult<InferenceModel> {
        let (h, w) = (size.height as usize, size.width as usize);
        let mut model =
            self.model.clone().with_input_fact(self.image_input, f32::fact([1, 3, h, w]).into())?;
        if let Some(i) = self.style_input {
            model = model.with_input_fact(i, f32::fact([1, self.info.styles.len()]).into())?;
        }
        Ok(model)
    }

    /// Runs the model on an NCHW f32 tensor `[1,3,H,W]` in [0,1] and returns `[1,3,H,W]`.
    pub fn run_tensor(&mut self, image: Tensor) -> Result<Tensor, EngineError> {
        let (plan, image) = self.plan_for(image)?;
        let run_err = |e: TractError| EngineError::Run(format!("{e:#}"));
        let mut outputs = kernels::run(&plan, self.inputs(&plan, image)).map_err(run_err)?;
        let out = outputs.remove(0).into_tensor();
        if out.datum_type() == DatumType::F32 {
            return Ok(out);
        }
        Ok(out.cast_to::<f32>().map_err(run_err)?.into_owned())
    }

    /// The plan for an NCHW f32 tensor `[1,3,H,W]`, and the tensor at the plan's precision.
    fn plan_for(&mut self, image: Tensor) -> Result<(Arc<TypedRunnableModel>, Tensor), EngineError> {
        let shape = image.shape();
        if shape.len() != 4 || shape[0] != 1 || shape[1] != 3 {
            return Err(EngineError::Size(format!("input tensor must be [1,3,H,W], got {shape:?}")));
        }
        let plan = self.plan(Size::new(shape[3] as u32, shape[2] as u32))?;
        let image = match self.precision {
            Precision::F32 => image,
            Precision::F16 => {
                image.cast_to::<f16>().map_err(|e| EngineError::Run(format!("{e:#}")))?.into_owned()
            }
        };
        Ok((plan, image))
    }

    /// The plan's inputs: `image` (already at the plan's precision) and the current style.
    fn inputs(&self, plan: &Arc<TypedRunnableModel>, image: Tensor) -> TVec<TValue> {
        let mut inputs: TVec<Option<TValue>> = tvec![None; plan.input_count()];
        inputs[self.image_input] = Some(image.into_tvalue());
        if let Some(i) = self.style_input {
            inputs[i] = Some(self.style.clone());
        }
        inputs.into_iter().map(|i| i.expect("the contract allows only image and style inputs")).collect()
    }

    /// Times every node of the plan on `image` (`[1,3,H,W]` f32), node by node as tract evaluates
    /// them: the median over `runs` runs after one warm-up, in evaluation order. This is tract's
    /// own per-node evaluation hook, so the figures add up to a normal run's time within timer
    /// overhead. The picture matters: an all-zero input makes every norm's output its bias.
    pub fn profile(&mut self, image: Tensor, runs: usize) -> Result<Vec<NodeTime>, EngineError> {
        use tract_onnx::tract_core::plan::eval;
        let (plan, image) = self.plan_for(image)?;
        let run_err = |e: TractError| EngineError::Run(format!("{e:#}"));
        let mut samples: HashMap<usize, Vec<f64>> = HashMap::new();
        let mut state = plan.spawn().map_err(run_err)?;
        for run in 0..=runs.max(1) {
            state
                .run_plan_with_eval(self.inputs(&plan, image.clone()), |ctx, op_state, node, inputs| {
                    let start = std::time::Instant::now();
                    let out = eval(ctx, op_state, node, inputs);
                    kernels::clear_upper_registers();
                    if run > 0 {
                        samples.entry(node.id).or_default().push(start.elapsed().as_secs_f64() * 1e3);
                    }
                    out
                })
                .map_err(run_err)?;
        }
        let model = plan.model();
        Ok(plan
            .order_without_consts()
            .iter()
            .filter_map(|id| {
                let mut times = samples.remove(id)?;
                times.sort_by(f64::total_cmp);
                let node = model.node(*id);
                Some(NodeTime {
                    name: node.name.clone(),
                    op: node.op().name().to_string(),
                    output: node.outputs.first().map(|o| format!("{:?}", o.fact.shape)).unwrap_or_default(),
                    kernel: node
                        .op_as::<OptMatMul>()
                        .map(|m| m.mmm.iter().map(|k| k.name().to_string()).collect::<Vec<_>>().join("+")),
                    ms: times[times.len() / 2],
                })
            })
            .collect())
    }

    /// The precision the plans compute at.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Stylizes an RGB image whose size is a multiple of 8 (see [`contract::check_size`]).
    pub fn stylize(&mut self, image: &RgbImage) -> Result<RgbImage, EngineError> {
        let out = self.run_tensor(image_to_tensor(image))?;
        tensor_to_image(&out).map_err(EngineError::Run)
    }
}

/// One node's share of a run, from [`Engine::profile`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct NodeTime {
    /// The node's name in tract's optimised graph (derived from the ONNX node names).
    pub name: String,
    /// tract's operator, e.g. `Conv`, `OptMatMul`, `Reduce<Sum>`.
    pub op: String,
    /// Shape of its first output.
    pub output: String,
    /// The matrix-product kernel(s) tract chose for an `OptMatMul` (e.g. `fma_mmm_f32_16x6`): its
    /// cost model picks them per CPU, and the choice is what to check when a product is slow.
    pub kernel: Option<String>,
    /// Median milliseconds.
    pub ms: f64,
}

/// Swaps the convolutions the engine's own kernel runs faster than tract into it, where the CPU
/// has that kernel (x86-64 with AVX-512: [`flat_conv`]); returns how many.
fn own_convs(model: &mut TypedModel) -> TractResult<usize> {
    #[cfg(target_arch = "x86_64")]
    return flat_conv::swap_convs(model);
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = model;
        Ok(0)
    }
}

/// Style weights as a `[1, S]` input tensor at `precision`.
fn style_value(weights: &[f32], precision: Precision) -> TValue {
    let t = tensor1(weights).into_shape(&[1, weights.len()]).expect("matching length");
    match precision {
        Precision::F32 => t.into_tvalue(),
        Precision::F16 => t.cast_to::<f16>().expect("f32 casts to f16").into_owned().into_tvalue(),
    }
}

/// Translates a typed model to f16, except the nodes tract expanded each InstanceNormalization
/// into (named `<norm>` and `<norm>.<part>`; with this project's writer that also covers the
/// per-style scale and shift, `<norm>.mul`/`.add`, which are cheap either way) and `Resize`,
/// whose `scales` input tract reads as f32 only (bilinear up-sampling would fail at run time).
/// Sources become f16 too: the engine casts its f32 tensors on the way in and out.
fn to_f16(model: TypedModel, norms: Arc<Vec<String>>) -> TractResult<TypedModel> {
    use tract_onnx::tract_core::floats::FloatPrecisionTranslator;
    use tract_onnx::tract_core::transform::ModelTransform;
    let in_norm = move |name: &str| {
        norms.iter().any(|n| name == n || name.strip_prefix(n.as_str()).is_some_and(|r| r.starts_with('.')))
    };
    FloatPrecisionTranslator::with_filter(DatumType::F32, DatumType::F16, move |node| {
        !in_norm(&node.name) && node.op.name() != "Resize"
    })
    .transform_into(model)
}

fn executor(threads: usize) -> Option<tract_linalg::multithread::Executor> {
    if threads <= 1 {
        return None;
    }
    // Small generators have small matrix products: tract's default thresholds keep most of them
    // on one thread. Measured on a 4 GFLOP generator at 320×240: 86 → 71 ms on 2 threads.
    tract_linalg::multithread::set_threading_panel_threshold(0);
    tract_linalg::multithread::set_threading_element_threshold(0);
    Some(tract_linalg::multithread::Executor::multithread_with_name(threads, "atelier-tract"))
}

/// RGB8 image → f32 `[1,3,H,W]` in [0,1].
pub fn image_to_tensor(image: &RgbImage) -> Tensor {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let plane = w * h;
    let mut data = vec![0f32; 3 * plane];
    for (i, px) in image.pixels().enumerate() {
        data[i] = px[0] as f32 * (1.0 / 255.0);
        data[plane + i] = px[1] as f32 * (1.0 / 255.0);
        data[2 * plane + i] = px[2] as f32 * (1.0 / 255.0);
    }
    tract_ndarray::Array4::from_shape_vec((1, 3, h, w), data).expect("matching length").into_tensor()
}

/// f32 `[1,3,H,W]` (values clamped to [0,1]) → RGB8 image.
pub fn tensor_to_image(t: &Tensor) -> Result<RgbImage, String> {
    let shape = t.shape();
    if shape.len() != 4 || shape[0] != 1 || shape[1] != 3 {
        return Err(format!("output tensor must be [1,3,H,W], got {shape:?}"));
    }
    let (h, w) = (shape[2], shape[3]);
    let data = t
        .try_as_plain_ram()
        .map_err(|e| e.to_string())?
        .as_slice::<f32>()
        .map_err(|e| format!("output is not f32: {e}"))?;
    let plane = w * h;
    let to_u8 = |v: f32| (v.clamp(0.0, 1.0) * 255.0 + 0.5) as u8;
    let mut buf = Vec::with_capacity(3 * plane);
    for i in 0..plane {
        buf.extend_from_slice(&[to_u8(data[i]), to_u8(data[plane + i]), to_u8(data[2 * plane + i])]);
    }
    Ok(RgbImage::from_raw(w as u32, h as u32, buf).expect("matching length"))
}
