//! The pipeline when its source goes away and comes back (a camera unplugged), with a scripted
//! source: the output keeps getting pictures (the "disconnected" notice over the last one), and
//! live frames follow when the source returns. The device lab checks the same on a real camera
//! and screen; this checks the logic on any machine.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use atelier_edge::frame::{Frame, Size};
use atelier_edge::imageops::Fit;
use atelier_edge::overlay::OverlayOptions;
use atelier_edge::pipeline::{self, PipelineConfig, StopHandle};
use atelier_edge::sink::{Sink, SinkError};
use atelier_edge::source::{Source, SourceError, SourceStats};
use atelier_edge::style::StyleMix;
use atelier_edge::{Engine, EngineOptions};
use image::RgbImage;

/// Live for `live` frames, away for `away`, then live again.
struct Flaky {
    seq: u64,
    live: u64,
    away: Duration,
    away_since: Option<Instant>,
    back: bool,
}

impl Source for Flaky {
    fn next_frame(&mut self) -> Result<Frame, SourceError> {
        std::thread::sleep(Duration::from_millis(20));
        if self.seq == self.live && !self.back {
            let since = *self.away_since.get_or_insert_with(Instant::now);
            if since.elapsed() < self.away {
                return Err(SourceError::Unavailable("camera disconnected: unplugged".into()));
            }
            self.back = true;
        }
        self.seq += 1;
        Ok(Frame::new(
            self.seq,
            RgbImage::from_pixel(64, 48, image::Rgb([(self.seq * 20 % 256) as u8, 120, 200])),
        ))
    }
    fn describe(&self) -> String {
        "flaky".into()
    }
    fn is_live(&self) -> bool {
        true
    }
    fn stats(&self) -> SourceStats {
        SourceStats { disconnects: self.away_since.is_some() as u64, ..SourceStats::default() }
    }
}

/// Records the sequence number and time of every picture.
struct Recorder(Arc<Mutex<Vec<(u64, Instant)>>>);

impl Sink for Recorder {
    fn write(&mut self, frame: Frame) -> Result<(), SinkError> {
        self.0.lock().unwrap().push((frame.seq, Instant::now()));
        Ok(())
    }
    fn describe(&self) -> String {
        "recorder".into()
    }
}

#[test]
fn a_source_away_shows_a_notice_then_live_frames_again() {
    let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/default.onnx");
    let engine = Engine::load(&model, EngineOptions::default()).unwrap();
    let style = StyleMix::single(&engine.styles()[0]);
    let written = Arc::new(Mutex::new(Vec::new()));
    let source = Flaky { seq: 0, live: 5, away: Duration::from_millis(1500), away_since: None, back: false };
    let config = PipelineConfig {
        model_size: Size::new(32, 24),
        output_size: Size::new(64, 48),
        fit: Fit::Cover,
        fps: 30.0,
        frames: Some(12),
        mirror: true,
        overlay: OverlayOptions::default(),
        painter: Default::default(),
        parallel_frames: 1,
        notice: None,
    };
    let report = pipeline::run(
        Box::new(source),
        engine,
        Box::new(Recorder(written.clone())),
        &config,
        &style,
        StopHandle::new(),
        None,
        None,
    )
    .unwrap();
    let written = written.lock().unwrap();
    // Notices repeat the last live picture's sequence number; live pictures carry new ones.
    let repeats = written.windows(2).filter(|w| w[1].0 <= w[0].0).count();
    assert!(repeats >= 3, "expected the notice redrawn while away (every 250 ms): {written:?}");
    assert!(written.iter().any(|&(seq, _)| seq > 5), "no live frame after the source returned");
    assert!(report.source_unavailable_seconds >= 1.2, "{report:?}");
    assert_eq!(report.source.disconnects, 1);
    // Never silent for long: the output got a picture at least every half second throughout.
    let gaps = written.windows(2).map(|w| w[1].1 - w[0].1).max().unwrap();
    assert!(gaps < Duration::from_millis(800), "the screen went {gaps:?} without a picture");
}
