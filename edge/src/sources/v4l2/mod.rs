//! `v4l2:///dev/videoN`, `/dev/videoN`, `/dev/v4l/by-id/...`, `camera:` — a V4L2 camera.
//!
//! The `v4l` crate enumerates and negotiates; the buffer queue is ours ([`queue`]). A camera that
//! disappears never stops the mirror: [`Camera::next_frame`] reports
//! [`SourceError::Unavailable`] while it reopens the device (by its stable path when it has one)
//! with back-off, and frames flow again on their own when it returns.

pub mod convert;
pub mod discover;
pub mod negotiate;
pub mod queue;

use std::mem::ManuallyDrop;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use image::RgbImage;
use v4l::video::Capture;
use v4l::{Device, FourCC};

use self::convert::Layout;
use self::negotiate::{Choice, Interval, PixelFormat};
use self::queue::{BufferQueue, QueueError};
use crate::frame::{Frame, Size};
use crate::source::{Source, SourceError, SourceStats};

/// Buffers requested from the driver: enough that the driver never starves while we convert one.
const BUFFERS: u32 = 4;
/// A frame later than this counts as a timeout.
const FRAME_TIMEOUT: Duration = Duration::from_secs(1);
/// Timeouts in a row after which the stream is torn down and recreated.
const TIMEOUTS_BEFORE_RESTART: u32 = 3;
/// Reopen back-off: starts short so a bumped cable costs little, capped so the picture is back
/// within about a second of the camera.
const BACKOFF_MIN: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// At most one log line about corrupt frames per this period.
const CORRUPT_LOG_PERIOD: Duration = Duration::from_secs(10);

/// What the mirror asks of a camera.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CaptureRequest {
    pub size: Size,
    pub fps: f32,
}

/// An open device node. `v4l::Device`'s handle unwraps `close()` in its `Drop`, which must not
/// take the mirror down after an unplug, so the fd is closed here and the crate's handle is
/// never dropped (a few bytes per reopen).
struct DeviceFd {
    device: ManuallyDrop<Device>,
}

impl DeviceFd {
    fn fd(&self) -> i32 {
        self.device.handle().fd()
    }
}

impl Drop for DeviceFd {
    fn drop(&mut self) {
        // SAFETY: the fd is ours and nothing uses it after this; the crate's handle is leaked.
        unsafe { libc::close(self.fd()) };
    }
}

/// A streaming device: the queue is declared first so it is dropped (STREAMOFF, munmap) before
/// the fd is closed.
struct Streaming {
    queue: BufferQueue,
    device: DeviceFd,
    layout: Layout,
}

pub struct Camera {
    /// The node we (re)open: the stable `/dev/v4l/by-*` link when there is one.
    path: PathBuf,
    request: CaptureRequest,
    live: Option<Streaming>,
    described: String,
    seq: u64,
    stats: SourceStats,
    timeouts: u32,
    /// When the current run of timeouts began (the camera is there but sends nothing).
    silent_since: Option<Instant>,
    backoff: Duration,
    next_attempt: Instant,
    last_corrupt_log: Option<Instant>,
    /// CLOCK_MONOTONIC time of the last stream restart. Some drivers (v4l2loopback) hand a new
    /// stream the last frame they hold; shown, it would pass for a live picture while the camera
    /// still sends nothing.
    restarted_at: Option<Duration>,
}

/// Why a device could not be opened for capture.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The node is missing or the device went away: worth retrying.
    #[error("{0}")]
    Gone(String),
    #[error("{0}")]
    Unusable(String),
}

impl Camera {
    /// Opens `path` (or, with `None`, the first capture device that offers a usable format),
    /// negotiates a format and starts streaming.
    pub fn open(path: Option<&Path>, request: CaptureRequest) -> Result<Camera, SourceError> {
        let uri = path.map_or("camera:".to_string(), |p| format!("v4l2://{}", p.display()));
        let path = match path {
            Some(p) => p.to_path_buf(),
            None => discover::first_camera().ok_or_else(|| SourceError::Open {
                uri: uri.clone(),
                message: "no V4L2 capture device with a YUYV, MJPEG, NV12 or RGB24 format was found; \
                          plug in a camera or see `atelier-mirror --list-devices`"
                    .into(),
            })?,
        };
        let path = discover::stable_path(&path).unwrap_or(path);
        let live = start(&path, request).map_err(|e| SourceError::Open {
            uri: uri.clone(),
            message: format!("{e}; see `atelier-mirror --list-devices`"),
        })?;
        let described = describe(&path, &live, request);
        Ok(Camera {
            path,
            request,
            live: Some(live),
            described,
            seq: 0,
            stats: SourceStats::default(),
            timeouts: 0,
            silent_since: None,
            backoff: BACKOFF_MIN,
            next_attempt: Instant::now(),
            last_corrupt_log: None,
            restarted_at: None,
        })
    }

    /// Drops the stream after a failure; the next call reopens the device. The error's text is
    /// what the screen's notice says: its headline before the first `": "`.
    fn lose(&mut self, failure: Failure) -> SourceError {
        if self.live.take().is_some() {
            self.stats.disconnects += 1;
            tracing::warn!("{}: {failure}; retrying", self.path.display());
        }
        self.next_attempt = Instant::now() + self.backoff;
        SourceError::Unavailable(failure.to_string())
    }

    /// Waits out the back-off, then tries to reopen once.
    fn reopen(&mut self) -> Result<(), SourceError> {
        let now = Instant::now();
        if self.next_attempt > now {
            std::thread::sleep(self.next_attempt - now);
        }
        match start(&self.path, self.request) {
            Ok(live) => {
                self.described = describe(&self.path, &live, self.request);
                tracing::info!("camera is back: {}", self.described);
                self.live = Some(live);
                self.restarted_at = Some(monotonic_now());
                self.backoff = BACKOFF_MIN;
                self.timeouts = 0;
                Ok(())
            }
            Err(e) => {
                self.next_attempt = Instant::now() + self.backoff;
                self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
                Err(SourceError::Unavailable(format!("camera disconnected: {e}")))
            }
        }
    }

    fn note_corrupt(&mut self, why: &dyn std::fmt::Display) {
        self.stats.corrupt_frames += 1;
        let now = Instant::now();
        if self.last_corrupt_log.is_none_or(|t| now - t >= CORRUPT_LOG_PERIOD) {
            self.last_corrupt_log = Some(now);
            tracing::warn!(
                "camera {}: skipping a corrupt frame ({why}); {} so far",
                self.path.display(),
                self.stats.corrupt_frames
            );
        }
    }
}

impl Source for Camera {
    fn next_frame(&mut self) -> Result<Frame, SourceError> {
        loop {
            let Some(live) = self.live.as_mut() else {
                self.reopen()?;
                continue;
            };
            let d = match live.queue.dequeue_newest(FRAME_TIMEOUT) {
                Ok(d) => d,
                Err(QueueError::Timeout(t)) if t.is_zero() => continue,
                Err(QueueError::Timeout(t)) => {
                    self.timeouts += 1;
                    if self.timeouts >= TIMEOUTS_BEFORE_RESTART {
                        self.timeouts = 0;
                        return Err(self.lose(Failure::Silent(t * TIMEOUTS_BEFORE_RESTART)));
                    }
                    return Err(SourceError::Unavailable(format!(
                        "camera sent no frame for {} s",
                        t.as_secs()
                    )));
                }
                Err(e) => return Err(self.lose(Failure::Queue(e))),
            };
            self.stats.skipped_at_device += d.skipped as u64;
            if self.restarted_at.is_some_and(|r| captured_before(d.timestamp, r)) {
                self.stats.stale_frames += 1;
                if let Err(e) = live.queue.requeue(d.index) {
                    return Err(self.lose(Failure::Queue(e)));
                }
                continue;
            }
            self.restarted_at = None;
            self.timeouts = 0;
            self.silent_since = None;
            let layout = live.layout;
            let started = Instant::now();
            let mut image = RgbImage::new(layout.width, layout.height);
            let converted = if d.error {
                Err("the driver flagged the buffer as bad".to_string())
            } else {
                convert::to_rgb(layout, live.queue.data(&d), &mut image).map_err(|e| e.to_string())
            };
            if let Err(e) = live.queue.requeue(d.index) {
                return Err(self.lose(Failure::Queue(e)));
            }
            if let Err(why) = converted {
                self.note_corrupt(&why);
                continue;
            }
            self.stats.convert_seconds += started.elapsed().as_secs_f64();
            let mut frame = Frame::new(self.seq, image);
            frame.captured = instant_of(d.timestamp);
            self.seq += 1;
            return Ok(frame);
        }
    }

    fn describe(&self) -> String {
        self.described.clone()
    }

    fn is_live(&self) -> bool {
        true
    }

    fn stats(&self) -> SourceStats {
        self.stats
    }
}

/// Why a stream was dropped, as the screen's notice says it.
#[derive(Debug)]
enum Failure {
    /// Open and streaming, but no frame came: a stalled driver or a hung USB camera.
    Silent(Duration),
    /// The queue failed: the device went away, or an I/O error.
    Queue(QueueError),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Silent(t) => {
                write!(f, "camera stopped sending frames: none for {} s", t.as_secs())
            }
            Failure::Queue(QueueError::Disconnected(why)) => write!(f, "camera disconnected: {why}"),
            Failure::Queue(e) => write!(f, "camera error: {e}"),
        }
    }
}

/// Buffer timestamps further than this from now are taken to be on another clock.
const SAME_CLOCK: Duration = Duration::from_secs(10);

fn monotonic_now() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid timespec out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// The `Instant` of a CLOCK_MONOTONIC buffer timestamp (std's `Instant` is CLOCK_MONOTONIC on
/// Linux), so latency is measured from when the sensor delivered the frame.
fn instant_of(timestamp: Duration) -> Instant {
    let now = Instant::now();
    if timestamp.is_zero() {
        return now;
    }
    match monotonic_now().checked_sub(timestamp) {
        Some(age) if age < SAME_CLOCK => now.checked_sub(age).unwrap_or(now),
        _ => now,
    }
}

/// Whether a buffer stamped `timestamp` was captured before `moment` (both CLOCK_MONOTONIC).
/// Unstamped buffers and stamps from another clock are given the benefit of the doubt.
fn captured_before(timestamp: Duration, moment: Duration) -> bool {
    !timestamp.is_zero() && moment.checked_sub(timestamp).is_some_and(|d| !d.is_zero() && d < SAME_CLOCK)
}

fn describe(path: &Path, live: &Streaming, request: CaptureRequest) -> String {
    let l = live.layout;
    let fps = live
        .device
        .device
        .params()
        .ok()
        .map(|p| Interval { numerator: p.interval.numerator, denominator: p.interval.denominator }.fps());
    format!(
        "camera {}: {} {}x{}{} (asked {} at {} fps)",
        path.display(),
        l.format,
        l.width,
        l.height,
        fps.map_or(String::new(), |f| format!(" at {f} fps")),
        request.size,
        request.fps
    )
}

fn os_error(path: &Path, what: &str, e: std::io::Error) -> OpenError {
    let gone = matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENODEV | libc::ENXIO | libc::EIO));
    let msg = format!("{}: {what}: {e}", path.display());
    if gone { OpenError::Gone(msg) } else { OpenError::Unusable(msg) }
}

/// Opens the node, negotiates, sets the format and frame interval, and starts streaming.
fn start(path: &Path, request: CaptureRequest) -> Result<Streaming, OpenError> {
    let device = DeviceFd {
        device: ManuallyDrop::new(Device::with_path(path).map_err(|e| os_error(path, "cannot open", e))?),
    };
    let dev = &*device.device;
    let caps = dev.query_caps().map_err(|e| os_error(path, "not a V4L2 device", e))?;
    if !caps.capabilities.contains(v4l::capability::Flags::VIDEO_CAPTURE) {
        return Err(OpenError::Unusable(format!(
            "{} ({}) is not a single-planar video capture device",
            path.display(),
            caps.card
        )));
    }
    let modes = discover::modes(dev, request.size).map_err(|e| os_error(path, "cannot list formats", e))?;
    let Choice { format, size, interval } =
        negotiate::choose(&modes, request.size, request.fps).ok_or_else(|| {
            OpenError::Unusable(format!(
                "{} ({}) offers none of the formats the mirror decodes (YUYV, MJPEG, NV12, RGB24)",
                path.display(),
                caps.card
            ))
        })?;
    let asked = v4l::Format::new(size.width, size.height, FourCC::new(&format.fourcc()));
    let got = dev.set_format(&asked).map_err(|e| os_error(path, "cannot set the format", e))?;
    let got_format = PixelFormat::from_fourcc(got.fourcc.repr).ok_or_else(|| {
        OpenError::Unusable(format!(
            "{}: asked for {format}, the driver chose {}",
            path.display(),
            got.fourcc
        ))
    })?;
    if got_format != format || (got.width, got.height) != (size.width, size.height) {
        tracing::warn!(
            "{}: asked for {format} {size}, the driver chose {got_format} {}x{}",
            path.display(),
            got.width,
            got.height
        );
    }
    if let Some(i) = interval {
        let params = v4l::video::capture::Parameters::new(v4l::Fraction::new(i.numerator, i.denominator));
        if let Err(e) = dev.set_params(&params) {
            tracing::warn!("{}: cannot set {} fps: {e}", path.display(), i.fps());
        }
    }
    let layout = Layout { format: got_format, width: got.width, height: got.height, stride: got.stride };
    let queue = BufferQueue::start(device.fd(), BUFFERS).map_err(|e| match e {
        QueueError::Disconnected(m) => OpenError::Gone(format!("{}: {m}", path.display())),
        e => OpenError::Unusable(format!("{}: cannot start streaming: {e}", path.display())),
    })?;
    Ok(Streaming { queue, device, layout })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_camera_is_not_called_disconnected() {
        // The notice's headline is the text before the first ": " (pipeline::notice_frame).
        let headline = |f: Failure| f.to_string().split_once(": ").unwrap().0.to_string();
        assert_eq!(headline(Failure::Silent(Duration::from_secs(3))), "camera stopped sending frames");
        let gone = Failure::Queue(QueueError::Disconnected("ENODEV".into()));
        assert_eq!(headline(gone), "camera disconnected");
        let io = Failure::Queue(QueueError::Io(std::io::Error::from_raw_os_error(libc::EIO)));
        assert_eq!(headline(io), "camera error");
        assert!(Failure::Silent(Duration::from_secs(3)).to_string().contains("none for 3 s"));
    }

    #[test]
    fn frames_stamped_before_a_restart_are_stale() {
        let restart = Duration::from_secs(100);
        assert!(captured_before(Duration::from_millis(96_500), restart));
        assert!(!captured_before(Duration::from_millis(100_040), restart), "captured after the restart");
        assert!(!captured_before(restart, restart), "captured at the restart");
    }

    #[test]
    fn unstamped_or_foreign_clock_frames_are_not_stale() {
        let restart = Duration::from_secs(100);
        assert!(!captured_before(Duration::ZERO, restart));
        // A driver stamping with another clock: far from CLOCK_MONOTONIC either way.
        assert!(!captured_before(Duration::from_secs(5), restart));
        assert!(!captured_before(Duration::from_secs(1_765_000_000), restart));
    }
}
