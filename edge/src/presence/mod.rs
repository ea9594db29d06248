//! Who is in front of the mirror, and what the mirror does about it.
//!
//! A [`Watcher`] looks at every frame the inference thread takes (or, asleep, the few the camera
//! still delivers): the person mask's coverage, the motion, an optional [`PresenceSensor`] (a PIR
//! on a GPIO line), through a [`PresenceDetector`] with hysteresis, and the opening hours, into
//! the [`Attendance`] mode: active, attract or asleep.

pub mod attendance;
pub mod detector;
pub mod pir;
pub mod schedule;

use std::time::Instant;

pub use attendance::{Attendance, AttendanceConfig, Mode};
pub use detector::{MotionMeter, Observation, PresenceConfig, PresenceDetector};
pub use pir::{Pir, PirSpec};
pub use schedule::Schedule;

use crate::frame::Frame;
use crate::person::{Mask, PersonMask, SegmenterError};

/// A presence sensor read once per look (a PIR's output line). `None`: no reading this time
/// (the sensor is away; the camera alone decides).
pub trait PresenceSensor: Send {
    fn read(&mut self) -> Option<bool>;
    fn describe(&self) -> String;
}

/// What one look found.
#[derive(Debug, Clone, Copy)]
pub struct Look {
    pub present: bool,
    /// The new mode, when it changed.
    pub changed: Option<Mode>,
}

/// Presence from the camera and a sensor, and the mode that follows from it.
pub struct Watcher {
    person: Option<PersonMask>,
    sensor: Option<Box<dyn PresenceSensor>>,
    motion: MotionMeter,
    detector: PresenceDetector,
    attendance: Attendance,
}

impl Watcher {
    /// `person`: the segmenter, or None to go by the sensor alone (the mask is then not
    /// available for compositing either).
    pub fn new(
        person: Option<PersonMask>,
        sensor: Option<Box<dyn PresenceSensor>>,
        presence: PresenceConfig,
        attendance: AttendanceConfig,
        now: Instant,
    ) -> Watcher {
        let presence = PresenceConfig { camera: presence.camera && person.is_some(), ..presence };
        Watcher {
            person,
            sensor,
            motion: MotionMeter::default(),
            detector: PresenceDetector::new(presence),
            attendance: Attendance::new(attendance, now),
        }
    }

    pub fn mode(&self) -> Mode {
        self.attendance.mode()
    }

    pub fn attendance(&self) -> &AttendanceConfig {
        self.attendance.config()
    }

    /// The smoothed person mask of the last look (for the composite), when there is a segmenter.
    pub fn mask(&self) -> Option<&Mask> {
        self.person.as_ref().and_then(|p| p.current())
    }

    /// Looks at one camera frame. Time is when the camera captured it, not when the look ran:
    /// a look slower than the frame period (a Pi busy stylizing, a sleeping mirror's sparse
    /// looks) would otherwise stretch a passer-by's two frames past `enter` and wake the mirror.
    pub fn look(&mut self, frame: &Frame) -> Result<Look, SegmenterError> {
        let (image, now) = (&frame.image, frame.captured);
        let motion = self.motion.update(image);
        let sensor = self.sensor.as_mut().and_then(|s| s.read());
        let coverage = match &mut self.person {
            Some(person) => person.update(image)?,
            None => 0.0,
        };
        let present = self.detector.update(Observation { coverage, motion, sensor }, now);
        let open = self.attendance.config().hours.as_ref().is_none_or(|h| h.is_open_now());
        let changed = self.attendance.update(present, open, now);
        Ok(Look { present, changed })
    }

    /// While the camera is away: the mirror stays awake so that its notice ("Camera
    /// disconnected ...") is seen, except that closing time still sends it to sleep.
    pub fn camera_away(&mut self, now: Instant) -> Option<Mode> {
        let open = self.attendance.config().hours.as_ref().is_none_or(|h| h.is_open_now());
        self.attendance.update(true, open, now)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use image::RgbImage;

    use super::*;

    /// A PIR that always sees someone.
    struct Always;

    impl PresenceSensor for Always {
        fn read(&mut self) -> Option<bool> {
            Some(true)
        }
        fn describe(&self) -> String {
            "always".into()
        }
    }

    #[test]
    fn time_is_when_the_frame_was_captured_not_when_it_was_looked_at() {
        let t0 = Instant::now();
        let presence = PresenceConfig { enter: Duration::from_millis(500), ..Default::default() };
        let mut w = Watcher::new(None, Some(Box::new(Always)), presence, AttendanceConfig::default(), t0);
        let frame =
            |ms: u64| Frame { seq: ms, captured: t0 + Duration::from_millis(ms), image: RgbImage::new(8, 6) };
        // Looked at back to back, but captured 0.2 s apart: 0.4 s of evidence is not yet enough,
        // 0.6 s is. (Judged by the looks' own clock, the four would span microseconds.)
        for ms in [0, 200, 400] {
            assert!(!w.look(&frame(ms)).unwrap().present, "{ms} ms");
        }
        assert!(w.look(&frame(600)).unwrap().present);
    }
}
