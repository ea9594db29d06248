//! Training for a few dozen steps on tiny crops lowers the losses; checkpoints round-trip and
//! resume; the exported model meets the edge contract.
#![cfg(feature = "train")]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use atelier_edge::{Engine, EngineOptions};
use atelier_host::generator::ResidualKind;
use atelier_host::train::checkpoint::{self, CheckpointState};
use atelier_host::train::critic::Critic;
use atelier_host::train::distill::{DistillOptions, distill};
use atelier_host::train::features::{self, GramKind, LossNet, LossNetKind};
use atelier_host::train::model::TchGenerator;
use atelier_host::train::{LossWeights, StepLosses, Term, TrainOptions, Tune, train};
use atelier_host::{Generator, GeneratorConfig};

/// The repository root: style images in `models/styles`, photos in `data/people`.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn style(file: &str) -> PathBuf {
    repo().join("models/styles").join(file)
}

fn people() -> PathBuf {
    repo().join("data/people")
}

fn options(out: &Path, steps: usize) -> TrainOptions {
    TrainOptions {
        styles: vec![
            ("starry".into(), style("vangogh_starry_night.jpg")),
            ("scream".into(), style("munch_the_scream.jpg")),
        ],
        content: people(),
        out: out.to_path_buf(),
        steps,
        size: 48,
        batch: 2,
        seed: 3,
        threads: 2,
        resume: None,
        init_from: None,
        device: tch::Device::Cpu,
        weights: LossWeights::default(),
        tune: vec![],
        lr: 2e-3,
        preview_every: 20,
        checkpoint_every: 20,
        time_limit: None,
        generator: GeneratorConfig::default(),
        loss_net: LossNetKind::Lite0,
        nets_dir: atelier_host::nets::default_dir(),
        gram: GramKind::Plain,
        progress: false,
        stop: Arc::new(AtomicBool::new(false)),
        command_line: "test".into(),
    }
}

fn mean(losses: &[StepLosses], f: impl Fn(&StepLosses) -> f64) -> f64 {
    losses.iter().map(f).sum::<f64>() / losses.len() as f64
}

#[test]
fn short_training_lowers_losses_and_exports_a_contract_model() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tiny.onnx");
    let summary = train(&options(&out, 60)).unwrap();
    assert_eq!(summary.last_step, 60);
    let (first, last) = (&summary.losses[..10], &summary.losses[50..]);
    let style = (mean(first, |l| l.style), mean(last, |l| l.style));
    assert!(style.1 < 0.8 * style.0, "style loss did not fall: {style:?}");
    let perceptual = |l: &StepLosses| l.total - LossWeights::default().adversarial * l.adversarial;
    let total = (mean(first, perceptual), mean(last, perceptual));
    assert!(total.1 < total.0, "generator objective did not fall: {total:?}");

    let engine = Engine::load(&out, EngineOptions::default()).unwrap();
    assert_eq!(engine.styles(), ["starry", "scream"]);
    assert_eq!(
        engine.info().style_sources.as_deref(),
        Some(&["vangogh_starry_night.jpg".to_string(), "munch_the_scream.jpg".to_string()][..])
    );
    assert!(summary.preview.exists() && dir.path().join("tiny.losses.csv").exists());

    // The checkpoint holds exactly the exported weights.
    let spec = Generator::new(GeneratorConfig::default(), vec!["starry".into(), "scream".into()]).unwrap();
    let mut fresh = TchGenerator::new(spec.clone(), &spec.init_weights(99), tch::Device::Cpu);
    let mut critic = Critic::new(2, tch::Device::Cpu);
    let expected = CheckpointState {
        step: 0,
        seed: 3,
        size: 48,
        styles: vec!["starry".into(), "scream".into()],
        style_sources: vec![],
        generator: GeneratorConfig::default(),
        seconds: 0.0,
        commands: vec![],
    };
    let state = checkpoint::load(&summary.checkpoint, &expected, &mut fresh.vs, &mut critic.vs).unwrap();
    assert_eq!(state.step, 60);
    let exported = atelier_edge::contract::read(&out).unwrap();
    let from_ckpt =
        atelier_host::onnx::generator_to_proto(&spec, &fresh.weights(), &f32_meta(48, "")).unwrap();
    let init = |p: &tract_onnx::pb::ModelProto| p.graph.as_ref().unwrap().initializer.clone();
    assert_eq!(init(&exported), init(&from_ckpt));

    // The trained export passes the same ONNX peer check as the shipped models.
    peer_check(&out);

    // Resuming continues from the checkpoint's step.
    let mut resumed = options(&out, 65);
    resumed.resume = Some(summary.checkpoint.clone());
    resumed.command_line = "second stage".into();
    let again = train(&resumed).unwrap();
    assert_eq!((again.first_step, again.last_step), (60, 65));
    // ... and the model records both stages' commands.
    let meta = atelier_edge::contract::read(&out).unwrap().metadata_props;
    let trained_with = &meta.iter().find(|p| p.key == "atelier.trained_with").unwrap().value;
    assert!(
        trained_with.contains("65 steps") && trained_with.ends_with(": test && second stage"),
        "{trained_with}"
    );
}

/// Writes a model of the shipped v2 kind (reflection padding after up-sampling, so written
/// unfused) with styles starry and scream and weights drawn with `seed`; returns its weights.
fn write_v2_model(path: &Path, seed: u64) -> atelier_host::generator::Weights {
    let names: Vec<String> = vec!["starry".into(), "scream".into()];
    let old = Generator::new(GeneratorConfig { decoder_padding: None, ..GeneratorConfig::default() }, names)
        .unwrap();
    let weights = old.init_weights(seed);
    let meta = f32_meta(48, "the old recipe");
    let proto = atelier_host::onnx::generator_to_proto(&old, &weights, &meta).unwrap();
    atelier_host::onnx::save(&proto, path).unwrap();
    weights
}

#[test]
fn init_from_starts_from_a_model_files_weights() {
    let dir = tempfile::tempdir().unwrap();
    let old_path = dir.path().join("old.onnx");
    let weights = write_v2_model(&old_path, 4);

    // One step at a vanishing learning rate: the new (edge, fused) model holds the same weights.
    let out = dir.path().join("new.onnx");
    let mut o = options(&out, 1);
    (o.init_from, o.lr, o.command_line) = (Some(old_path.clone()), 1e-9, "fine-tune".into());
    train(&o).unwrap();
    let new = Generator::new(GeneratorConfig::default(), vec!["starry".into(), "scream".into()]).unwrap();
    let written = atelier_edge::contract::read(&out).unwrap();
    let back = atelier_host::onnx::read_weights(&written, &new).unwrap();
    for (name, p) in &weights {
        let worst = p.data.iter().zip(&back[name].data).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(worst < 1e-4, "{name}: moved by {worst}");
    }
    let trained_with =
        &written.metadata_props.iter().find(|p| p.key == "atelier.trained_with").unwrap().value;
    assert!(trained_with.contains("[init from") && trained_with.contains("the old recipe"), "{trained_with}");

    // Another pack's file is refused, naming it.
    let mut o = options(&out, 1);
    o.styles.reverse();
    o.init_from = Some(old_path);
    let err = format!("{:#}", train(&o).unwrap_err());
    assert!(err.contains("old.onnx") && err.contains("styles"), "{err}");
}

#[test]
fn distillation_moves_a_model_to_the_fused_decoder() {
    let dir = tempfile::tempdir().unwrap();
    let teacher = dir.path().join("teacher.onnx");
    write_v2_model(&teacher, 6);
    let options = |out: &Path, generator: GeneratorConfig| DistillOptions {
        teacher: teacher.clone(),
        content: people(),
        out: out.to_path_buf(),
        generator,
        steps: 80,
        size: 48,
        batch: 2,
        seed: 1,
        threads: 2,
        lr: 1e-4,
        lr_decay: false,
        w_bottleneck: 0.1,
        time_limit: None,
        command_line: "distill test".into(),
    };
    let out = dir.path().join("student.onnx");
    let summary = distill(&options(&out, GeneratorConfig::default())).unwrap();
    assert_eq!(summary.steps, 80);
    // Edge padding changes the borders; distilling must not carry the student far from the
    // teacher (it does not reliably bring it closer either: docs/training.md).
    assert!(summary.first_difference > 0.0, "edge padding changed nothing: {summary:?}");
    assert!(summary.last_difference < 2.0 * summary.first_difference, "{summary:?}");
    let written = atelier_edge::contract::read(&out).unwrap();
    assert_eq!(atelier_host::onnx::generator_config(&written), Some(GeneratorConfig::default()));
    assert!(written.graph.as_ref().unwrap().node.iter().any(|n| n.op_type == "DepthToSpace"));
    let trained_with =
        &written.metadata_props.iter().find(|p| p.key == "atelier.trained_with").unwrap().value;
    assert!(
        trained_with.starts_with("the old recipe && ") && trained_with.ends_with("distill test"),
        "{trained_with}"
    );
    peer_check(&out);

    assert_eq!(summary.fresh, 0, "the same widths: every parameter is the teacher's");

    // Other widths: what keeps its shape starts as the teacher's (enc2, the blocks, dec0 and the
    // norms of the stages whose width is kept), the narrowed ½-resolution stages start fresh.
    let narrow =
        GeneratorConfig { encoder: vec![8, 32, 64], decoder: vec![32, 8], ..GeneratorConfig::default() };
    let summary = distill(&options(&out, narrow.clone())).unwrap();
    // enc0 and dec1: conv weight and bias, norm scale and shift; enc1's and out.conv's weights.
    assert_eq!(summary.fresh, 10, "{summary:?}");
    assert!(summary.from_teacher > 30, "{summary:?}");
    let written = atelier_edge::contract::read(&out).unwrap();
    assert_eq!(atelier_host::onnx::generator_config(&written), Some(narrow));
}

#[test]
fn distillation_moves_a_model_to_lighter_residual_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let teacher = dir.path().join("teacher.onnx");
    let teacher_weights = write_v2_model(&teacher, 7);
    let student = GeneratorConfig {
        residual: ResidualKind::Separable,
        residual_blocks: 2,
        ..GeneratorConfig::default()
    };
    let options = |out: &Path, steps: usize, lr: f64| DistillOptions {
        teacher: teacher.clone(),
        content: people(),
        out: out.to_path_buf(),
        generator: student.clone(),
        steps,
        size: 48,
        batch: 2,
        seed: 3,
        threads: 2,
        lr,
        lr_decay: true,
        w_bottleneck: 0.1,
        time_limit: None,
        command_line: "distill separable".into(),
    };
    let spec = Generator::new(student.clone(), vec!["starry".into(), "scream".into()]).unwrap();
    let weights_of = |path: &Path| {
        let written = atelier_edge::contract::read(path).unwrap();
        assert_eq!(atelier_host::onnx::generator_config(&written), Some(student.clone()));
        atelier_host::onnx::read_weights(&written, &spec).unwrap()
    };

    // At the start: the teacher outside the blocks, and new blocks that pass their input through.
    let start = dir.path().join("start.onnx");
    distill(&options(&start, 1, 1e-12)).unwrap();
    let w = weights_of(&start);
    for name in ["enc0.conv.weight", "dec1.norm.gamma", "out.conv.weight"] {
        let (a, b) = (&w[name].data, &teacher_weights[name].data);
        assert!(a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6), "{name} is not the teacher's");
    }
    for block in ["res0", "res1"] {
        assert!(w[&format!("{block}.norm1.gamma")].data.iter().all(|v| v.abs() < 1e-6));
        assert!(w.contains_key(&format!("{block}.conv0.dw.weight")));
    }

    // Training brings it towards the teacher (0.074 -> 0.058 here; slow at 48×48 from a random teacher).
    let out = dir.path().join("student.onnx");
    let summary = distill(&options(&out, 200, 2e-3)).unwrap();
    assert!(summary.last_difference < 0.9 * summary.first_difference, "{summary:?}");
    weights_of(&out);
    peer_check(&out);
}

#[test]
fn bad_inputs_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.onnx");
    let mut o = options(&out, 1);
    o.content = dir.path().to_path_buf();
    let err = train(&o).unwrap_err().to_string();
    assert!(err.contains("no images found"), "{err}");

    let mut o = options(&out, 1);
    o.size = 512;
    o.styles = vec![("tiny".into(), style("texture_zigzag_colorful.jpg"))];
    let err = train(&o).unwrap_err().to_string();
    assert!(
        err.contains("texture_zigzag_colorful.jpg") && err.contains("smaller than the crop size"),
        "{err}"
    );

    let bad = dir.path().join("bad.jpg");
    std::fs::write(&bad, b"not a jpeg").unwrap();
    let mut o = options(&out, 1);
    o.styles = vec![("bad".into(), bad)];
    let err = format!("{:#}", train(&o).unwrap_err());
    assert!(err.contains("bad.jpg") && err.contains("cannot read image"), "{err}");
}

/// Runs `scripts/onnx_peer_check.py` (onnx.checker full_check + onnxruntime vs tract) on `model`.
fn peer_check(model: &Path) {
    let venv = std::env::var_os("ATELIER_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/atelier/venv"));
    let python = venv.join("bin/python");
    assert!(
        python.exists(),
        "{} missing: run scripts/python-env.sh (scripts/test.sh does)",
        python.display()
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/onnx_peer_check.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_atelier"))
        .arg(model)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("2 passed, 0 failed"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `--tune` reaches the objective: with every tunable term of every style tuned to zero, only
/// total variation is left of what was minimised, while the log keeps the untuned terms.
#[test]
fn tuned_terms_weigh_in_the_objective() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tuned.onnx");
    let mut opts = options(&out, 3);
    opts.tune = ["starry", "scream"]
        .into_iter()
        .flat_map(|style| {
            [Term::Adversarial, Term::Style, Term::Content, Term::Luminance, Term::Temporal]
                .map(|term| Tune { style: style.into(), term, factor: 0.0 })
        })
        .collect();
    for step in train(&opts).unwrap().losses {
        assert!(step.style > 0.0 && step.content > 0.0 && step.temporal > 0.0, "{step:?}");
        assert!((step.total - opts.weights.tv * step.tv).abs() < 1e-6, "{step:?}");
    }

    let mut o = options(&out, 1);
    o.tune = vec![Tune { style: "nosuch".into(), term: Term::Style, factor: 0.5 }];
    let err = train(&o).unwrap_err().to_string();
    assert!(err.contains("nosuch") && err.contains("starry, scream"), "{err}");
}

#[test]
fn a_time_limit_ends_the_run_like_its_last_step() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("timed.onnx");
    let mut opts = options(&out, 1000);
    opts.time_limit = Some(std::time::Duration::ZERO);
    let summary = train(&opts).unwrap();
    assert_eq!(summary.last_step, 1);
    assert_eq!(checkpoint::read_state(&summary.checkpoint).unwrap().step, 1);
    atelier_edge::contract::read(&out).unwrap();
}

/// Each run in its own `atelier train` process: libtorch's generator is global, so runs sharing a
/// test process (tests run in parallel) would draw from each other's stream.
#[test]
fn the_seed_makes_runs_repeatable() {
    let dir = tempfile::tempdir().unwrap();
    let style = style("munch_the_scream.jpg");
    let run = |name: &str, seed: u64| {
        let out = dir.path().join(name);
        let status = std::process::Command::new(env!("CARGO_BIN_EXE_atelier"))
            .arg("train")
            .arg(format!("--style=scream={}", style.display()))
            .arg("--content")
            .arg(people())
            .arg("--out")
            .arg(&out)
            .args(["--steps", "3", "--size", "32", "--batch", "2", "--threads", "1", "--quiet"])
            .args(["--seed", &seed.to_string()])
            .output()
            .unwrap();
        assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
        atelier_edge::contract::read(&out).unwrap().graph.unwrap().initializer
    };
    let a = run("a.onnx", 5);
    assert_eq!(a, run("b.onnx", 5), "same seed, different weights");
    assert_ne!(a, run("c.onnx", 6), "different seeds, same weights");
}

/// The trainer's interpretation of the layer list (libtorch) and the exported graph (tract) compute
/// the same function, for both kinds of residual block (grouped convolutions included) and both
/// heads (patchifying convolutions and `DepthToSpace` included).
#[test]
fn libtorch_and_the_exported_model_agree() {
    let configs = [
        GeneratorConfig::default(),
        GeneratorConfig { residual: ResidualKind::Separable, ..GeneratorConfig::default() },
        GeneratorConfig::legacy(),
        GeneratorConfig {
            encoder: vec![16, 32],
            decoder: vec![16],
            head: atelier_host::generator::Head::Quarter,
            ..GeneratorConfig::default()
        },
    ];
    for config in configs {
        let spec = Generator::new(config.clone(), vec!["a".into(), "b".into(), "c".into()]).unwrap();
        let weights = spec.init_weights(11);
        let tch_gen = TchGenerator::new(spec.clone(), &weights, tch::Device::Cpu);
        let meta = f32_meta(64, "test");
        let proto = atelier_host::onnx::generator_to_proto(&spec, &weights, &meta).unwrap();
        let bytes = prost::Message::encode_to_vec(&proto);
        let mut engine = Engine::from_bytes(&bytes, "agree", EngineOptions::default()).unwrap();
        engine.set_style_weights(&[0.0, 1.0, 0.0]).unwrap();

        let (h, w) = (32usize, 48usize);
        let image: Vec<f32> = (0..3 * h * w).map(|i| ((i * 7919) % 1000) as f32 / 1000.0).collect();
        let input = tract_onnx::prelude::tensor1(&image).into_shape(&[1, 3, h, w]).unwrap();
        let ours = engine.run_tensor(input).unwrap();
        let ours = ours.try_as_plain_ram().unwrap().as_slice::<f32>().unwrap().to_vec();

        let x = tch::Tensor::from_slice(&image).view([1, 3, h as i64, w as i64]);
        let style = tch::Tensor::from_slice(&[0f32, 1.0, 0.0]).view([1, 3]);
        let theirs = tch::no_grad(|| tch_gen.forward(&x, &style)).flatten(0, -1);
        let theirs = Vec::<f32>::try_from(&theirs).unwrap();
        assert_eq!(ours.len(), theirs.len());
        let max = ours.iter().zip(&theirs).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(max < 1e-4, "{config:?}: tract and libtorch differ by {max}");
    }
}

/// Our EfficientNet-Lite0 (folded BatchNorm, TF "same" padding, input scaling) reproduces the
/// taps `scripts/feature-nets.sh` computed in PyTorch, on an even and an odd image size.
#[test]
fn lite0_features_match_the_pytorch_reference() {
    let nets = atelier_host::nets::default_dir();
    let net = features::Lite0::load(&nets.join(atelier_host::nets::LITE0_FILE), tch::Device::Cpu).unwrap();
    let reference: std::collections::HashMap<String, tch::Tensor> =
        tch::Tensor::read_safetensors(nets.join("efficientnet-lite0-reference.safetensors"))
            .expect("run scripts/feature-nets.sh")
            .into_iter()
            .collect();
    for prefix in ["", "odd_"] {
        let input = &reference[&format!("{prefix}input")];
        let taps = tch::no_grad(|| net.features(input));
        assert_eq!(taps.len(), 4);
        for (i, tap) in taps.iter().enumerate() {
            let want = &reference[&format!("{prefix}tap{i}")];
            assert_eq!(tap.size(), want.size(), "{prefix}tap{i}");
            let diff = (tap - want).abs().max().double_value(&[]);
            let scale = want.abs().max().double_value(&[]);
            assert!(diff < 1e-3 * scale.max(1.0), "{prefix}tap{i}: differs by {diff} (max {scale})");
        }
    }
    assert_eq!(net.content_layer(), 2);
}

/// The metadata of an f32 model written by a test.
fn f32_meta(train_size: u32, trained_with: &str) -> atelier_host::onnx::ModelMeta {
    atelier_host::onnx::ModelMeta {
        train_size,
        quantization: atelier_edge::contract::Quantization::F32,
        trained_with: trained_with.into(),
        style_sources: None,
    }
}
