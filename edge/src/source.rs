//! Where frames come from: the [`Source`] trait and the `--input` URIs that name a source.

use std::path::PathBuf;

use crate::frame::{Frame, Size};

/// Why a source could not deliver a frame.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{uri}: {message}")]
    Open { uri: String, message: String },
    #[error("{0}")]
    Read(String),
    /// The device is away for now (unplugged, not sending); the source is retrying and the
    /// pipeline keeps running, showing why.
    #[error("{0}")]
    Unavailable(String),
}

/// Running counts a source keeps, for `--report` and the status.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct SourceStats {
    /// Frames the device delivered that could not be decoded (skipped).
    pub corrupt_frames: u64,
    /// Times the device went away.
    pub disconnects: u64,
    /// Frames the device had queued that were skipped to show the newest.
    pub skipped_at_device: u64,
    /// Frames captured before the stream was restarted, which a driver handed the new stream.
    pub stale_frames: u64,
    /// Time spent decoding and converting frames to RGB.
    pub convert_seconds: f64,
}

/// A producer of frames. `next_frame` blocks as long as a real device would; synthetic sources
/// return at once and the pipeline paces them (see [`Source::is_live`]).
pub trait Source: Send {
    fn next_frame(&mut self) -> Result<Frame, SourceError>;

    /// A short description for logs and reports.
    fn describe(&self) -> String;

    /// True for devices that deliver frames at their own rate; false for files and synthetic
    /// scenes, which the pipeline throttles to the configured frame rate.
    fn is_live(&self) -> bool {
        false
    }

    /// Counts so far; sources that cannot fail keep the default zeros.
    fn stats(&self) -> SourceStats {
        SourceStats::default()
    }
}

/// A parsed `--input` URI.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum SourceSpec {
    /// `demo:` — the portraits compiled into the binary, slowly panning.
    Demo,
    /// `images:PATH` — a file, a directory or a glob of images, looping.
    Images(PathBuf),
    /// `test-pattern:` — a moving, colourful synthetic scene.
    TestPattern,
    /// `v4l2:///dev/video0`, or a bare `/dev/videoN` or `/dev/v4l/by-id/...` path — a V4L2 camera.
    V4l2(PathBuf),
    /// `camera:` — the first V4L2 capture device with a usable format.
    Camera,
}

pub const SOURCE_FORMS: &str = "camera:, v4l2:///dev/videoN (or a bare /dev/videoN, /dev/v4l/by-id/...), demo:, images:PATH (file, directory or glob), test-pattern:";

impl std::str::FromStr for SourceSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<SourceSpec, String> {
        if s.starts_with("/dev/") {
            return Ok(SourceSpec::V4l2(PathBuf::from(s)));
        }
        if let Some(path) = s.strip_prefix("v4l2://").or_else(|| s.strip_prefix("v4l2:")) {
            return match path.starts_with("/dev/") {
                true => Ok(SourceSpec::V4l2(PathBuf::from(path))),
                false => Err(format!("input `{s}`: expected a device path, e.g. v4l2:///dev/video0")),
            };
        }
        let (scheme, rest) = s
            .split_once(':')
            .ok_or_else(|| format!("input `{s}` has no scheme; accepted: {SOURCE_FORMS}"))?;
        match scheme {
            "demo" if rest.is_empty() => Ok(SourceSpec::Demo),
            "test-pattern" if rest.is_empty() => Ok(SourceSpec::TestPattern),
            "camera" if rest.is_empty() => Ok(SourceSpec::Camera),
            "images" if !rest.is_empty() => Ok(SourceSpec::Images(PathBuf::from(rest))),
            "images" => {
                Err("input `images:` needs a path, e.g. images:photos/ or images:'shots/*.jpg'".into())
            }
            _ => Err(format!("input `{s}` is not supported; accepted: {SOURCE_FORMS}")),
        }
    }
}

impl std::fmt::Display for SourceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SourceSpec::Demo => f.write_str("demo:"),
            SourceSpec::Images(p) => write!(f, "images:{}", p.display()),
            SourceSpec::TestPattern => f.write_str("test-pattern:"),
            SourceSpec::V4l2(p) => write!(f, "v4l2://{}", p.display()),
            SourceSpec::Camera => f.write_str("camera:"),
        }
    }
}

impl TryFrom<String> for SourceSpec {
    type Error = String;
    fn try_from(s: String) -> Result<SourceSpec, String> {
        s.parse()
    }
}

impl From<SourceSpec> for String {
    fn from(s: SourceSpec) -> String {
        s.to_string()
    }
}

/// Settings shared by all sources.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SourceOptions {
    /// Size of the frames the source delivers (a camera's capture size).
    pub size: Size,
    /// For still images: how many frames each image is shown for before the next.
    pub hold_frames: u32,
    /// A camera's frame rate, the most asked of it.
    pub fps: f32,
}

impl SourceSpec {
    /// Opens the source.
    pub fn open(&self, options: SourceOptions) -> Result<Box<dyn Source>, SourceError> {
        Ok(match self {
            SourceSpec::Demo => Box::new(crate::sources::demo::Demo::new(options)),
            SourceSpec::Images(path) => Box::new(crate::sources::images::Images::open(path, options)?),
            SourceSpec::TestPattern => Box::new(crate::sources::test_pattern::TestPattern::new(options.size)),
            SourceSpec::V4l2(path) => Box::new(camera(Some(path), options)?),
            SourceSpec::Camera => Box::new(camera(None, options)?),
        })
    }
}

fn camera(
    path: Option<&std::path::Path>,
    options: SourceOptions,
) -> Result<crate::sources::v4l2::Camera, SourceError> {
    let request = crate::sources::v4l2::CaptureRequest { size: options.size, fps: options.fps };
    crate::sources::v4l2::Camera::open(path, request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_uris() {
        for uri in
            ["demo:", "test-pattern:", "images:/tmp/x", "images:a/*.png", "camera:", "v4l2:///dev/video0"]
        {
            assert_eq!(uri.parse::<SourceSpec>().unwrap().to_string(), uri);
        }
        assert_eq!("/dev/video2".parse::<SourceSpec>().unwrap(), SourceSpec::V4l2("/dev/video2".into()));
        let by_id = "/dev/v4l/by-id/usb-Cam-video-index0";
        assert_eq!(by_id.parse::<SourceSpec>().unwrap(), SourceSpec::V4l2(by_id.into()));
        assert_eq!("v4l2:/dev/video1".parse::<SourceSpec>().unwrap(), SourceSpec::V4l2("/dev/video1".into()));
        assert!("v4l2://video0".parse::<SourceSpec>().is_err());
        let err = "v4l:/dev/video0".parse::<SourceSpec>().unwrap_err();
        assert!(err.contains("accepted: camera:"), "{err}");
        assert!("images:".parse::<SourceSpec>().is_err());
        assert!("nonsense".parse::<SourceSpec>().is_err());
    }
}
