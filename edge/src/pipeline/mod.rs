//! The mirror pipeline: capture → stylize → output on three threads.
//!
//! ```text
//!  capture thread            inference thread           output thread
//!  source.next_frame()  ──▶  engine.stylize()      ──▶  scale to the picture (fill or fit)
//!  resize to model size slot  (style commands)     slot  overlay, upright
//!  mirror flip                                           sink.write() (screens rotate)
//! ```
//!
//! The stages are joined by [`LatestSlot`]s: a slow stage drops frames instead of building
//! latency. Work is split so a 4-core Pi keeps one core on tract and the others on image work.
//! When the source is away (a camera unplugged) the capture thread records why, and the output
//! thread shows the last picture dimmed with the reason until frames return.
//!
//! Control (serial, HTTP) reaches a running pipeline only through its [`link`]: [`Command`]s in,
//! a [`Status`] snapshot out. Commands are applied between frames by the inference thread.

pub mod attract;
mod inference;
pub mod link;
mod painters;
pub mod slot;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub use inference::ModeChange;
pub use link::{Command, Link, Remote, Status, StatusBoard, link};
pub use slot::{LatestSlot, Taken};

use crate::engine::{Engine, EngineError};
use crate::frame::{Frame, Size};
use crate::imageops::{Fit, Scaler, flip_horizontal};
use crate::overlay::{self, OverlayOptions};
use crate::person::Painter;
use crate::presence::Watcher;
use crate::sink::{Sink, SinkError};
use crate::source::{Source, SourceError, SourceStats};
use crate::style::StyleMix;

/// Pipeline settings.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineConfig {
    /// Size the model runs at (multiple of 8).
    pub model_size: Size,
    /// Size of the pictures handed to the sink (a screen's, upright).
    pub output_size: Size,
    /// How the stylized frame is fitted to the picture when their shapes differ.
    pub fit: Fit,
    /// Frame rate that non-live sources (files, demo, test pattern) are paced to.
    pub fps: f32,
    /// Stop after this many output frames.
    pub frames: Option<u64>,
    /// Flip left to right, as a mirror does.
    pub mirror: bool,
    pub overlay: OverlayOptions,
    /// The style on the whole picture, the person or the background (needs a watcher's mask).
    pub painter: Painter,
    /// Frames stylized at once, each by its own painter thread and copy of the engine.
    pub parallel_frames: usize,
    /// A line shown over the picture for the first [`NOTICE_SHOWN`] (a config that could not be
    /// used), so the problem is on the screen, not only in the journal.
    pub notice: Option<String>,
}

/// How long [`PipelineConfig::notice`] stays on the screen.
pub const NOTICE_SHOWN: Duration = Duration::from_secs(60);

/// Why the pipeline stopped with an error. The message includes the cause, which is therefore
/// not also its `source()` (`{:#}` would print it twice).
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("input: {0}")]
    Source(SourceError),
    #[error("output: {0}")]
    Sink(SinkError),
    #[error("engine: {0}")]
    Engine(EngineError),
    #[error("the {0} thread panicked")]
    Panic(&'static str),
}

impl From<SourceError> for PipelineError {
    fn from(e: SourceError) -> Self {
        PipelineError::Source(e)
    }
}

impl From<SinkError> for PipelineError {
    fn from(e: SinkError) -> Self {
        PipelineError::Sink(e)
    }
}

impl From<EngineError> for PipelineError {
    fn from(e: EngineError) -> Self {
        PipelineError::Engine(e)
    }
}

/// What a run did, for `--report` and benchmarks.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Report {
    pub frames_captured: u64,
    pub frames_stylized: u64,
    pub frames_out: u64,
    /// Frames overwritten while the inference thread was busy.
    pub dropped_before_inference: u64,
    /// Stylized frames overwritten while the output thread was busy.
    pub dropped_before_output: u64,
    pub seconds: f64,
    pub output_fps: f64,
    /// Per captured frame: decode and convert to RGB, resize to the model size, flip.
    pub capture_ms_mean: f64,
    pub inference_ms_mean: f64,
    pub inference_ms_max: f64,
    /// Per output frame: scale to the picture, overlay, present (rotation, pixel format).
    pub output_ms_mean: f64,
    /// From the camera's buffer timestamp (or the frame's creation) to the sink, averaged.
    pub latency_ms_mean: f64,
    /// Frames the source could not decode, disconnects, frames skipped at the device.
    pub source: SourceStats,
    /// Seconds the source was unavailable (camera unplugged or silent).
    pub source_unavailable_seconds: f64,
    /// Presence looks (segmenter, motion, sensor) and their mean time.
    pub looks: u64,
    pub look_ms_mean: f64,
    /// Every change of presence mode (active, attract, asleep).
    pub modes: Vec<ModeChange>,
}

/// Why the source is not delivering and since when, shared from the capture to the output thread.
type SourceStatus = Mutex<Option<Away>>;

#[derive(Debug, Clone)]
struct Away {
    why: String,
    since: Instant,
}

/// How often the output thread redraws the "camera disconnected" screen.
const NOTICE_PERIOD: Duration = Duration::from_millis(250);

/// A stylized frame on its way to the output thread.
struct Stylized {
    frame: Frame,
    style: Arc<str>,
    /// A line to show over the picture (attract mode's invitation).
    caption: Option<Arc<str>>,
}

/// Settings the stages share while the pipeline runs, each read by the stage that applies it.
struct Switches {
    mirror: AtomicBool,
    /// The operator's display setting.
    display: AtomicBool,
    /// Nobody there for long, or closed: the screen sleeps and the camera only watches.
    asleep: AtomicBool,
    /// The source is away (the inference thread keeps the mirror awake to show why).
    camera_away: AtomicBool,
}

/// How often the camera is looked at while the mirror sleeps: enough to wake within a second.
const WATCH_PERIOD: Duration = Duration::from_millis(200);

/// Stops a running pipeline from another thread (Ctrl-C, a test).
#[derive(Debug, Clone, Default)]
pub struct StopHandle(Arc<AtomicBool>);

impl StopHandle {
    pub fn new() -> StopHandle {
        StopHandle::default()
    }
    pub fn stop(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Runs until `config.frames` frames are out, `stop` is triggered, or a stage fails. `watcher`
/// (presence, the person mask) is optional: without it the mirror is always active and paints
/// the whole picture.
#[allow(clippy::too_many_arguments)]
pub fn run(
    mut source: Box<dyn Source>,
    mut engine: Engine,
    mut sink: Box<dyn Sink>,
    config: &PipelineConfig,
    style: &StyleMix,
    stop: StopHandle,
    link: Option<Link>,
    watcher: Option<Watcher>,
) -> Result<Report, PipelineError> {
    engine.set_style_weights(&style.weights(engine.styles()).map_err(EngineError::Style)?)?;
    engine.prepare(config.model_size)?;
    let link = link.unwrap_or_else(|| link::link().1);
    let switches = Arc::new(Switches {
        mirror: AtomicBool::new(config.mirror),
        display: AtomicBool::new(true),
        asleep: AtomicBool::new(false),
        camera_away: AtomicBool::new(false),
    });
    link.started(&engine, style, config.mirror);
    let board = link.board();
    let to_model: Arc<LatestSlot<Frame>> = Arc::new(LatestSlot::new());
    let to_output: Arc<LatestSlot<Stylized>> = Arc::new(LatestSlot::new());
    let stats = Arc::new(Mutex::new(Report::default()));
    let status: Arc<SourceStatus> = Arc::new(Mutex::new(None));
    let started = Instant::now();
    let shutdown = {
        let (a, b, stop) = (to_model.clone(), to_output.clone(), stop.clone());
        move || {
            stop.stop();
            a.close();
            b.close();
        }
    };

    let capture = {
        let (slot, stop, shutdown, stats, status, config, switches, board) = (
            to_model.clone(),
            stop.clone(),
            shutdown.clone(),
            stats.clone(),
            status.clone(),
            config.clone(),
            switches.clone(),
            board.clone(),
        );
        thread::Builder::new().name("capture".into()).spawn(move || {
            let result =
                capture_loop(source.as_mut(), &slot, &stop, &config, &stats, &status, &switches, &board);
            shutdown();
            result
        })
    }
    .expect("spawn capture thread");

    let inference = {
        let (input, output, shutdown, stats, label, switches, painter, board) = (
            to_model.clone(),
            to_output.clone(),
            shutdown.clone(),
            stats.clone(),
            style.label(),
            switches.clone(),
            config.painter.clone(),
            board.clone(),
        );
        let attract = attract::AttractShow::new(config.model_size);
        let parallel_frames = config.parallel_frames;
        thread::Builder::new().name("inference".into()).spawn(move || {
            let out = painters::InOrder::new(&output);
            let shared = painters::Shared { out: &out, stats: &stats, board: &board, painter: &painter };
            let result = thread::scope(|scope| {
                let (painters, handles) = painters::Painters::start(scope, parallel_frames, &engine, &shared);
                let mut stage = inference::Inference {
                    engine: &mut engine,
                    painters,
                    out: &out,
                    link: &link,
                    board: &board,
                    stats: &stats,
                    switches: &switches,
                    stylize: painter.stylize,
                    watcher,
                    attract,
                    style: label.into(),
                    strength: 1.0,
                    started,
                    last_rotation: Instant::now(),
                };
                let result = stage.run(&input);
                // Hanging up on the painters ends them once their frame is out.
                drop(stage);
                handles.into_iter().fold(result, |first, handle| {
                    let joined = handle
                        .join()
                        .unwrap_or_else(|_| Err(EngineError::Run("a painter thread panicked".into())));
                    first.and(joined)
                })
            });
            shutdown();
            result
        })
    }
    .expect("spawn inference thread");

    let output = {
        let (input, stop, shutdown, stats, status, config, switches, board) = (
            to_output.clone(),
            stop.clone(),
            shutdown.clone(),
            stats.clone(),
            status.clone(),
            config.clone(),
            switches.clone(),
            board.clone(),
        );
        thread::Builder::new().name("output".into()).spawn(move || {
            let result =
                output_loop(sink.as_mut(), &input, &stop, &config, &stats, &status, &switches, &board);
            shutdown();
            result
        })
    }
    .expect("spawn output thread");

    let results = [
        capture.join().map_err(|_| PipelineError::Panic("capture")).and_then(|r| r.map_err(Into::into)),
        inference.join().map_err(|_| PipelineError::Panic("inference")).and_then(|r| r.map_err(Into::into)),
        output.join().map_err(|_| PipelineError::Panic("output")).and_then(|r| r.map_err(Into::into)),
    ];
    for result in results {
        result?;
    }
    let mut report = stats.lock().unwrap_or_else(|e| e.into_inner()).clone();
    report.seconds = started.elapsed().as_secs_f64();
    report.output_fps = report.frames_out as f64 / report.seconds.max(1e-9);
    report.dropped_before_inference = to_model.dropped();
    report.dropped_before_output = to_output.dropped();
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
fn capture_loop(
    source: &mut dyn Source,
    slot: &LatestSlot<Frame>,
    stop: &StopHandle,
    config: &PipelineConfig,
    stats: &Mutex<Report>,
    status: &SourceStatus,
    switches: &Switches,
    board: &link::StatusBoard,
) -> Result<(), SourceError> {
    let period = Duration::from_secs_f32(1.0 / config.fps.max(0.1));
    let mut scaler = Scaler::new();
    let mut next = Instant::now();
    let mut away_since: Option<Instant> = None;
    while !stop.is_stopped() {
        if switches.asleep.load(Ordering::Relaxed) {
            // Asleep: look a few times a second (a camera drops what it captured meanwhile).
            thread::sleep(WATCH_PERIOD);
        } else if !source.is_live() {
            let now = Instant::now();
            if next > now {
                thread::sleep(next - now);
            }
            next = next.max(now) + period;
        }
        let before = source.stats().convert_seconds;
        let t0 = Instant::now();
        let mut frame = match source.next_frame() {
            Ok(frame) => frame,
            Err(SourceError::Unavailable(why)) => {
                // Retrying a camera that went away is progress too: the mirror says why on screen.
                board.beat();
                let since = *away_since.get_or_insert_with(Instant::now);
                board.update(|s| s.camera_away = Some(why.clone()));
                switches.camera_away.store(true, Ordering::Relaxed);
                *status.lock().unwrap_or_else(|e| e.into_inner()) = Some(Away { why, since });
                lock(stats).source = source.stats();
                continue;
            }
            Err(e) => return Err(e),
        };
        // Decode and convert happen inside next_frame, after the wait for the device.
        let convert = Duration::from_secs_f64(source.stats().convert_seconds - before);
        let t1 = Instant::now();
        if let Some(since) = away_since.take() {
            *status.lock().unwrap_or_else(|e| e.into_inner()) = None;
            board.update(|s| s.camera_away = None);
            switches.camera_away.store(false, Ordering::Relaxed);
            lock(stats).source_unavailable_seconds += since.elapsed().as_secs_f64();
        }
        let mut small = scaler.resize(&frame.image, config.model_size, Fit::Cover);
        if switches.mirror.load(Ordering::Relaxed) {
            flip_horizontal(&mut small);
        }
        frame.image = small;
        let ms = if source.is_live() { convert + t1.elapsed() } else { t0.elapsed() }.as_secs_f64() * 1e3;
        {
            let mut s = lock(stats);
            s.frames_captured += 1;
            s.capture_ms_mean += (ms - s.capture_ms_mean) / s.frames_captured as f64;
            s.source = source.stats();
        }
        if !slot.put(frame) {
            break;
        }
    }
    Ok(())
}

fn lock(stats: &Mutex<Report>) -> std::sync::MutexGuard<'_, Report> {
    stats.lock().unwrap_or_else(|e| e.into_inner())
}

#[allow(clippy::too_many_arguments)]
fn output_loop(
    sink: &mut dyn Sink,
    input: &LatestSlot<Stylized>,
    stop: &StopHandle,
    config: &PipelineConfig,
    stats: &Mutex<Report>,
    status: &SourceStatus,
    switches: &Switches,
    board: &link::StatusBoard,
) -> Result<(), SinkError> {
    let mut scaler = Scaler::new();
    let mut fps = FpsMeter::default();
    let mut out = 0u64;
    let mut display_on = true;
    // The last picture before its overlay, kept to show under a "camera disconnected" notice.
    let mut last: Option<Frame> = None;
    let mut showing_notice = false;
    let mut showing_caption = false;
    let started = Instant::now();
    loop {
        let taken = input.take_timeout(NOTICE_PERIOD);
        if matches!(taken, Taken::Item(_)) {
            board.beat();
        }
        let wanted = switches.display.load(Ordering::Relaxed) && !switches.asleep.load(Ordering::Relaxed);
        if wanted != display_on {
            switch_display(sink, wanted, config.output_size)?;
            display_on = wanted;
        }
        if !display_on {
            if matches!(taken, Taken::Closed) || stop.is_stopped() {
                break;
            }
            continue;
        }
        let away = status.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let Stylized { frame, style, caption } = match (taken, away) {
            (Taken::Closed, _) => break,
            // Nothing new, or a frame from before the source went away (still in inference when
            // the camera was unplugged): keep telling why there is no live picture.
            (Taken::TimedOut, Some(away)) => {
                if !present(sink, notice_frame(last.as_ref(), config.output_size, &away.why))? {
                    stop.stop();
                    break;
                }
                showing_notice = true;
                continue;
            }
            (Taken::Item(stale), Some(away)) if stale.frame.captured < away.since => {
                let picture = scaler.resize(&stale.frame.image, config.output_size, config.fit);
                last = Some(Frame { image: picture, ..stale.frame });
                if !present(sink, notice_frame(last.as_ref(), config.output_size, &away.why))? {
                    stop.stop();
                    break;
                }
                showing_notice = true;
                continue;
            }
            (Taken::TimedOut, None) => {
                if stop.is_stopped() {
                    break;
                }
                continue;
            }
            (Taken::Item(item), _) => item,
        };
        let t0 = Instant::now();
        let mut picture =
            Frame { image: scaler.resize(&frame.image, config.output_size, config.fit), ..frame };
        if last.is_none() || out.is_multiple_of(8) {
            last = Some(picture.clone());
        }
        let now = fps.tick();
        overlay::draw(&mut picture.image, config.overlay, &style, now);
        if caption.is_some() != showing_caption {
            showing_caption = caption.is_some();
            // The lab waits for this line to judge the attract show on the screen.
            tracing::info!("{} on screen", if showing_caption { "attract show" } else { "live picture" });
        }
        let notice = config.notice.as_deref().filter(|_| started.elapsed() < NOTICE_SHOWN);
        if let Some(line) = notice.or(caption.as_deref()) {
            overlay::caption(&mut picture.image, line);
        }
        if let Some(now) = now {
            board.update(|s| s.fps = now as f64);
        }
        let captured = picture.captured;
        if !present(sink, picture)? {
            stop.stop();
            break;
        }
        out += 1;
        // The lab and operators read these two lines to know what the screen shows.
        if out == 1 {
            tracing::info!("first frame shown: {}", sink.describe());
        } else if std::mem::take(&mut showing_notice) {
            tracing::info!("live picture is back");
        }
        {
            let mut s = lock(stats);
            s.frames_out = out;
            let ms = t0.elapsed().as_secs_f64() * 1e3;
            s.output_ms_mean += (ms - s.output_ms_mean) / out as f64;
            let latency = captured.elapsed().as_secs_f64() * 1e3;
            s.latency_ms_mean += (latency - s.latency_ms_mean) / out as f64;
        }
        if config.frames.is_some_and(|n| out >= n) || stop.is_stopped() {
            break;
        }
    }
    Ok(())
}

/// Turns the screen off (its own power control where it has one, else a black picture) or
/// back on; the next frame after "on" repaints it. Waking is checked: a screen that does not
/// report itself on is asked again (the "turns off but never back on" failure), and a screen
/// that still refuses is an error worth a log line, not a silent black mirror.
fn switch_display(sink: &mut dyn Sink, on: bool, size: Size) -> Result<(), SinkError> {
    tracing::info!("display {}", if on { "on" } else { "off" });
    // A black picture first: a screen that ignores its power control (or wakes itself on a
    // hotplug) then shows black rather than a frozen picture, and so does a read-back screen.
    if !on {
        sink.write(Frame::new(0, image::RgbImage::new(size.width, size.height)))?;
    }
    let Some(power) = sink.power() else { return Ok(()) };
    power.set_power(on)?;
    for attempt in 1..=3 {
        if power.is_on() == on {
            return Ok(());
        }
        tracing::warn!(
            "display still {} after switching it (attempt {attempt}); again",
            if on { "off" } else { "on" }
        );
        thread::sleep(Duration::from_millis(100));
        power.set_power(on)?;
    }
    if power.is_on() != on {
        tracing::error!(
            "the display did not switch {}; check its cable and power",
            if on { "on" } else { "off" }
        );
    }
    Ok(())
}

/// Writes to the sink; `Ok(false)` when the viewer closed it (a window), which stops the mirror
/// cleanly rather than as an error.
fn present(sink: &mut dyn Sink, frame: Frame) -> Result<bool, SinkError> {
    match sink.write(frame) {
        Err(SinkError::Closed(why)) => {
            tracing::info!("{why}; stopping");
            Ok(false)
        }
        result => result.map(|()| true),
    }
}

/// The last picture, dimmed, with why there is no live one (black when there was none yet).
fn notice_frame(last: Option<&Frame>, size: Size, why: &str) -> Frame {
    let mut frame = match last {
        Some(f) => f.clone(),
        None => Frame::new(0, image::RgbImage::new(size.width, size.height)),
    };
    let (headline, detail) = match why.split_once(": ") {
        Some((head, detail)) => (head, detail),
        None => (why, ""),
    };
    let headline = capitalise(headline);
    let mut lines = vec![headline.as_str()];
    if !detail.is_empty() {
        lines.push(detail);
    }
    lines.push("retrying...");
    overlay::notice(&mut frame.image, &lines);
    frame
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next().map_or(String::new(), |f| f.to_uppercase().chain(c).collect())
}

/// Frames per second, smoothed so the overlay figure is readable.
#[derive(Default)]
struct FpsMeter {
    last: Option<Instant>,
    fps: Option<f32>,
}

impl FpsMeter {
    fn tick(&mut self) -> Option<f32> {
        let now = Instant::now();
        if let Some(last) = self.last.replace(now) {
            let instant = 1.0 / (now - last).as_secs_f32().max(1e-6);
            self.fps = Some(match self.fps {
                Some(f) => 0.9 * f + 0.1 * instant,
                None => instant,
            });
        }
        self.fps
    }
}
