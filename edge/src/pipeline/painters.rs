//! Frame-parallel stylizing: several painter threads, each with its own copy of the engine,
//! stylize one frame each at the same time and hand them to the output in capture order.
//!
//! tract's own threads split one frame's matrix products and scale about 1.2× on two cores
//! (padding, depth-to-space and the norms stay on one core); whole frames side by side scale
//! close to the core count (docs/benchmarks.md). The inference thread stays the one place that
//! reads commands and decides what to show: it hands each frame to a free painter, with the
//! style weights and strength to use, and the painters only paint.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::link::StatusBoard;
use super::slot::LatestSlot;
use super::{Report, Stylized, lock};
use crate::engine::{Engine, EngineError};
use crate::frame::Frame;
use crate::imageops::blend;
use crate::person::{Mask, Painter};

/// One frame to stylize and how.
pub(super) struct Job {
    pub frame: Frame,
    /// The person mask at the time of the frame, when the painter composites through one.
    pub mask: Option<Mask>,
    pub weights: Vec<f32>,
    pub strength: f32,
    pub style: Arc<str>,
}

enum Work {
    Paint(Job),
    /// A new model (a remote swap): every painter gets its own copy, in order with the frames.
    Model(Box<Engine>),
}

/// What [`Painters::wait_free`] found.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Free {
    Yes,
    /// None became free within the timeout.
    Busy,
    /// Every painter has stopped (the output closed, or a painter failed).
    Gone,
}

/// The inference thread's side: hands out frames, one per free painter.
pub(super) struct Painters {
    work: Vec<Sender<Work>>,
    idle: Receiver<usize>,
    free: Option<usize>,
}

/// Delivers finished pictures to the output in capture order: a frame that finishes after a
/// newer one (painters of unequal speed for a moment) is dropped, never shown out of order.
pub(super) struct InOrder<'a> {
    output: &'a LatestSlot<Stylized>,
    newest: Mutex<Option<Instant>>,
    late: AtomicU64,
}

impl<'a> InOrder<'a> {
    pub fn new(output: &'a LatestSlot<Stylized>) -> InOrder<'a> {
        InOrder { output, newest: Mutex::new(None), late: AtomicU64::new(0) }
    }

    /// Puts `picture` unless a newer frame is already out; false once the output is closed.
    pub fn deliver(&self, picture: Stylized) -> bool {
        let mut newest = self.newest.lock().unwrap_or_else(|e| e.into_inner());
        if newest.is_some_and(|n| picture.frame.captured < n) {
            self.late.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        *newest = Some(picture.frame.captured);
        self.output.put(picture)
    }

    /// Frames dropped before the output: overwritten in the slot or finished out of order.
    pub fn dropped(&self) -> u64 {
        self.output.dropped() + self.late.load(Ordering::Relaxed)
    }
}

/// Closes the output when a painter ends with an error or a panic: the output thread then stops
/// the rest of the pipeline, and the error is returned when the painter is joined.
struct CloseOnExit<'a>(&'a InOrder<'a>);

impl Drop for CloseOnExit<'_> {
    fn drop(&mut self) {
        self.0.output.close();
    }
}

/// Shared by every painter thread.
pub(super) struct Shared<'a> {
    pub out: &'a InOrder<'a>,
    pub stats: &'a Mutex<Report>,
    pub board: &'a StatusBoard,
    pub painter: &'a Painter,
}

impl Painters {
    /// Starts `count` painters on `scope`, each with its own copy of `engine`.
    pub fn start<'scope, 'env: 'scope>(
        scope: &'scope std::thread::Scope<'scope, 'env>,
        count: usize,
        engine: &Engine,
        shared: &'scope Shared<'env>,
    ) -> (Painters, Vec<std::thread::ScopedJoinHandle<'scope, Result<(), EngineError>>>) {
        let (idle_tx, idle) = mpsc::channel();
        let mut work = Vec::new();
        let mut handles = Vec::new();
        for id in 0..count.max(1) {
            let (tx, rx) = mpsc::channel();
            let (engine, idle_tx) = (engine.clone(), idle_tx.clone());
            let handle = std::thread::Builder::new()
                .name(format!("painter-{id}"))
                .spawn_scoped(scope, move || {
                    // A painter that fails or panics stops the pipeline rather than leave it waiting.
                    let _stop = CloseOnExit(shared.out);
                    paint_loop(id, engine, &rx, &idle_tx, shared)
                })
                .expect("spawn painter thread");
            work.push(tx);
            handles.push(handle);
        }
        (Painters { work, idle, free: None }, handles)
    }

    /// Waits up to `timeout` until a painter can take a frame, so the frame taken next is the
    /// freshest one and not one that waited for a painter.
    pub fn wait_free(&mut self, timeout: Duration) -> Free {
        if self.free.is_some() {
            return Free::Yes;
        }
        match self.idle.recv_timeout(timeout) {
            Ok(id) => {
                self.free = Some(id);
                Free::Yes
            }
            Err(RecvTimeoutError::Timeout) => Free::Busy,
            Err(RecvTimeoutError::Disconnected) => Free::Gone,
        }
    }

    /// Hands `job` to the painter [`Painters::wait_free`] found (waiting for one if none was);
    /// false when no painter is left.
    pub fn paint(&mut self, job: Job) -> bool {
        let id = match self.free.take() {
            Some(id) => id,
            None => match self.idle.recv() {
                Ok(id) => id,
                Err(_) => return false,
            },
        };
        self.work[id].send(Work::Paint(job)).is_ok()
    }

    /// Gives every painter its own copy of a new model; frames handed out later use it.
    pub fn use_model(&self, engine: &Engine) {
        for work in &self.work {
            // A painter that is gone has already stopped the pipeline.
            let _ = work.send(Work::Model(Box::new(engine.clone())));
        }
    }
}

fn paint_loop(
    id: usize,
    mut engine: Engine,
    work: &Receiver<Work>,
    idle: &Sender<usize>,
    shared: &Shared,
) -> Result<(), EngineError> {
    if idle.send(id).is_err() {
        return Ok(());
    }
    for item in work {
        let job = match item {
            Work::Model(new) => {
                engine = *new;
                continue;
            }
            Work::Paint(job) => job,
        };
        let t0 = Instant::now();
        if engine.style_weights() != job.weights {
            engine.set_style_weights(&job.weights)?;
        }
        let Job { mut frame, mask, strength, style, .. } = job;
        let mut picture = shared.painter.paint(&mut engine, &frame.image, mask.as_ref())?;
        if strength < 1.0 {
            blend(&mut picture, &frame.image, strength);
        }
        frame.image = picture;
        record_inference(shared.stats, shared.board, t0);
        if !shared.out.deliver(Stylized { frame, style, caption: None }) || idle.send(id).is_err() {
            break;
        }
    }
    Ok(())
}

/// Counts one stylized frame and its time, for `--report` and the status board.
pub(super) fn record_inference(stats: &Mutex<Report>, board: &StatusBoard, t0: Instant) {
    let ms = t0.elapsed().as_secs_f64() * 1e3;
    let mut s = lock(stats);
    s.frames_stylized += 1;
    s.inference_ms_mean += (ms - s.inference_ms_mean) / s.frames_stylized as f64;
    s.inference_ms_max = s.inference_ms_max.max(ms);
    board.update(|st| st.record_inference(ms, &s));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picture(captured: Instant) -> Stylized {
        let frame = Frame { captured, ..Frame::new(0, image::RgbImage::new(2, 2)) };
        Stylized { frame, style: "s".into(), caption: None }
    }

    #[test]
    fn a_frame_finished_after_a_newer_one_is_dropped_not_shown() {
        let slot = LatestSlot::new();
        let out = InOrder::new(&slot);
        let (early, late) = (Instant::now(), Instant::now() + Duration::from_millis(5));
        assert!(out.deliver(picture(late)));
        assert_eq!(slot.take().map(|s| s.frame.captured), Some(late));
        assert!(out.deliver(picture(early)));
        assert!(matches!(slot.take_timeout(Duration::from_millis(1)), super::super::Taken::TimedOut));
        assert_eq!(out.dropped(), 1);
        slot.close();
        assert!(!out.deliver(picture(late + Duration::from_millis(5))));
    }
}
