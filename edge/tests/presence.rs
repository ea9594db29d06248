//! Presence through the whole pipeline, on a camera-like sequence played in real time (a person
//! cut from a held-out photo over an empty wall, with sensor noise) and the real segmenter:
//! active → attract → asleep at the configured times, the screen switched off through its power
//! control and not written to while asleep, a passer-by not waking it, and a person who steps
//! in waking it within a second. The device lab replays the same frames through a V4L2 camera
//! onto a real KMS screen (`scripts/devlab/scenarios/presence.sh`).

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use atelier_edge::frame::{Frame, Size};
use atelier_edge::imageops::Fit;
use atelier_edge::overlay::OverlayOptions;
use atelier_edge::person::{Painter, PersonMask, Segmenter};
use atelier_edge::pipeline::{self, PipelineConfig, StopHandle};
use atelier_edge::presence::{AttendanceConfig, Mode, PresenceConfig, Watcher};
use atelier_edge::sink::{DisplayPower, Sink, SinkError};
use atelier_edge::source::{Source, SourceError};
use atelier_edge::style::StyleMix;
use atelier_edge::{Engine, EngineOptions};
use common::sequence::{PERSON, Sequence};
use image::RgbImage;

const FPS: f64 = 20.0;

/// What the camera sees when, in seconds from the first frame.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Scene {
    Empty,
    Standing,
    /// Crossing the picture from left to right in `Scene::CROSSING` seconds.
    Crossing,
    /// Walking in from the left over half a second.
    Arriving,
}

fn timeline() -> Vec<(f64, Scene)> {
    vec![
        (0.0, Scene::Standing),
        (2.0, Scene::Empty),
        (11.0, Scene::Crossing),
        (11.2, Scene::Empty),
        (13.0, Scene::Arriving),
        (13.5, Scene::Standing),
        (16.0, Scene::Standing),
    ]
}

struct Recorded {
    sequence: Sequence,
    start: Option<Instant>,
    seq: u64,
    /// (when, scene) of every frame delivered.
    log: Arc<Mutex<Vec<(Instant, Scene)>>>,
}

impl Source for Recorded {
    fn next_frame(&mut self) -> Result<Frame, SourceError> {
        let start = *self.start.get_or_insert_with(Instant::now);
        let due = start + Duration::from_secs_f64(self.seq as f64 / FPS);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        // A live camera: the frame is what is in front of it now, not the next in a queue.
        let t = start.elapsed().as_secs_f64();
        self.seq = (t * FPS) as u64 + 1;
        let line = timeline();
        let (since, scene) =
            line.iter().rev().find(|(at, _)| *at <= t).copied().unwrap_or((0.0, Scene::Empty));
        let (centre, width) = (self.sequence.centre(), self.sequence.person.width() as i32);
        let phase = ((t - since) / 0.5).min(1.0);
        let x = match scene {
            Scene::Empty => None,
            Scene::Standing => Some(centre + ((t * 3.0).sin() * 3.0) as i32),
            Scene::Arriving => Some(-width + ((centre + width) as f64 * phase) as i32),
            Scene::Crossing => Some(-width + ((320 + width) as f64 * (t - since) / 0.2) as i32),
        };
        self.log.lock().unwrap().push((Instant::now(), scene));
        Ok(Frame::new(self.seq, self.sequence.frame(x, self.seq as u32)))
    }
    fn describe(&self) -> String {
        "recorded presence sequence".into()
    }
    fn is_live(&self) -> bool {
        true
    }
}

#[derive(Default)]
struct Screen {
    on: bool,
    /// (when, on) of every power switch, and when each picture was written.
    switches: Vec<(Instant, bool)>,
    writes: Vec<Instant>,
    written_while_off: usize,
}

struct ScreenSink(Arc<Mutex<Screen>>);

impl Sink for ScreenSink {
    fn write(&mut self, _frame: Frame) -> Result<(), SinkError> {
        let mut s = self.0.lock().unwrap();
        s.writes.push(Instant::now());
        if !s.on {
            s.written_while_off += 1;
        }
        Ok(())
    }
    fn describe(&self) -> String {
        "screen with power control".into()
    }
    fn power(&mut self) -> Option<&mut dyn DisplayPower> {
        Some(self)
    }
}

impl DisplayPower for ScreenSink {
    fn set_power(&mut self, on: bool) -> Result<(), SinkError> {
        let mut s = self.0.lock().unwrap();
        s.on = on;
        s.switches.push((Instant::now(), on));
        Ok(())
    }
    fn is_on(&self) -> bool {
        self.0.lock().unwrap().on
    }
}

#[test]
fn presence_drives_attract_sleep_and_a_fast_wake() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let engine = Engine::load(&repo.join("models/default.onnx"), EngineOptions::default()).unwrap();
    let style = StyleMix::single(&engine.styles()[0]);
    let log = Arc::new(Mutex::new(Vec::new()));
    let source = Recorded {
        sequence: Sequence::new(&repo.join(PERSON), 320, 240),
        start: None,
        seq: 0,
        log: log.clone(),
    };
    let screen = Arc::new(Mutex::new(Screen { on: true, ..Screen::default() }));
    let config = PipelineConfig {
        model_size: Size::new(64, 48),
        output_size: Size::new(128, 96),
        fit: Fit::Cover,
        fps: 30.0,
        frames: None,
        mirror: true,
        overlay: OverlayOptions::default(),
        painter: Painter::default(),
        parallel_frames: 1,
        notice: None,
    };
    let attendance = AttendanceConfig {
        attract_after: Some(Duration::from_millis(1500)),
        sleep_after: Some(Duration::from_secs(4)),
        ..AttendanceConfig::default()
    };
    let person = PersonMask::new(Segmenter::builtin());
    let watcher = Watcher::new(Some(person), None, PresenceConfig::default(), attendance, Instant::now());
    let stop = StopHandle::new();
    let stopper = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(17));
            stop.stop();
        })
    };
    let report = pipeline::run(
        Box::new(source),
        engine,
        Box::new(ScreenSink(screen.clone())),
        &config,
        &style,
        stop,
        None,
        Some(watcher),
    )
    .unwrap();
    stopper.join().unwrap();

    let modes: Vec<Mode> = report.modes.iter().map(|m| m.mode).collect();
    assert_eq!(modes, [Mode::Attract, Mode::Asleep, Mode::Active], "{:?}", report.modes);
    // Gone at 2 s, counted gone 3 s later (5 s), attract 1.5 s after that, asleep at 4 s.
    let at = |i: usize| report.modes[i].at_s;
    assert!((6.0..7.5).contains(&at(0)), "attract at {:.2} s", at(0));
    assert!((8.5..10.0).contains(&at(1)), "asleep at {:.2} s", at(1));
    assert!(at(2) > 13.0, "woken at {:.2} s: the passer-by at 11 s must not wake it", at(2));

    let log = log.lock().unwrap();
    let first =
        |scene: Scene, after: Instant| log.iter().find(|(t, s)| *s == scene && *t >= after).unwrap().0;
    let start = log[0].0;
    let arrived = first(Scene::Standing, start + Duration::from_secs(12));
    let screen = screen.lock().unwrap();
    assert_eq!(screen.switches.iter().map(|s| s.1).collect::<Vec<_>>(), [false, true], "power switches");
    let woke = screen.switches[1].0;
    let wake = woke.duration_since(first(Scene::Arriving, start));
    assert!(
        woke > arrived - Duration::from_millis(600) && wake < Duration::from_millis(1500),
        "the screen came on {wake:?} after the person started to step in"
    );
    assert!(
        woke.saturating_duration_since(arrived) < Duration::from_secs(1),
        "the screen came on {:?} after the person stood in front of it",
        woke.saturating_duration_since(arrived)
    );
    eprintln!(
        "modes {:?}; screen on {:?} after the person started to step in, {:?} after they stood",
        report.modes,
        wake,
        woke.saturating_duration_since(arrived)
    );
    assert_eq!(screen.written_while_off, 0, "pictures written while the screen was off");
    assert!(screen.writes.iter().any(|&t| t > woke), "no picture after waking");
    // Asleep, the camera is only looked at a few times a second and nothing is stylized.
    let asleep_frames = log
        .iter()
        .filter(|(t, _)| *t > screen.switches[0].0 + Duration::from_millis(500) && *t < woke)
        .count();
    let asleep_s = woke.duration_since(screen.switches[0].0).as_secs_f64();
    assert!(
        (asleep_frames as f64) < asleep_s * 7.0,
        "{asleep_frames} frames taken in {asleep_s:.1} s asleep"
    );
    assert!(report.look_ms_mean > 0.0 && report.looks > 0);
}

/// The segmenter on the recorded scene's frames: the person is found, the empty wall is not.
/// (Unit tests cover the detector's logic; this covers the network on real pictures.)
#[test]
fn the_segmenter_sees_the_person_in_the_sequence_and_not_in_the_empty_wall() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let seq = Sequence::new(&repo.join(PERSON), 320, 240);
    let mut segmenter = Segmenter::builtin();
    let empty: RgbImage = seq.frame(None, 1);
    let person = seq.frame(Some(seq.centre()), 2);
    let (e, p) =
        (segmenter.segment(&empty).unwrap().coverage(), segmenter.segment(&person).unwrap().coverage());
    assert!(e < 0.02, "empty wall coverage {e}");
    assert!(p > 0.2, "person coverage {p}");
}

/// A sleeping mirror looks at a few frames a second, and a slow device takes a while over each
/// look: the passer-by the lab records (in view for two frames at 5 fps, then the empty wall)
/// must not wake it however far apart the looks are, while someone who stays does.
#[test]
fn a_passer_by_in_two_frames_does_not_count_however_sparse_the_looks() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let seq = Sequence::new(&repo.join(PERSON), 320, 240);
    let (centre, off_left) = (seq.centre(), -(seq.person.width() as i32));
    let t0 = Instant::now();
    let frame = |x: Option<i32>, ms: u64| Frame {
        seq: ms,
        captured: t0 + Duration::from_millis(ms),
        image: seq.frame(x, ms as u32),
    };
    let watcher = || {
        let person = PersonMask::new(Segmenter::builtin());
        Watcher::new(Some(person), None, PresenceConfig::default(), AttendanceConfig::default(), t0)
    };
    // The wall, then the crossing's middle frames (examples/presence_sequence) 0.2 s apart,
    // then the wall again, seen 0.4 s later and every 0.4 s after.
    let crossing = |k: i32| Some(off_left + (320 - off_left) * (k + 1) / 5);
    let mut w = watcher();
    let mut looks = vec![(None, 0), (crossing(1), 400), (crossing(2), 600)];
    looks.extend((0..5).map(|i| (None, 1000 + i * 400)));
    for (x, ms) in looks {
        assert!(!w.look(&frame(x, ms)).unwrap().present, "a passer-by counted at {ms} ms");
    }
    // Someone who steps in and stays, seen as sparsely: present once 0.5 s of frames show them.
    let mut w = watcher();
    let present: Vec<bool> = [None, Some(centre), Some(centre + 3), Some(centre - 3)]
        .into_iter()
        .enumerate()
        .map(|(i, x)| w.look(&frame(x, i as u64 * 400)).unwrap().present)
        .collect();
    assert_eq!(present, [false, false, false, true]);
}
