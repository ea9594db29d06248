//! The inference thread: control commands between frames, then per frame: who is there, what to
//! show (the person stylized, the attract show, or nothing while asleep), and the strength blend.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::attract::{AttractShow, INVITATION};
use super::link::{Command, Link};
use super::slot::{LatestSlot, Taken};
use super::{Report, Stylized, Switches, lock};
use crate::engine::{Engine, EngineError};
use crate::frame::Frame;
use crate::imageops::blend;
use crate::person::Painter;
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
    pub engine: &'a mut Engine,
    pub link: &'a Link,
    pub stats: &'a std::sync::Mutex<Report>,
    pub switches: &'a Switches,
    pub painter: Painter,
    pub watcher: Option<Watcher>,
    pub attract: AttractShow,
    /// The overlay label of the current style.
    pub style: Arc<str>,
    pub strength: f32,
    pub started: Instant,
    pub last_rotation: Instant,
}

impl Inference<'_> {
    pub fn run(
        &mut self,
        input: &LatestSlot<Frame>,
        output: &LatestSlot<Stylized>,
    ) -> Result<(), EngineError> {
        loop {
            let frame = match input.take_timeout(COMMAND_POLL) {
                Taken::Item(frame) => Some(frame),
                Taken::TimedOut => None,
                Taken::Closed => break,
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
            let Some(picture) = self.frame(frame)? else { continue };
            self.link.update(|st| st.dropped_frames = input.dropped() + output.dropped());
            if !output.put(picture) {
                break;
            }
        }
        Ok(())
    }

    /// One camera frame through the per-frame path; `None` while asleep (nothing to show).
    fn frame(&mut self, mut frame: Frame) -> Result<Option<Stylized>, EngineError> {
        self.look(&frame)?;
        match self.watcher.as_ref().map_or(Mode::Active, |w| w.mode()) {
            Mode::Asleep => return Ok(None),
            Mode::Attract => {
                let t0 = Instant::now();
                let (mut demo, style) = self.attract.next(self.engine)?;
                self.record_inference(t0);
                demo.captured = frame.captured;
                return Ok(Some(Stylized { frame: demo, style, caption: Some(INVITATION.into()) }));
            }
            Mode::Active => self.rotate_style()?,
        }
        let t0 = Instant::now();
        let mask = self.watcher.as_ref().and_then(|w| w.mask());
        let mut picture = self.painter.paint(self.engine, &frame.image, mask)?;
        if self.strength < 1.0 {
            blend(&mut picture, &frame.image, self.strength);
        }
        frame.image = picture;
        self.record_inference(t0);
        Ok(Some(Stylized { frame, style: self.style.clone(), caption: None }))
    }

    /// Presence: segments the frame (the watcher keeps the mask for the composite) and follows
    /// the mode.
    fn look(&mut self, frame: &Frame) -> Result<(), EngineError> {
        let Some(watcher) = self.watcher.as_mut() else { return Ok(()) };
        let t0 = Instant::now();
        let look = watcher.look(&frame.image, Instant::now()).map_err(|e| EngineError::Run(e.to_string()))?;
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

    fn record_inference(&self, t0: Instant) {
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        let mut s = lock(self.stats);
        s.frames_stylized += 1;
        s.inference_ms_mean += (ms - s.inference_ms_mean) / s.frames_stylized as f64;
        s.inference_ms_max = s.inference_ms_max.max(ms);
        self.link.update(|st| st.record_inference(ms, &s));
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
