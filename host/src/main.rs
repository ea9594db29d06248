//! `atelier`: the workstation tool. See `atelier --help`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use atelier_edge::Size;
use atelier_edge::contract::{self, Quantization};
use atelier_host::generator::{Generator, GeneratorConfig};
use atelier_host::onnx::{self, ModelMeta};
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
    /// Write a freshly initialised generator as an ONNX model.
    Export(ExportArgs),
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
    /// Encoder widths, one per stride-2 stage.
    #[arg(long, value_delimiter = ',', default_value = "12,24,48")]
    encoder: Vec<usize>,
    /// Decoder widths, one fewer than the encoder's.
    #[arg(long, value_delimiter = ',', default_value = "24,12")]
    decoder: Vec<usize>,
    /// Residual blocks at the bottleneck.
    #[arg(long, default_value_t = 3)]
    residual_blocks: usize,
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
    }
}

fn export(args: ExportArgs) -> Result<()> {
    let styles: Vec<String> = args.styles.iter().map(|s| s.trim().to_string()).collect();
    let config = GeneratorConfig {
        encoder: args.encoder,
        residual_blocks: args.residual_blocks,
        decoder: args.decoder,
    };
    let generator = Generator::new(config, styles).context("--styles/--encoder/--decoder")?;
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
