//! Where stylized frames go: the [`Sink`] trait and the `--output` URIs that name a sink.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::frame::Frame;

/// Why a sink could not take a frame.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("{uri}: {message}")]
    Open { uri: String, message: String },
    #[error("{0}")]
    Write(String),
}

/// A consumer of finished frames (stylized, resized, with overlay).
pub trait Sink: Send {
    /// Takes ownership so a sink that keeps frames (the preview's "latest") needs no copy.
    fn write(&mut self, frame: Frame) -> Result<(), SinkError>;

    /// A short description for logs and reports, e.g. the preview URL.
    fn describe(&self) -> String;
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
}

pub const SINK_FORMS: &str = "png:DIR, mjpeg://HOST:PORT (e.g. mjpeg://127.0.0.1:8080), null:";

impl std::str::FromStr for SinkSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<SinkSpec, String> {
        if let Some(addr) = s.strip_prefix("mjpeg://") {
            let addr = addr.trim_end_matches('/');
            return addr.parse::<SocketAddr>().map(SinkSpec::Mjpeg).map_err(|_| {
                format!("output `{s}`: `{addr}` is not HOST:PORT with a numeric IP, e.g. mjpeg://127.0.0.1:8080 or mjpeg://0.0.0.0:8080")
            });
        }
        match s.split_once(':') {
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

impl SinkSpec {
    pub fn open(&self) -> Result<Box<dyn Sink>, SinkError> {
        Ok(match self {
            SinkSpec::Png(dir) => Box::new(crate::sinks::png::PngDir::create(dir)?),
            SinkSpec::Mjpeg(addr) => Box::new(crate::sinks::mjpeg::MjpegServer::bind(*addr)?),
            SinkSpec::Null => Box::new(crate::sinks::null::Discard),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_uris() {
        for uri in ["png:out", "mjpeg://127.0.0.1:8080", "mjpeg://0.0.0.0:9000", "null:"] {
            assert_eq!(uri.parse::<SinkSpec>().unwrap().to_string(), uri);
        }
        assert!("mjpeg://localhost".parse::<SinkSpec>().unwrap_err().contains("HOST:PORT"));
        assert!("png:".parse::<SinkSpec>().is_err());
        assert!("hdmi:0".parse::<SinkSpec>().unwrap_err().contains("accepted"));
    }
}
