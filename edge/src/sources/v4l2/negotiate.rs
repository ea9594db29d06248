//! Choosing a capture format from what a camera offers.
//!
//! The rule (after jetson-utils' `matchCaps`): the size closest to the one asked for, then the
//! highest frame rate up to the one asked for, then YUYV if it reaches that rate, MJPEG otherwise
//! (USB webcams give YUYV only at low rates above 640×480), then NV12 and RGB24.
//! Kept free of device calls so it is tested on plain data.

use crate::frame::Size;

/// Pixel formats the mirror decodes, in order of preference at equal size and rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PixelFormat {
    Yuyv,
    Mjpeg,
    Nv12,
    Rgb24,
}

impl PixelFormat {
    pub const ALL: [PixelFormat; 4] =
        [PixelFormat::Yuyv, PixelFormat::Mjpeg, PixelFormat::Nv12, PixelFormat::Rgb24];

    pub fn fourcc(self) -> [u8; 4] {
        match self {
            PixelFormat::Yuyv => *b"YUYV",
            PixelFormat::Mjpeg => *b"MJPG",
            PixelFormat::Nv12 => *b"NV12",
            PixelFormat::Rgb24 => *b"RGB3",
        }
    }

    pub fn from_fourcc(fourcc: [u8; 4]) -> Option<PixelFormat> {
        // JPEG is what some UVC cameras call their MJPEG stream.
        if &fourcc == b"JPEG" {
            return Some(PixelFormat::Mjpeg);
        }
        PixelFormat::ALL.into_iter().find(|f| f.fourcc() == fourcc)
    }
}

impl std::fmt::Display for PixelFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PixelFormat::Yuyv => "YUYV",
            PixelFormat::Mjpeg => "MJPEG",
            PixelFormat::Nv12 => "NV12",
            PixelFormat::Rgb24 => "RGB24",
        })
    }
}

/// A frame interval as the driver states it: `numerator / denominator` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    pub numerator: u32,
    pub denominator: u32,
}

impl Interval {
    pub fn fps(self) -> f32 {
        if self.numerator == 0 { 0.0 } else { self.denominator as f32 / self.numerator as f32 }
    }
}

/// One size of one format, with the frame intervals offered at that size.
#[derive(Debug, Clone, PartialEq)]
pub struct Mode {
    pub format: PixelFormat,
    pub size: Size,
    pub intervals: Vec<Interval>,
}

/// The chosen mode and frame interval (`None` when the driver lists none).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Choice {
    pub format: PixelFormat,
    pub size: Size,
    pub interval: Option<Interval>,
}

fn distance(a: Size, b: Size) -> u64 {
    (a.width as i64 - b.width as i64).unsigned_abs() + (a.height as i64 - b.height as i64).unsigned_abs()
}

/// The best rate of a mode up to `fps`, or its slowest when all are faster than asked.
fn best_interval(mode: &Mode, fps: f32) -> Option<Interval> {
    let within =
        mode.intervals.iter().filter(|i| i.fps() <= fps + 0.01).max_by(|a, b| a.fps().total_cmp(&b.fps()));
    within.or_else(|| mode.intervals.iter().min_by(|a, b| a.fps().total_cmp(&b.fps()))).copied()
}

/// Applies the rule above; `None` when no mode has a format the mirror decodes.
pub fn choose(modes: &[Mode], want: Size, fps: f32) -> Option<Choice> {
    let size =
        modes.iter().map(|m| m.size).min_by_key(|&s| (distance(s, want), u64::MAX - s.width as u64))?;
    let at_size: Vec<&Mode> = modes.iter().filter(|m| m.size == size).collect();
    // A mode that cannot go as slow as asked counts as reaching the asked rate, no more.
    let rate = |m: &Mode| best_interval(m, fps).map_or(0.0, Interval::fps).min(fps);
    let top = at_size.iter().map(|m| rate(m)).fold(0.0_f32, f32::max);
    let mode = at_size
        .iter()
        .filter(|m| rate(m) >= top - 0.01)
        .min_by_key(|m| m.format)
        .expect("at least one mode has the top rate");
    Some(Choice { format: mode.format, size, interval: best_interval(mode, fps) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(fps: u32) -> Interval {
        Interval { numerator: 1, denominator: fps }
    }

    fn mode(format: PixelFormat, w: u32, h: u32, fps: &[u32]) -> Mode {
        Mode { format, size: Size::new(w, h), intervals: fps.iter().map(|&f| iv(f)).collect() }
    }

    /// A typical UVC webcam: YUYV is slow above 640×480, MJPEG is fast everywhere.
    fn webcam() -> Vec<Mode> {
        vec![
            mode(PixelFormat::Yuyv, 640, 480, &[30, 15]),
            mode(PixelFormat::Yuyv, 1280, 720, &[10, 5]),
            mode(PixelFormat::Mjpeg, 640, 480, &[30, 15]),
            mode(PixelFormat::Mjpeg, 1280, 720, &[30, 15]),
        ]
    }

    #[test]
    fn yuyv_when_it_reaches_the_rate() {
        let c = choose(&webcam(), Size::new(640, 480), 30.0).unwrap();
        assert_eq!((c.format, c.size, c.interval), (PixelFormat::Yuyv, Size::new(640, 480), Some(iv(30))));
    }

    #[test]
    fn mjpeg_when_yuyv_is_too_slow() {
        let c = choose(&webcam(), Size::new(1280, 720), 30.0).unwrap();
        assert_eq!((c.format, c.interval), (PixelFormat::Mjpeg, Some(iv(30))));
        // Asking for 10 fps: YUYV reaches it, so YUYV.
        let c = choose(&webcam(), Size::new(1280, 720), 10.0).unwrap();
        assert_eq!((c.format, c.interval), (PixelFormat::Yuyv, Some(iv(10))));
    }

    #[test]
    fn closest_size_then_rate_up_to_the_one_asked() {
        let c = choose(&webcam(), Size::new(800, 600), 20.0).unwrap();
        assert_eq!((c.size, c.format, c.interval), (Size::new(640, 480), PixelFormat::Yuyv, Some(iv(15))));
    }

    #[test]
    fn slowest_rate_when_all_are_faster_than_asked() {
        let modes = vec![mode(PixelFormat::Nv12, 320, 240, &[60, 30])];
        let c = choose(&modes, Size::new(320, 240), 5.0).unwrap();
        assert_eq!((c.format, c.interval), (PixelFormat::Nv12, Some(iv(30))));
    }

    #[test]
    fn vivid_like_fractional_rates() {
        // vivid offers 12.5 fps at 1280×720 (interval 2/25).
        let modes = vec![Mode {
            format: PixelFormat::Yuyv,
            size: Size::new(1280, 720),
            intervals: vec![Interval { numerator: 2, denominator: 25 }, iv(5)],
        }];
        let c = choose(&modes, Size::new(1280, 720), 30.0).unwrap();
        assert_eq!(c.interval.unwrap().fps(), 12.5);
        assert!(choose(&[], Size::new(640, 480), 30.0).is_none());
    }

    #[test]
    fn fourcc_round_trip() {
        for f in PixelFormat::ALL {
            assert_eq!(PixelFormat::from_fourcc(f.fourcc()), Some(f));
        }
        assert_eq!(PixelFormat::from_fourcc(*b"JPEG"), Some(PixelFormat::Mjpeg));
        assert_eq!(PixelFormat::from_fourcc(*b"GREY"), None);
    }
}
