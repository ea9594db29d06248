//! `atelier`: the workstation tool. See `atelier --help`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use atelier_edge::contract::{self, Quantization};
use atelier_edge::engine::{DirectConv, Precision};
use atelier_edge::style::StyleMix;
use atelier_edge::{Engine, EngineOptions, Size};
use atelier_host::generator::{Generator, GeneratorArgs};
use atelier_host::onnx::{self, ModelMeta};
use atelier_host::quantize::Mode;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "atelier",
    version,
    about = "Atelier workstation tools: export, inspect and run style generators."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Train a multi-style generator as a GAN and export it as ONNX.
    #[cfg(feature = "train")]
    Train(Box<atelier_host::train::cli::TrainArgs>),
    /// Move a trained model to another generator shape (other residual blocks, widths or head,
    /// the fused edge-padded decoder) by teaching it to reproduce the model's pictures.
    #[cfg(feature = "train")]
    Distill(Box<atelier_host::train::cli::DistillArgs>),
    /// Train a generator (this build has no training support).
    #[cfg(not(feature = "train"))]
    Train {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
        args: Vec<String>,
    },
    /// Write a freshly initialised generator as an ONNX model.
    Export(ExportArgs),
    /// Send one command to a mirror, e.g. `atelier ctl --serial /dev/ttyACM0 style the-scream`
    /// (commands: docs/control.md).
    Ctl {
        #[command(flatten)]
        target: TargetArgs,
        /// The command and its arguments, as on the serial line: status, styles, style NAME,
        /// next, display off, model ...
        #[arg(required = true, trailing_var_arg = true, value_name = "COMMAND")]
        command: Vec<String>,
    },
    /// Upload a model to a mirror (resuming an interrupted upload), let it verify and test-run
    /// the model, then activate it.
    Deploy {
        #[command(flatten)]
        target: TargetArgs,
        /// Upload and verify only; activate later with `atelier ctl ... activate SHA256`.
        #[arg(long)]
        no_activate: bool,
        /// Keep reconnecting this long when the port or the mirror goes away, in seconds.
        #[arg(long, default_value_t = 300, value_name = "S")]
        retry_for: u64,
        /// Bytes per chunk [default: 3072 over serial, 1 MiB over HTTP].
        #[arg(long, value_name = "BYTES")]
        chunk: Option<usize>,
        #[arg(value_name = "MODEL.onnx")]
        model: PathBuf,
    },
    /// Print a model's contract metadata as JSON (after validating it).
    Info {
        #[arg(long, value_name = "FILE")]
        model: PathBuf,
    },
    /// Run a model in tract on a seeded random input and dump the tensors (for peer checks).
    Infer {
        #[arg(long, value_name = "FILE")]
        model: PathBuf,
        /// Input size, WxH, multiples of 8.
        #[arg(long, default_value = "64x48")]
        size: Size,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Directory for image.f32, style.f32, stylized.f32 and tensors.json.
        #[arg(long, value_name = "DIR")]
        dump: PathBuf,
    },
    /// Stylize image files (garments, designs) at close to their own resolution.
    Stylize(StylizeArgs),
    /// Measure a model: style distance, content preservation, stability, speed; writes
    /// report.json and contact-sheet.png.
    Eval(EvalArgs),
    /// Write a smaller (int8-weights) copy of a model and compare it with the original.
    Quantize(QuantizeArgs),
    /// Time a model in the mirror's engine (tract) per size and thread count.
    Bench {
        #[arg(long, value_name = "FILE")]
        model: PathBuf,
        #[arg(long, value_delimiter = ',', default_value = "320x240,640x480")]
        sizes: Vec<Size>,
        #[arg(long, value_delimiter = ',', default_value = "1,2")]
        threads: Vec<usize>,
        /// Arithmetic precisions: f32, and f16 for CPUs with native half precision.
        #[arg(long, value_delimiter = ',', default_value = "f32")]
        precision: Vec<Precision>,
        /// Timed runs per setting (the median is reported).
        #[arg(long, default_value_t = 20)]
        runs: usize,
        /// Also report, for reduced precisions, the worst PSNR against f32 on these images.
        #[arg(long, value_name = "DIR")]
        compare: Option<PathBuf>,
        /// Also time the same file in onnxruntime, size by size in the same run, and print the
        /// ratio (f32 rows).
        #[arg(long)]
        compare_ort: bool,
        /// The Python that runs onnxruntime for --compare-ort (`scripts/python-env.sh` prints
        /// a virtual environment that has it).
        #[arg(long, env = "ATELIER_PYTHON", default_value = "python3", value_name = "PYTHON")]
        python: PathBuf,
        /// Instead of timing whole runs, time every node of tract's plan (first thread count and
        /// precision, each size) and print where the time goes.
        #[arg(long)]
        profile: bool,
        /// Pad and move axes with tract's own ops rather than the engine's copies (to measure them).
        #[arg(long)]
        tract_copies: bool,
        /// Run every convolution in tract, none in the engine's own kernel (to measure it).
        #[arg(long)]
        tract_convs: bool,
        /// Which convolutions run as tract's direct convolution: `chosen` (the engine's choice),
        /// `off` (im2col and a matrix product for all) or `tract` (wherever tract can).
        #[arg(long, default_value = "chosen", value_name = "CHOICE")]
        direct_conv: DirectConv,
    },
    /// Write the manual pages (roff: atelier.1 and one per subcommand) into DIR; the .deb
    /// ships them.
    #[command(hide = true)]
    ManPages { dir: PathBuf },
}

#[derive(Debug, clap::Args)]
struct StylizeArgs {
    #[arg(long, value_name = "FILE")]
    model: PathBuf,
    /// A style name, or a blend `NAME=w,NAME=w`.
    #[arg(long, value_name = "NAME[=w,...]")]
    style: StyleMix,
    /// 1 = fully stylized, 0 = the input unchanged.
    #[arg(long, default_value_t = 1.0, value_parser = parse_strength)]
    strength: f32,
    /// Keep the input's colours and take only the stylized luminance.
    #[arg(long)]
    preserve_color: bool,
    /// Run the model at exactly WxH (multiples of 8) instead of each image's own size.
    #[arg(long, value_name = "WxH")]
    size: Option<Size>,
    /// Images with a longer side above this run downscaled (and are scaled back).
    #[arg(long, default_value_t = 1024, value_name = "PIXELS")]
    max_side: u32,
    /// Input images.
    #[arg(required = true, value_name = "IN")]
    inputs: Vec<PathBuf>,
    /// Output folder; each input becomes OUT_DIR/<stem>.png.
    #[arg(short, long = "out", value_name = "OUT_DIR")]
    out: PathBuf,
}

/// Which mirror: its serial port or its URL.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false, id = "mirror")]
struct TargetArgs {
    /// The mirror's serial control port, e.g. /dev/ttyACM0 or /dev/ttyUSB0.
    #[arg(long, value_name = "PORT", group = "mirror")]
    serial: Option<PathBuf>,
    /// Baud rate for --serial.
    #[arg(long, default_value_t = 115_200, value_name = "BAUD")]
    baud: u32,
    /// The mirror's HTTP address, e.g. http://mirror.local:8080
    #[arg(long, value_name = "URL", group = "mirror")]
    url: Option<String>,
    /// API token for --url (or ATELIER_API_TOKEN).
    #[arg(long, value_name = "TOKEN", env = "ATELIER_API_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

impl TargetArgs {
    fn target(&self) -> atelier_host::ctl::Target {
        match (&self.serial, &self.url) {
            (Some(port), _) => atelier_host::ctl::Target::Serial { port: port.clone(), baud: self.baud },
            (None, Some(url)) => {
                atelier_host::ctl::Target::Url { url: url.clone(), token: self.token.clone() }
            }
            (None, None) => unreachable!("clap requires one of --serial and --url"),
        }
    }
}

#[derive(Debug, clap::Args)]
struct EvalArgs {
    #[arg(long, value_name = "FILE")]
    model: PathBuf,
    /// Content images (the contact sheet shows the first six); by default the held-out people
    /// photos no shipped model trained on.
    #[arg(long, value_name = "DIR", default_value = "data/people")]
    content: PathBuf,
    /// Folder for report.json and contact-sheet.png.
    #[arg(long, value_name = "REPORT_DIR")]
    out: PathBuf,
    /// Where the style images named in `atelier.style_sources` are.
    #[arg(long, value_name = "DIR", default_value = "models/styles")]
    styles_dir: PathBuf,
    /// Folder of the converted pretrained networks (scripts/feature-nets.sh) [default:
    /// $ATELIER_NETS, else ~/.cache/atelier/nets].
    #[arg(long, value_name = "DIR")]
    nets: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct QuantizeArgs {
    /// The f32 model.
    #[arg(long, value_name = "IN.onnx")]
    model: PathBuf,
    /// int8-weights: int8 weights with per-channel scales, ~3.4× smaller, same speed.
    #[arg(long, value_name = "MODE")]
    mode: Mode,
    /// Images the quantized model is compared on (PSNR against the f32 model).
    #[arg(long, value_name = "DIR", default_value = "data/people")]
    compare: PathBuf,
    #[arg(long, value_name = "OUT.onnx")]
    out: PathBuf,
    /// Also write the figures as JSON to this file.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
}

fn parse_strength(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("`{s}` is not a number between 0 and 1")),
    }
}

#[derive(Debug, clap::Args)]
struct ExportArgs {
    /// Initialise the weights from this seed.
    #[arg(long, value_name = "SEED")]
    init: u64,
    /// Style names, comma separated (one name makes a single-style model without `style` input).
    #[arg(long, value_name = "A,B,C", value_delimiter = ',', required = true)]
    styles: Vec<String>,
    /// Output file.
    #[arg(long, value_name = "FILE.onnx")]
    out: PathBuf,
    #[command(flatten)]
    generator: GeneratorArgs,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("atelier: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Export(args) => export(args),
        Command::Ctl { target, command } => {
            println!("{}", atelier_host::ctl::ctl(&target.target(), &command)?);
            Ok(())
        }
        Command::Deploy { target, no_activate, retry_for, chunk, model } => {
            let options = atelier_host::ctl::DeployOptions {
                activate: !no_activate,
                retry_for: std::time::Duration::from_secs(retry_for),
                chunk,
                progress: true,
            };
            let done = atelier_host::ctl::deploy(&target.target(), &model, &options)?;
            println!(
                "{} {} ({} bytes, {} sent in {:.1} s, {:.1} KiB/s): {}",
                if done.activated { "activated" } else { "verified" },
                done.sha256,
                done.bytes,
                done.sent,
                done.seconds,
                done.sent as f64 / 1024.0 / done.seconds.max(1e-9),
                done.reply
            );
            Ok(())
        }
        #[cfg(feature = "train")]
        Command::Train(args) => train(*args),
        #[cfg(feature = "train")]
        Command::Distill(args) => {
            let command_line = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
            let out = args.out.clone();
            let s = atelier_host::train::distill::distill(&args.into_options(command_line))?;
            eprintln!(
                "distilled {} steps in {:.0} s from {} of the teacher's parameters ({} fresh); mean \
                 difference to the teacher {:.4} -> {:.4}; model {}",
                s.steps,
                s.seconds,
                s.from_teacher,
                s.fresh,
                s.first_difference,
                s.last_difference,
                out.display()
            );
            Ok(())
        }
        #[cfg(not(feature = "train"))]
        Command::Train { .. } => bail!(
            "this atelier was built without training support; build it with `--features train` \
             after `scripts/python-env.sh --train` (see docs/training.md)"
        ),
        Command::ManPages { dir } => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            clap_mangen::generate_to(<Cli as clap::CommandFactory>::command(), &dir)
                .with_context(|| format!("writing manual pages into {}", dir.display()))
        }
        Command::Info { model } => {
            let proto = contract::read(&model).with_context(|| format!("model {}", model.display()))?;
            let info = contract::validate(&proto).with_context(|| format!("model {}", model.display()))?;
            println!("{}", serde_json::to_string_pretty(&info)?);
            Ok(())
        }
        Command::Infer { model, size, seed, dump } => {
            let index = atelier_host::infer::dump(&model, size, seed, &dump)?;
            println!("{}", serde_json::to_string(&index)?);
            Ok(())
        }
        Command::Stylize(args) => stylize(args),
        Command::Eval(args) => eval(args),
        Command::Quantize(args) => quantize(args),
        Command::Bench {
            model,
            sizes,
            threads,
            precision,
            runs,
            compare,
            compare_ort,
            python,
            profile,
            tract_copies,
            tract_convs,
            direct_conv,
        } => {
            let plan = atelier_host::bench::BenchPlan {
                sizes: &sizes,
                threads: &threads,
                precisions: &precision,
                runs,
                compare: compare.as_deref(),
                row_copies: !tract_copies,
                own_convs: !tract_convs,
                direct_conv,
            };
            if profile {
                let mut engine = Engine::load(&model, plan.options(threads[0], precision[0]))?;
                for &size in &sizes {
                    let nodes = engine.profile(atelier_host::eval::timing_input(size), runs)?;
                    // A whole run of the same plan, timed as `bench` times it: the node times
                    // should add up to it; what they miss is time between the nodes.
                    let whole = atelier_host::eval::ms_per_frame(&mut engine, size, runs)?;
                    println!(
                        "## {} at {size}, {} thread(s), {}\n",
                        model.display(),
                        threads[0],
                        precision[0]
                    );
                    println!("whole run {whole:.1} ms (median of {runs})");
                    println!("{}", atelier_host::bench::profile_table(&nodes, 15));
                }
                return Ok(());
            }
            // Measured before the table starts, so that a model that cannot load prints no header.
            let rows = atelier_host::bench::run(&model, &plan)?;
            println!(
                "| model | size | threads | precision | ms/frame (median of {runs}) | frames/s | worst PSNR vs f32 | onnxruntime ms | tract / onnxruntime |\n|---|---|---|---|---|---|---|---|---|"
            );
            let mut runtime = None;
            for row in rows {
                let ort = match compare_ort && row.precision == Precision::F32 {
                    true => {
                        let (name, ms) = atelier_host::bench::ort_ms(
                            &python,
                            &model,
                            row.size.parse().map_err(anyhow::Error::msg)?,
                            row.threads,
                            runs,
                        )?;
                        runtime = Some(name);
                        Some(ms)
                    }
                    false => None,
                };
                println!(
                    "| {} | {} | {} | {} | {:.1} | {:.1} | {} | {} | {} |",
                    model.display(),
                    row.size,
                    row.threads,
                    row.precision,
                    row.ms_per_frame,
                    row.fps,
                    row.min_psnr_db.map_or("—".to_string(), |db| format!("{db:.1} dB")),
                    ort.map_or("—".to_string(), |ms| format!("{ms:.1}")),
                    ort.map_or("—".to_string(), |ms| format!("{:.2}×", row.ms_per_frame / ms)),
                );
            }
            if let Some(name) = runtime {
                println!(
                    "\n(onnxruntime is {name}, timed in a Python child right after tract at each setting)"
                );
            }
            Ok(())
        }
    }
}

fn export(args: ExportArgs) -> Result<()> {
    let styles: Vec<String> = args.styles.iter().map(|s| s.trim().to_string()).collect();
    let generator =
        Generator::new(args.generator.config(), styles).context("--styles/--encoder/--decoder")?;
    if args.out.extension().and_then(|e| e.to_str()) != Some("onnx") {
        bail!("--out {}: the file name must end in .onnx", args.out.display());
    }
    let meta = ModelMeta {
        train_size: 256,
        quantization: Quantization::F32,
        trained_with: format!(
            "untrained: atelier export --init {} (atelier {})",
            args.init,
            env!("CARGO_PKG_VERSION")
        ),
        style_sources: None,
    };
    let proto = onnx::generator_to_proto(&generator, &generator.init_weights(args.init), &meta)?;
    onnx::save(&proto, &args.out).with_context(|| format!("cannot write {}", args.out.display()))?;
    eprintln!(
        "wrote {}: {} styles, {} parameters, {} MACs/pixel",
        args.out.display(),
        generator.styles.len(),
        generator.param_count(),
        generator.macs_per_pixel()
    );
    Ok(())
}

#[cfg(feature = "train")]
fn train(args: atelier_host::train::cli::TrainArgs) -> Result<()> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst))
            .context("cannot install the Ctrl-C handler")?;
    }
    let command_line = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
    let options = args.into_options(stop, command_line)?;
    let summary = atelier_host::train::train(&options)?;
    let last = summary.losses.last().copied().unwrap_or_default();
    eprintln!(
        "trained steps {}..{} in {:.0} s ({:.2} steps/s){}; final G loss {:.4} (style {:.4}, content {:.4}, temporal {:.4})",
        summary.first_step,
        summary.last_step,
        summary.seconds,
        summary.steps_per_second,
        if summary.interrupted { ", interrupted" } else { "" },
        last.total,
        last.style,
        last.content,
        last.temporal
    );
    eprintln!(
        "model {}\ncheckpoint {}\npreview {}",
        summary.model.display(),
        summary.checkpoint.display(),
        summary.preview.display()
    );
    Ok(())
}

fn stylize(args: StylizeArgs) -> Result<()> {
    use atelier_host::stylize::{Options, stylize_files};
    if let Some(size) = args.size {
        contract::check_size(size.width as usize, size.height as usize)
            .map_err(anyhow::Error::msg)
            .context("--size")?;
    }
    let mut engine = Engine::load(&args.model, EngineOptions::default())?;
    let weights = args.style.weights(engine.styles()).map_err(anyhow::Error::msg).context("--style")?;
    engine.set_style_weights(&weights).context("--style")?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let options = Options {
        strength: args.strength,
        preserve_color: args.preserve_color,
        size: args.size,
        max_side: args.max_side,
    };
    let results = stylize_files(&mut engine, &args.inputs, &args.out, &options);
    let mut failed = 0;
    for (input, result) in &results {
        match result {
            Ok(out) => eprintln!("{} -> {}", input.display(), out.display()),
            Err(e) => {
                failed += 1;
                eprintln!("atelier stylize: {e}");
            }
        }
    }
    if failed > 0 {
        bail!("{failed} of {} images failed", results.len());
    }
    Ok(())
}

fn eval(args: EvalArgs) -> Result<()> {
    let report = atelier_host::eval::evaluate(
        &args.model,
        &args.content,
        &args.styles_dir,
        &args.nets.clone().unwrap_or_else(atelier_host::nets::default_dir),
        &args.out,
    )
    .with_context(|| format!("evaluating {}", args.model.display()))?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    eprintln!(
        "wrote {} and {}",
        args.out.join("report.json").display(),
        args.out.join("contact-sheet.png").display()
    );
    Ok(())
}

fn quantize(args: QuantizeArgs) -> Result<()> {
    if args.out.extension().and_then(|e| e.to_str()) != Some("onnx") {
        bail!("--out {}: the file name must end in .onnx", args.out.display());
    }
    let report = atelier_host::quantize::quantize_file(&args.model, args.mode, &args.compare, &args.out)
        .with_context(|| format!("quantizing {}", args.model.display()))?;
    eprintln!(
        "wrote {} ({}): {} bytes ({:.0}% of {}), {:.1} ms/frame at {} (f32 {:.1}), PSNR {:.1} dB (worst {:.1}) vs f32 on {} images",
        report.out.display(),
        report.mode,
        report.file_bytes,
        100.0 * report.file_bytes as f64 / report.f32_file_bytes as f64,
        report.f32_file_bytes,
        report.ms_per_frame,
        report.size,
        report.f32_ms_per_frame,
        report.psnr_db,
        report.min_psnr_db,
        report.compared_images
    );
    if !report.meets_target() {
        eprintln!(
            "warning: PSNR {:.1} dB (worst case) is below the {:.0} dB target: the quantized model looks different",
            report.min_psnr_db, report.target_psnr_db
        );
    }
    let json = serde_json::to_string_pretty(&report)?;
    println!("{json}");
    if let Some(path) = &args.report {
        std::fs::write(path, json + "\n").with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
