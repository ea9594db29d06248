//! Export a generator with the host, run it through the edge pipeline on the held-out people
//! photos, and check what comes out: size, mirroring, overlay, and that styles differ.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use atelier_edge::imageops::{Fit, Scaler, flip_horizontal};
use atelier_edge::overlay::{self, OverlayOptions};
use atelier_edge::pipeline::{self, PipelineConfig, StopHandle};
use atelier_edge::sink::SinkSpec;
use atelier_edge::source::{SourceOptions, SourceSpec};
use atelier_edge::style::StyleMix;
use atelier_edge::{Engine, EngineOptions, Size};
use image::RgbImage;

const CAPTURE: Size = Size::new(160, 120);
const MODEL: Size = Size::new(96, 72);
const OUTPUT: Size = Size::new(192, 144);
const FRAMES: u64 = 6;

fn source_options() -> SourceOptions {
    SourceOptions { size: CAPTURE, hold_frames: 1, fps: 30.0 }
}

fn config() -> PipelineConfig {
    PipelineConfig {
        model_size: MODEL,
        output_size: OUTPUT,
        fit: Fit::Cover,
        fps: 60.0,
        frames: Some(FRAMES),
        mirror: true,
        overlay: OverlayOptions { show_style: true, show_fps: false },
        painter: Default::default(),
        parallel_frames: 2,
        notice: None,
    }
}

/// Runs the pipeline and returns the frames written, by source sequence number.
fn run(model: &Path, style: &str, out: &Path) -> BTreeMap<u64, RgbImage> {
    let content = common::repo_data().join("people");
    let source = SourceSpec::Images(content).open(source_options()).unwrap();
    let sink = SinkSpec::Png(out.to_path_buf()).open(Default::default()).unwrap();
    let engine = Engine::load(model, EngineOptions::default()).unwrap();
    let style: StyleMix = style.parse().unwrap();
    let report =
        pipeline::run(source, engine, sink, &config(), &style, StopHandle::new(), None, None).unwrap();
    assert_eq!(report.frames_out, FRAMES);
    std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let name = p.file_stem().unwrap().to_str().unwrap().to_string();
            let seq: u64 = name.strip_prefix("frame-").unwrap().parse().unwrap();
            (seq, image::open(&p).unwrap().to_rgb8())
        })
        .collect()
}

/// What the pipeline should show for source frame `seq`, computed step by step outside it.
fn expected(model: &Path, style: &str, seq: u64, mirror: bool) -> RgbImage {
    let content = common::repo_data().join("people");
    let mut source = SourceSpec::Images(content).open(source_options()).unwrap();
    let frame = (0..=seq).map(|_| source.next_frame().unwrap()).last().unwrap();
    let mut scaler = Scaler::new();
    let mut small = scaler.resize(&frame.image, MODEL, Fit::Cover);
    if mirror {
        flip_horizontal(&mut small);
    }
    let mut engine = Engine::load(model, EngineOptions::default()).unwrap();
    engine.set_style(style).unwrap();
    scaler.resize(&engine.stylize(&small).unwrap(), OUTPUT, Fit::Stretch)
}

#[test]
fn pipeline_on_people_photos_is_sized_mirrored_labelled_and_styled() {
    let dir = tempfile::tempdir().unwrap();
    let model = common::export(dir.path(), &["ink", "fire"], 11);
    let ink = run(&model, "ink", &dir.path().join("ink"));
    let fire = run(&model, "fire", &dir.path().join("fire"));
    assert_eq!(ink.len() as u64, FRAMES);

    let clear_rows = OUTPUT.height - overlay::style_label_band(OUTPUT.height);
    for (&seq, frame) in ink.iter().take(3) {
        assert_eq!(frame.dimensions(), (OUTPUT.width, OUTPUT.height));
        // Above the overlay the frame is exactly the mirrored stylization (PNG is lossless).
        let mirrored = common::mean_abs_diff(frame, &expected(&model, "ink", seq, true), clear_rows);
        let unmirrored = common::mean_abs_diff(frame, &expected(&model, "ink", seq, false), clear_rows);
        assert!(mirrored < 0.5, "frame {seq}: {mirrored} from the mirrored expectation");
        assert!(
            unmirrored > 5.0 * mirrored.max(0.5),
            "frame {seq} is not mirrored: {unmirrored} vs {mirrored}"
        );
        // The overlay band carries the style name in white text.
        let white = (clear_rows..OUTPUT.height)
            .flat_map(|y| (0..OUTPUT.width).map(move |x| (x, y)))
            .filter(|&(x, y)| frame.get_pixel(x, y).0 == [255, 255, 255])
            .count();
        assert!(white > 30, "frame {seq}: no overlay text ({white} white pixels)");
    }

    // The same source frames under two styles of one model look different.
    let common_seqs: Vec<u64> = ink.keys().filter(|s| fire.contains_key(s)).copied().collect();
    let seqs = if common_seqs.is_empty() { vec![*fire.keys().next().unwrap()] } else { common_seqs };
    for seq in seqs {
        let a = ink.get(&seq).cloned().unwrap_or_else(|| expected(&model, "ink", seq, true));
        let diff = common::mean_abs_diff(&a, &fire[&seq], clear_rows);
        assert!(diff > 3.0, "frame {seq}: styles differ by only {diff}");
    }
}
