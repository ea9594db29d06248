//! The inference thread: control commands between frames, then per frame: who is there, what to
//! show (the person stylized, the attract show, or nothing while asleep); the stylizing itself
//! goes to the [`painters`](super::painters), one frame each.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::attract::{AttractShow, INVITATION};
use super::link::{Command, Link, StatusBoard};
use super::painters::{Free, InOrder, Job, Painters, record_inference};
use super::slot::{LatestSlot, Taken};
use super::{Report, Stylized, Switches, lock};
use crate::engine::{Engine, EngineError};
use crate::frame::Frame;
use crate::person::Stylize;
use crate::presence::{Mode, Watcher};
use crate::style::StyleMix;

/// How often the inference thread looks for commands while no frame arrives (camera away).
const COMMAND_POLL: Duration = Duration::from_millis(100);

/// A change of mode, for `--report`: seconds since the start and the new mode.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ModeChange {
    pub at_s: f64,
    pub mode: Mode,
}

pub(super) struct Inference<'a> {
    /// The engine commands change; the painters get copies. The attract show runs on it.
    pub engine: &'a mut Engine,
    pub painters: Painters,
    pub out: &'a InOrder<'a>,
    pub link: &'a Link,
    pub board: &'a StatusBoard,
    pub stats: &'a std::sync::Mutex<Report>,
    pub switches: &'a Switches,
    /// Whether the painters composite through the person mask (each frame then carries a copy).
    pub stylize: Stylize,
    pub watcher: Option<Watcher>,
    pub attract: AttractShow,
    /// The overlay label of the current style.
    pub style: Arc<str>,
    pub strength: f32,
    pub started: Instant,
    pub last_rotation: Instant,
}

impl Inference<'_> {
    pub fn run(&mut self, input: &LatestSlot<Frame>) -> Result<(), EngineError> {
        loop {
            // A free painter first, so that the frame taken next is the freshest one.
            let frame = match self.painters.wait_free(COMMAND_POLL) {
                Free::Gone => break,
                Free::Busy => None,
                Free::Yes => match input.take_timeout(COMMAND_POLL) {
                    Taken::Item(frame) => Some(frame),
                    Taken::TimedOut => None,
                    Taken::Closed => break,
                },
            };
            for command in self.link.commands() {
                self.apply(command)?;
            }
            let Some(frame) = frame else {
                if self.switches.camera_away.load(Ordering::Relaxed)
                    && let Some(mode) = self.watcher.as_mut().and_then(|w| w.camera_away(Instant::now()))
                {
                    self.enter(mode);
                }
                continue;
            };
            if !self.frame(frame)? {
                break;
            }
            let dropped = input.dropped() + self.out.dropped();
            self.link.update(|st| st.dropped_frames = dropped);
        }
        Ok(())
    }

    /// One camera frame through the per-frame path: a look, then the person to a painter, the
    /// attract show, or nothing while asleep. False once the pipeline is closing.
    fn frame(&mut self, frame: Frame) -> Result<bool, EngineError> {
        self.look(&frame)?;
        match self.watcher.as_ref().map_or(Mode::Active, |w| w.mode()) {
            Mode::Asleep => {
                // Looking while asleep is the sleeping mirror's progress (the watchdog's measure).
                self.board.beat();
                Ok(true)
            }
            Mode::Attract => {
                let t0 = Instant::now();
                let (mut demo, style) = self.attract.next(self.engine)?;
                record_inference(self.stats, self.board, t0);
                demo.captured = frame.captured;
                Ok(self.out.deliver(Stylized { frame: demo, style, caption: Some(INVITATION.into()) }))
            }
            Mode::Active => {
                self.rotate_style()?;
                let mask = match self.stylize {
                    Stylize::All => None,
                    _ => self.watcher.as_ref().and_then(|w| w.mask()).cloned(),
                };
                let weights = self.engine.style_weights().to_vec();
                let (strength, style) = (self.strength, self.style.clone());
                Ok(self.painters.paint(Job { frame, mask, weights, strength, style }))
            }
        }
    }

    /// Presence: segments the frame (the watcher keeps the mask for the composite) and follows
    /// the mode.
    fn look(&mut self, frame: &Frame) -> Result<(), EngineError> {
        let Some(watcher) = self.watcher.as_mut() else { return Ok(()) };
        let t0 = Instant::now();
        let look = watcher.look(frame).map_err(|e| EngineError::Run(e.to_string()))?;
        let (present, changed) = (look.present, look.changed);
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        {
            let mut s = lock(self.stats);
            s.looks += 1;
            s.look_ms_mean += (ms - s.look_ms_mean) / s.looks as f64;
        }
        self.link.update(|s| s.person = present);
        if let Some(mode) = changed {
            self.enter(mode);
        }
        Ok(())
    }

    fn enter(&mut self, mode: Mode) {
        tracing::info!("presence: {mode}");
        let at_s = self.started.elapsed().as_secs_f64();
        lock(self.stats).modes.push(ModeChange { at_s, mode });
        self.switches.asleep.store(mode == Mode::Asleep, Ordering::Relaxed);
        self.link.update(|s| s.presence = mode.to_string());
        match mode {
            Mode::Attract => self.attract.restart(),
            Mode::Active => self.last_rotation = Instant::now(),
            Mode::Asleep => {}
        }
    }

    /// `rotate_styles`: the next style every so often while someone is there.
    fn rotate_style(&mut self) -> Result<(), EngineError> {
        let Some(period) = self.watcher.as_ref().and_then(|w| w.attendance().rotate_styles) else {
            return Ok(());
        };
        if self.last_rotation.elapsed() < period {
            return Ok(());
        }
        self.last_rotation = Instant::now();
        let styles = self.engine.styles().to_vec();
        let weights = self.engine.style_weights();
        let current = weights.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i);
        self.apply(Command::SetStyle(StyleMix::single(&styles[(current + 1) % styles.len()])))
    }

    fn apply(&mut self, command: Command) -> Result<(), EngineError> {
        match command {
            Command::SetStyle(mix) => match mix.weights(self.engine.styles()) {
                Ok(weights) => {
                    self.engine.set_style_weights(&weights)?;
                    self.style = mix.label().into();
                    self.link.update(|s| s.set_style(&mix));
                }
                Err(e) => tracing::warn!("ignoring style command: {e}"),
            },
            Command::SetStrength(s) => {
                self.strength = s.clamp(0.0, 1.0);
                let strength = self.strength;
                self.link.update(|st| st.strength = strength);
            }
            Command::SetMirror(on) => {
                self.switches.mirror.store(on, Ordering::Relaxed);
                self.link.update(|s| s.mirror = on);
            }
            Command::SetDisplay(on) => {
                self.switches.display.store(on, Ordering::Relaxed);
                self.link.update(|s| s.display_on = on);
            }
            Command::SwapModel { engine: new, style: mix } => {
                tracing::info!("model {} replaces {}", new.name(), self.engine.name());
                *self.engine = *new;
                self.painters.use_model(self.engine);
                self.style = mix.label().into();
                let engine = &*self.engine;
                self.link.update(|s| {
                    s.model = engine.name().to_string();
                    s.styles = engine.styles().to_vec();
                    s.set_style(&mix);
                });
            }
        }
        Ok(())
    }
}
