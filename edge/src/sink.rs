//! Where stylized frames go: the [`Sink`] trait and the `--output` URIs that name a sink.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::frame::{Frame, Size};
use crate::sinks::drm::DrmSpec;
use crate::sinks::present::Rotation;
use crate::sinks::window::WindowSpec;

/// Why a sink could not take a frame.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("{uri}: {message}")]
    Open { uri: String, message: String },
    #[error("{0}")]
    Write(String),
    /// The viewer closed the output (a window): the mirror stops cleanly.
    #[error("{0}")]
    Closed(String),
}

/// A consumer of finished frames (stylized, resized, with overlay).
pub trait Sink: Send {
    /// Takes ownership so a sink that keeps frames (the preview's "latest") needs no copy.
    fn write(&mut self, frame: Frame) -> Result<(), SinkError>;

    /// A short description for logs and reports, e.g. the preview URL.
    fn describe(&self) -> String;

    /// The picture size this sink shows without scaling, upright (a screen's size after its
    /// rotation); `None` for sinks that take any size.
    fn picture_size(&self) -> Option<Size> {
        None
    }

    /// The screen's power switch, for sinks that are displays.
    fn power(&mut self) -> Option<&mut dyn DisplayPower> {
        None
    }
}

/// Switching a display off and on through its own power control (DPMS, blanking), so the
/// mirror can sleep when nobody is there and check that it really woke.
pub trait DisplayPower {
    fn set_power(&mut self, on: bool) -> Result<(), SinkError>;
    fn is_on(&self) -> bool;
}

/// A parsed `--output` URI.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum SinkSpec {
    /// `png:DIR` — every frame as `DIR/frame-SEQ.png` (SEQ is the source's frame number).
    Png(PathBuf),
    /// `mjpeg://HOST:PORT` — an HTTP MJPEG stream with a preview page at `/`.
    Mjpeg(SocketAddr),
    /// `null:` — discards frames; for measuring the pipeline without output costs.
    Null,
    /// `drm:[CARD][?connector=NAME&mode=WxH]` — full screen through KMS.
    Drm(DrmSpec),
    /// `fb:/dev/fbN` — the Linux framebuffer.
    Fb(PathBuf),
    /// `window:[?windowed]` — a fullscreen window on a Wayland or X11 desktop.
    Window(WindowSpec),
}

pub const SINK_FORMS: &str = "drm:[CARD][?connector=NAME&mode=WxH], fb:/dev/fbN, window:[?windowed], \
    mjpeg://HOST:PORT (e.g. mjpeg://127.0.0.1:8080), png:DIR, null:";

impl std::str::FromStr for SinkSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<SinkSpec, String> {
        if let Some(addr) = s.strip_prefix("mjpeg://") {
            let addr = addr.trim_end_matches('/');
            return addr.parse::<SocketAddr>().map(SinkSpec::Mjpeg).map_err(|_| {
                format!("output `{s}`: `{addr}` is not HOST:PORT with a numeric IP, e.g. mjpeg://127.0.0.1:8080 or mjpeg://0.0.0.0:8080")
            });
        }
        if let Some(rest) = s.strip_prefix("drm:") {
            return rest.parse().map(SinkSpec::Drm);
        }
        if let Some(rest) = s.strip_prefix("window:") {
            return rest.parse().map(SinkSpec::Window);
        }
        match s.split_once(':') {
            Some(("fb", path)) if path.starts_with("/dev/") => Ok(SinkSpec::Fb(PathBuf::from(path))),
            Some(("fb", _)) => Err("output `fb:` needs a device, e.g. fb:/dev/fb0".into()),
            Some(("null", "")) => Ok(SinkSpec::Null),
            Some(("png", dir)) if !dir.is_empty() => Ok(SinkSpec::Png(PathBuf::from(dir))),
            Some(("png", _)) => Err("output `png:` needs a directory, e.g. png:out/".into()),
            _ => Err(format!("output `{s}` is not supported; accepted: {SINK_FORMS}")),
        }
    }
}

impl std::fmt::Display for SinkSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SinkSpec::Png(dir) => write!(f, "png:{}", dir.display()),
            SinkSpec::Mjpeg(addr) => write!(f, "mjpeg://{addr}"),
            SinkSpec::Null => f.write_str("null:"),
            SinkSpec::Drm(spec) => spec.fmt(f),
            SinkSpec::Fb(path) => write!(f, "fb:{}", path.display()),
            SinkSpec::Window(spec) => spec.fmt(f),
        }
    }
}

impl TryFrom<String> for SinkSpec {
    type Error = String;
    fn try_from(s: String) -> Result<SinkSpec, String> {
        s.parse()
    }
}

impl From<SinkSpec> for String {
    fn from(s: SinkSpec) -> String {
        s.to_string()
    }
}

/// Settings shared by the sinks.
#[derive(Clone, Default)]
pub struct SinkOptions {
    /// How screens are turned (portrait mirrors); previews and files stay upright.
    pub rotation: Rotation,
    /// What the preview's HTTP server also serves (API, token).
    pub http: crate::control::http::HttpOptions,
}

impl SinkSpec {
    pub fn open(&self, options: SinkOptions) -> Result<Box<dyn Sink>, SinkError> {
        Ok(match self {
            SinkSpec::Png(dir) => Box::new(crate::sinks::png::PngDir::create(dir)?),
            SinkSpec::Mjpeg(addr) => {
                Box::new(crate::sinks::mjpeg::MjpegServer::bind(*addr, options.http.clone())?)
            }
            SinkSpec::Null => Box::new(crate::sinks::null::Discard),
            SinkSpec::Drm(spec) => Box::new(crate::sinks::drm::DrmDisplay::open(spec, options.rotation)?),
            SinkSpec::Fb(path) => Box::new(crate::sinks::fbdev::Framebuffer::open(path, options.rotation)?),
            SinkSpec::Window(spec) => {
                if options.rotation != Rotation::R0 {
                    tracing::warn!(
                        "--rotate does not apply to window:; turn the display in the desktop's settings"
                    );
                }
                Box::new(crate::sinks::window::WindowSink::open(spec)?)
            }
        })
    }

    /// True for outputs that are screens.
    pub fn is_display(&self) -> bool {
        matches!(self, SinkSpec::Drm(_) | SinkSpec::Fb(_) | SinkSpec::Window(_))
    }
}

/// Several outputs showing the same frames (a screen and the preview, say). Frames are copied
/// for all but the last sink.
pub struct Tee {
    sinks: Vec<Box<dyn Sink>>,
}

impl Tee {
    pub fn new(sinks: Vec<Box<dyn Sink>>) -> Tee {
        Tee { sinks }
    }

    /// The only sink of a one-sink tee, without the wrapper.
    pub fn into_single(mut self) -> Box<dyn Sink> {
        if self.sinks.len() == 1 { self.sinks.pop().expect("one sink") } else { Box::new(self) }
    }

    /// Opens every output; the first failure names its URI.
    pub fn open(specs: &[SinkSpec], options: SinkOptions) -> Result<Tee, SinkError> {
        Ok(Tee::new(specs.iter().map(|s| s.open(options.clone())).collect::<Result<_, _>>()?))
    }
}

impl Sink for Tee {
    fn write(&mut self, frame: Frame) -> Result<(), SinkError> {
        if let Some((last, rest)) = self.sinks.split_last_mut() {
            for sink in rest {
                sink.write(frame.clone())?;
            }
            last.write(frame)?;
        }
        Ok(())
    }

    fn describe(&self) -> String {
        self.sinks.iter().map(|s| s.describe()).collect::<Vec<_>>().join(" + ")
    }

    /// The first screen's size: the picture is made for it, other outputs take it as it is.
    fn picture_size(&self) -> Option<Size> {
        self.sinks.iter().find_map(|s| s.picture_size())
    }

    fn power(&mut self) -> Option<&mut dyn DisplayPower> {
        self.sinks.iter_mut().find_map(|s| s.power())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_uris() {
        for uri in [
            "png:out",
            "mjpeg://127.0.0.1:8080",
            "mjpeg://0.0.0.0:9000",
            "null:",
            "drm:",
            "fb:/dev/fb0",
            "window:",
            "window:?windowed",
        ] {
            assert_eq!(uri.parse::<SinkSpec>().unwrap().to_string(), uri);
        }
        assert!("mjpeg://localhost".parse::<SinkSpec>().unwrap_err().contains("HOST:PORT"));
        assert!("png:".parse::<SinkSpec>().is_err());
        assert!("hdmi:0".parse::<SinkSpec>().unwrap_err().contains("accepted"));
        assert!("fb:".parse::<SinkSpec>().is_err());
        assert!("drm:?connector=HDMI-A-1".parse::<SinkSpec>().unwrap().is_display());
    }
}
