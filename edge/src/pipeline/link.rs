//! The control link of a running pipeline: [`Command`]s in, a [`Status`] snapshot out.
//!
//! Control code (serial, HTTP) holds a [`Remote`]; it never touches frames. The pipeline holds
//! the [`Link`], applies commands between frames and keeps the status current.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::engine::Engine;
use crate::style::StyleMix;

use super::Report;

/// Changes applied between frames.
pub enum Command {
    SetStyle(StyleMix),
    /// How much of the style shows: 1 the model's output, 0 the camera picture.
    SetStrength(f32),
    SetMirror(bool),
    SetDisplay(bool),
    /// A model already loaded, checked and prepared by the caller: the next frame uses it.
    SwapModel {
        engine: Box<Engine>,
        style: StyleMix,
    },
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::SetStyle(mix) => write!(f, "SetStyle({})", mix.label()),
            Command::SetStrength(s) => write!(f, "SetStrength({s})"),
            Command::SetMirror(on) => write!(f, "SetMirror({on})"),
            Command::SetDisplay(on) => write!(f, "SetDisplay({on})"),
            Command::SwapModel { engine, style } => {
                write!(f, "SwapModel({}, {})", engine.name(), style.label())
            }
        }
    }
}

impl Command {
    /// Writes the setting this command makes into a status; a model shows once swapped in.
    fn settle(&self, s: &mut Status) {
        match self {
            Command::SetStyle(mix) => s.set_style(mix),
            Command::SetStrength(v) => s.strength = *v,
            Command::SetMirror(on) => s.mirror = *on,
            Command::SetDisplay(on) => s.display_on = *on,
            Command::SwapModel { .. } => {}
        }
    }
}

/// What the pipeline is doing, as control and the status page see it.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Status {
    /// False until the pipeline has started, and again once it has stopped.
    pub running: bool,
    pub model: String,
    pub styles: Vec<String>,
    /// The overlay label: a name, or `a 30% + b 70%`.
    pub style: String,
    /// The same in the form `STYLE` accepts (`a=0.3,b=0.7`).
    pub style_spec: String,
    pub strength: f32,
    pub mirror: bool,
    pub display_on: bool,
    /// Output frames per second, smoothed.
    pub fps: f64,
    /// Inference time per frame, smoothed, milliseconds.
    pub inference_ms: f64,
    /// Why there is no camera picture, while there is none.
    pub camera_away: Option<String>,
    pub uptime_s: f64,
    pub frames_out: u64,
    /// Frames dropped because a later stage was busy (both hand-offs).
    pub dropped_frames: u64,
    /// Camera frames that could not be decoded.
    pub corrupt_frames: u64,
    /// Times the camera went away.
    pub camera_disconnects: u64,
    /// `active`, `attract` or `asleep` (`active` when presence is off).
    pub presence: String,
    /// Someone is in front of the mirror (presence detection's verdict).
    pub person: bool,
}

impl Status {
    pub(super) fn set_style(&mut self, mix: &StyleMix) {
        self.style = mix.label();
        self.style_spec = mix.to_string();
    }

    pub(super) fn record_inference(&mut self, ms: f64, report: &Report) {
        self.inference_ms = if self.inference_ms == 0.0 { ms } else { 0.9 * self.inference_ms + 0.1 * ms };
        self.frames_out = report.frames_out;
        self.corrupt_frames = report.source.corrupt_frames;
        self.camera_disconnects = report.source.disconnects;
    }
}

/// The status, shared between the pipeline's threads and its remotes.
#[derive(Debug, Clone)]
pub struct StatusBoard {
    status: Arc<Mutex<Status>>,
    started: Instant,
    beats: Arc<AtomicU64>,
}

impl StatusBoard {
    fn new() -> StatusBoard {
        StatusBoard {
            status: Arc::new(Mutex::new(Status::default())),
            started: Instant::now(),
            beats: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Counts one sign of progress: a frame reached the output, the sleeping mirror looked at
    /// the camera, or the capture thread retried a camera that went away.
    pub(super) fn beat(&self) {
        self.beats.fetch_add(1, Ordering::Relaxed);
    }

    /// The heartbeats so far: a count that stops when a stage hangs (the systemd watchdog's
    /// measure, [`crate::service`]).
    pub fn beats(&self) -> u64 {
        self.beats.load(Ordering::Relaxed)
    }

    pub(super) fn update(&self, f: impl FnOnce(&mut Status)) {
        f(&mut self.status.lock().unwrap_or_else(|e| e.into_inner()));
    }

    pub fn get(&self) -> Status {
        let mut s = self.status.lock().unwrap_or_else(|e| e.into_inner()).clone();
        s.uptime_s = self.started.elapsed().as_secs_f64();
        s
    }
}

/// The pipeline's end.
pub struct Link {
    commands: Receiver<Command>,
    board: StatusBoard,
}

impl Link {
    /// Commands waiting, without blocking.
    pub(super) fn commands(&self) -> impl Iterator<Item = Command> + '_ {
        self.commands.try_iter()
    }

    pub(super) fn update(&self, f: impl FnOnce(&mut Status)) {
        self.board.update(f)
    }

    /// The status board this pipeline keeps current (for the systemd supervisor).
    pub fn board(&self) -> StatusBoard {
        self.board.clone()
    }

    pub(super) fn started(&self, engine: &Engine, style: &StyleMix, mirror: bool) {
        self.update(|s| {
            s.running = true;
            s.model = engine.name().to_string();
            s.styles = engine.styles().to_vec();
            s.set_style(style);
            s.strength = 1.0;
            s.mirror = mirror;
            s.display_on = true;
            s.presence = "active".into();
        })
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.update(|s| s.running = false);
    }
}

/// The controller's end; cheap to clone, one per control channel.
#[derive(Debug, Clone)]
pub struct Remote {
    commands: Sender<Command>,
    board: StatusBoard,
}

/// The pipeline has stopped and takes no more commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the mirror pipeline is not running")]
pub struct Stopped;

impl Remote {
    /// Queues a command for the next frame. Settings show in the status at once, so a query
    /// right after a change reads it back; a model shows once the pipeline has swapped it in.
    pub fn send(&self, command: Command) -> Result<(), Stopped> {
        self.board.update(|s| command.settle(s));
        self.commands.send(command).map_err(|_| Stopped)
    }

    pub fn status(&self) -> Status {
        self.board.get()
    }
}

/// A connected pair: give the [`Link`] to [`run`](super::run), keep the [`Remote`].
pub fn link() -> (Remote, Link) {
    let (tx, rx) = mpsc::channel();
    let board = StatusBoard::new();
    (Remote { commands: tx, board: board.clone() }, Link { commands: rx, board })
}
