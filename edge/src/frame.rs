//! The unit that flows through the pipeline: an RGB8 image plus where it came from.

use std::time::Instant;

use image::RgbImage;

/// One video frame. RGB8 because that is what cameras, encoders and displays speak; the engine
/// converts to and from the model's f32 tensors exactly once per frame.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Monotonic number assigned by the source; gaps downstream mean dropped frames.
    pub seq: u64,
    /// When the source produced it, for latency figures.
    pub captured: Instant,
    pub image: RgbImage,
}

impl Frame {
    pub fn new(seq: u64, image: RgbImage) -> Frame {
        Frame { seq, captured: Instant::now(), image }
    }
}

/// A width × height pair, parsed from `WxH`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Size {
    pub width: u32,
    pub height: u32,
}

impl Size {
    pub const fn new(width: u32, height: u32) -> Size {
        Size { width, height }
    }
}

impl std::fmt::Display for Size {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

impl std::str::FromStr for Size {
    type Err = String;
    fn from_str(s: &str) -> Result<Size, String> {
        let err = || format!("`{s}` is not a size; expected WIDTHxHEIGHT such as 320x240");
        let (w, h) = s.split_once(['x', 'X']).ok_or_else(err)?;
        let width: u32 = w.trim().parse().map_err(|_| err())?;
        let height: u32 = h.trim().parse().map_err(|_| err())?;
        if width == 0 || height == 0 || width > 8192 || height > 8192 {
            return Err(format!("`{s}` is out of range; width and height must be 1..=8192"));
        }
        Ok(Size { width, height })
    }
}

impl TryFrom<String> for Size {
    type Error = String;
    fn try_from(s: String) -> Result<Size, String> {
        s.parse()
    }
}

impl From<Size> for String {
    fn from(s: Size) -> String {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes() {
        assert_eq!("320x240".parse::<Size>().unwrap(), Size::new(320, 240));
        assert_eq!("64X48".parse::<Size>().unwrap(), Size::new(64, 48));
        assert!("320".parse::<Size>().is_err());
        assert!("0x240".parse::<Size>().is_err());
        assert!("axb".parse::<Size>().is_err());
    }
}
