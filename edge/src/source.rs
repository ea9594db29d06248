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
}

pub const SOURCE_FORMS: &str = "demo:, images:PATH (file, directory or glob), test-pattern:";

impl std::str::FromStr for SourceSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<SourceSpec, String> {
        let (scheme, rest) = s
            .split_once(':')
            .ok_or_else(|| format!("input `{s}` has no scheme; accepted: {SOURCE_FORMS}"))?;
        match scheme {
            "demo" if rest.is_empty() => Ok(SourceSpec::Demo),
            "test-pattern" if rest.is_empty() => Ok(SourceSpec::TestPattern),
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
}

impl SourceSpec {
    /// Opens the source.
    pub fn open(&self, options: SourceOptions) -> Result<Box<dyn Source>, SourceError> {
        Ok(match self {
            SourceSpec::Demo => Box::new(crate::sources::demo::Demo::new(options)),
            SourceSpec::Images(path) => Box::new(crate::sources::images::Images::open(path, options)?),
            SourceSpec::TestPattern => Box::new(crate::sources::test_pattern::TestPattern::new(options.size)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_uris() {
        for uri in ["demo:", "test-pattern:", "images:/tmp/x", "images:a/*.png"] {
            assert_eq!(uri.parse::<SourceSpec>().unwrap().to_string(), uri);
        }
        let err = "v4l:/dev/video0".parse::<SourceSpec>().unwrap_err();
        assert!(err.contains("accepted: demo:"), "{err}");
        assert!("images:".parse::<SourceSpec>().is_err());
        assert!("nonsense".parse::<SourceSpec>().is_err());
    }
}
