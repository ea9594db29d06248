//! What the mirror does about who is there: **active** (someone there: their stylized picture),
//! **attract** (nobody for a while: a demo of the styles and an invitation to step closer),
//! **asleep** (nobody for longer, or outside opening hours: the screen off, the camera watching
//! at a low rate, no inference).

use std::fmt;
use std::time::{Duration, Instant};

use super::schedule::Schedule;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Active,
    Attract,
    Asleep,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Active => "active",
            Mode::Attract => "attract",
            Mode::Asleep => "asleep",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// When the mirror changes mode.
#[derive(Debug, Clone, PartialEq)]
pub struct AttendanceConfig {
    /// Nobody for this long: attract mode (None: never).
    pub attract_after: Option<Duration>,
    /// Nobody for this long: asleep (None: never).
    pub sleep_after: Option<Duration>,
    /// Opening hours; outside them the mirror sleeps whoever passes (None: always open).
    pub hours: Option<Schedule>,
    /// While someone is there, move to the next style this often (None: keep the style).
    pub rotate_styles: Option<Duration>,
}

impl Default for AttendanceConfig {
    fn default() -> Self {
        AttendanceConfig {
            attract_after: Some(Duration::from_secs(30)),
            sleep_after: Some(Duration::from_secs(600)),
            hours: None,
            rotate_styles: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Attendance {
    config: AttendanceConfig,
    mode: Mode,
    last_seen: Instant,
    mode_since: Instant,
    /// No update yet: the clock starts at the first look, not at construction (the engine's first
    /// plan can take seconds on a Pi, a minute under emulation, and nobody has been looked for).
    fresh: bool,
}

impl Attendance {
    /// Starts active, as if someone had just been seen: the first picture is the camera's.
    pub fn new(config: AttendanceConfig, now: Instant) -> Attendance {
        Attendance { config, mode: Mode::Active, last_seen: now, mode_since: now, fresh: true }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// How long the current mode has lasted at `now`.
    pub fn in_mode_for(&self, now: Instant) -> Duration {
        now.duration_since(self.mode_since)
    }

    pub fn config(&self) -> &AttendanceConfig {
        &self.config
    }

    /// The mode at `now`, given whether someone is present and whether the shop is open;
    /// `Some(mode)` when it changed.
    pub fn update(&mut self, present: bool, open: bool, now: Instant) -> Option<Mode> {
        if std::mem::take(&mut self.fresh) {
            (self.last_seen, self.mode_since) = (now, now);
        }
        if present {
            self.last_seen = now;
        }
        let idle = now.duration_since(self.last_seen);
        let past = |limit: Option<Duration>| limit.is_some_and(|l| idle >= l);
        let mode = if !open || past(self.config.sleep_after) {
            Mode::Asleep
        } else if past(self.config.attract_after) {
            Mode::Attract
        } else {
            Mode::Active
        };
        (mode != self.mode).then(|| {
            self.mode = mode;
            self.mode_since = now;
            mode
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nobody_leads_to_attract_then_sleep_and_someone_wakes_it() {
        let t0 = Instant::now();
        let s = |secs: u64| t0 + Duration::from_secs(secs);
        let config = AttendanceConfig {
            attract_after: Some(Duration::from_secs(10)),
            sleep_after: Some(Duration::from_secs(60)),
            ..Default::default()
        };
        let mut a = Attendance::new(config, t0);
        assert_eq!(a.update(false, true, t0), None, "the first look");
        assert_eq!(a.update(false, true, s(9)), None);
        assert_eq!(a.update(false, true, s(10)), Some(Mode::Attract));
        assert_eq!(a.update(false, true, s(59)), None);
        assert_eq!(a.update(false, true, s(60)), Some(Mode::Asleep));
        assert_eq!(a.in_mode_for(s(70)), Duration::from_secs(10));
        assert_eq!(a.update(true, true, s(100)), Some(Mode::Active));
        assert_eq!(a.update(false, true, s(105)), None);
        // Closing time: asleep even with someone there; opening again wakes it for them.
        assert_eq!(a.update(true, false, s(106)), Some(Mode::Asleep));
        assert_eq!(a.update(true, true, s(200)), Some(Mode::Active));
    }

    #[test]
    fn the_clock_starts_at_the_first_look() {
        let t0 = Instant::now();
        let config = AttendanceConfig { attract_after: Some(Duration::from_secs(10)), ..Default::default() };
        let mut a = Attendance::new(config, t0);
        // A slow start (the first plan took 60 s): nobody has been looked for yet.
        assert_eq!(a.update(false, true, t0 + Duration::from_secs(60)), None);
        assert_eq!(a.update(false, true, t0 + Duration::from_secs(69)), None);
        assert_eq!(a.update(false, true, t0 + Duration::from_secs(70)), Some(Mode::Attract));
    }

    #[test]
    fn modes_can_be_turned_off() {
        let t0 = Instant::now();
        let config = AttendanceConfig { attract_after: None, sleep_after: None, ..Default::default() };
        let mut a = Attendance::new(config, t0);
        a.update(false, true, t0);
        assert_eq!(a.update(false, true, t0 + Duration::from_secs(86_400)), None);
        assert_eq!(a.mode(), Mode::Active);
    }
}
