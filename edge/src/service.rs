//! Running under systemd (`Type=notify`, `WatchdogSec=`): `READY=1` once the mirror shows
//! something, `WATCHDOG=1` only while the pipeline makes progress, `STATUS=` with what an operator
//! looks for first. Outside systemd (no `NOTIFY_SOCKET`) none of this runs.
//!
//! Progress is the pipeline's heartbeat count ([`StatusBoard::beats`]): frames reaching the
//! output (shown, or dropped because the operator turned the screen off), the sleeping mirror
//! looking at the camera, or the capture thread retrying a camera that went away. A hung
//! inference or painter thread stops the count, the pings stop, and systemd restarts the mirror
//! (the smart-mirror failure this guards against is a frozen picture nobody notices).

use std::thread::{self, JoinHandle};
use std::time::Duration;

use sd_notify::NotifyState;

use crate::pipeline::{StatusBoard, StopHandle};

/// How often the status line is refreshed without a watchdog.
const STATUS_PERIOD: Duration = Duration::from_secs(2);

/// What the supervisor tells the service manager after one look at the board.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Notice {
    pub ready: bool,
    pub watchdog: bool,
    /// A new status line, when it changed.
    pub status: Option<String>,
}

/// Decides, look by look, what to send: pure, so tests drive it without a socket.
#[derive(Debug, Default)]
pub struct Supervisor {
    beats: u64,
    ready: bool,
    status: String,
}

impl Supervisor {
    /// One look: `beats` is the board's heartbeat count, `status` its current summary line.
    pub fn look(&mut self, beats: u64, status: String) -> Notice {
        let progress = beats != self.beats;
        self.beats = beats;
        let ready = progress && !self.ready;
        self.ready |= progress;
        let status = (status != self.status).then(|| {
            self.status = status.clone();
            status
        });
        Notice { ready, watchdog: progress, status }
    }
}

/// The `STATUS=` line: frame rate, style, camera and presence.
pub fn status_line(board: &StatusBoard) -> String {
    let s = board.get();
    let camera = match &s.camera_away {
        Some(why) => format!("camera away ({why})"),
        None => "camera ok".into(),
    };
    let presence = if s.presence.is_empty() { "starting" } else { s.presence.as_str() };
    format!("{:.0} fps, style {}, {camera}, {presence}", s.fps, s.style)
}

/// Starts the supervisor thread when systemd started the mirror with a notify socket; it ends
/// (sending `STOPPING=1`) once `stop` is triggered.
pub fn supervise(board: StatusBoard, stop: StopHandle) -> Option<JoinHandle<()>> {
    std::env::var_os("NOTIFY_SOCKET")?;
    let watchdog = sd_notify::watchdog_enabled();
    // Ping at a third of the watchdog period: two missed looks still leave a margin.
    let period = watchdog.map_or(STATUS_PERIOD, |w| (w / 3).clamp(Duration::from_millis(100), STATUS_PERIOD));
    tracing::info!(
        "systemd: notify socket set, watchdog {}",
        watchdog.map_or("off".into(), |w| format!("every {:.0} s", w.as_secs_f64()))
    );
    let handle = thread::Builder::new()
        .name("systemd".into())
        .spawn(move || {
            let mut supervisor = Supervisor::default();
            while !stop.is_stopped() {
                let notice = supervisor.look(board.beats(), status_line(&board));
                let mut states = Vec::new();
                if notice.ready {
                    tracing::info!("systemd: ready");
                    states.push(NotifyState::Ready);
                }
                if notice.watchdog && watchdog.is_some() {
                    states.push(NotifyState::Watchdog);
                }
                if let Some(line) = &notice.status {
                    states.push(NotifyState::Status(line));
                }
                if !states.is_empty()
                    && let Err(e) = sd_notify::notify(&states)
                {
                    tracing::warn!("systemd: cannot notify the service manager: {e}");
                }
                thread::sleep(period);
            }
            let _ = sd_notify::notify(&[NotifyState::Stopping]);
        })
        .expect("spawn systemd thread");
    Some(handle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_once_then_pings_only_while_the_pipeline_beats() {
        let mut s = Supervisor::default();
        // Loading, nothing shown yet: neither ready nor alive.
        let n = s.look(0, "0 fps".into());
        assert!(!n.ready && !n.watchdog);
        assert_eq!(n.status.as_deref(), Some("0 fps"));
        // First frame out.
        let n = s.look(1, "0 fps".into());
        assert!(n.ready && n.watchdog && n.status.is_none());
        let n = s.look(7, "12 fps".into());
        assert!(!n.ready && n.watchdog);
        assert_eq!(n.status.as_deref(), Some("12 fps"));
        // Hung: no beats, no ping, so the watchdog fires.
        let n = s.look(7, "12 fps".into());
        assert!(!n.ready && !n.watchdog && n.status.is_none());
    }
}
