//! `demo:` — portraits compiled into the binary, framed as a mirror would see a shopper (head and
//! shoulders filling the frame: the output's aspect cut from the top of a portrait) with a slow,
//! slight drift so the mirror looks alive and temporal stability is visible on a machine with no
//! camera at all. Showing a portrait whole instead made faces too small for the styles to keep.

use image::RgbImage;

use crate::frame::{Frame, Size};
use crate::imageops::Scaler;
use crate::source::{Source, SourceError, SourceOptions};

const PORTRAITS: [&[u8]; 3] = [
    include_bytes!("../../assets/demo/mpl_grace_hopper.jpg"),
    include_bytes!("../../assets/demo/skimage_astronaut.jpg"),
    include_bytes!("../../assets/demo/ibm_pilots.jpg"),
];

/// How far the view closes in over one portrait's hold: 6 %, enough to see motion, too little
/// to crop a face.
const ZOOM: f64 = 0.06;

pub struct Demo {
    /// Each portrait cut to the output's aspect ratio.
    images: Vec<RgbImage>,
    size: Size,
    hold: u64,
    seq: u64,
    scaler: Scaler,
}

impl Demo {
    pub fn new(options: SourceOptions) -> Demo {
        let mut scaler = Scaler::new();
        let images = PORTRAITS
            .iter()
            .map(|bytes| image::load_from_memory(bytes).expect("bundled demo images decode").to_rgb8())
            .map(|portrait| stage(&portrait, options.size, &mut scaler))
            .collect();
        Demo { images, size: options.size, hold: options.hold_frames.max(1) as u64, seq: 0, scaler }
    }
}

/// The first demo picture at `size`: a person to show a style on (style thumbnails).
pub fn sample(size: Size) -> RgbImage {
    let options = SourceOptions { size, hold_frames: 1, fps: 30.0 };
    Demo::new(options).next_frame().expect("the demo always has a frame").image
}

/// The window of `portrait` with `size`'s aspect ratio that keeps its full width (or height, for a
/// wider one), taken a quarter of the way down: head and shoulders, not the belt.
fn stage(portrait: &RgbImage, size: Size, scaler: &mut Scaler) -> RgbImage {
    let (pw, ph) = (portrait.width() as f64, portrait.height() as f64);
    let aspect = size.width as f64 / size.height as f64;
    let (cw, ch) = if pw / ph < aspect { (pw, (pw / aspect).round()) } else { ((ph * aspect).round(), ph) };
    let (left, top) = ((pw - cw) / 2.0, (ph - ch) * 0.25);
    let mut out = RgbImage::new(cw as u32, ch as u32);
    scaler.resize_crop_into(portrait, (left, top, cw, ch), &mut out);
    out
}

impl Source for Demo {
    fn next_frame(&mut self) -> Result<Frame, SourceError> {
        let index = (self.seq / self.hold) as usize % self.images.len();
        let t = (self.seq % self.hold) as f64 / self.hold as f64;
        let src = &self.images[index];
        // The stage has the output's aspect: close in by up to ZOOM, drifting sideways.
        let (sw, sh) = (src.width() as f64, src.height() as f64);
        let zoom = 1.0 - ZOOM * t;
        let (cw, ch) = (sw * zoom, sh * zoom);
        let left = (sw - cw) * (0.5 + 0.4 * (t - 0.5));
        let top = (sh - ch) * 0.3;
        let mut dst = RgbImage::new(self.size.width, self.size.height);
        self.scaler.resize_crop_into(src, (left, top, cw, ch), &mut dst);
        let frame = Frame::new(self.seq, dst);
        self.seq += 1;
        Ok(frame)
    }

    fn describe(&self) -> String {
        format!("demo: {} bundled portraits at {}", self.images.len(), self.size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_portrait_is_cut_to_head_and_shoulders() {
        // Rows coloured by height: the cut keeps the full width and starts a quarter down the spare
        // height.
        let portrait = RgbImage::from_fn(120, 200, |_, y| image::Rgb([y as u8, 0, 0]));
        let staged = stage(&portrait, Size::new(320, 240), &mut Scaler::new());
        assert_eq!(staged.dimensions(), (120, 90));
        let top = staged.get_pixel(60, 0).0[0] as i32;
        assert!((top - 27).abs() <= 1, "cut starts at row {top}, expected (200 - 90) / 4 ≈ 27");
        let bottom = staged.get_pixel(60, 89).0[0] as i32;
        assert!((bottom - 116).abs() <= 1, "cut ends at row {bottom}");
    }

    #[test]
    fn frames_start_with_the_whole_stage_and_drift_slightly() {
        let options = SourceOptions { size: Size::new(320, 240), hold_frames: 30, fps: 30.0 };
        let mut demo = Demo::new(options);
        let first = demo.next_frame().unwrap().image;
        assert_eq!(first.dimensions(), (320, 240));
        let whole = Scaler::new().resize(&demo.images[0], Size::new(320, 240), crate::imageops::Fit::Stretch);
        let diff = |a: &RgbImage, b: &RgbImage| {
            a.as_raw().iter().zip(b.as_raw()).map(|(x, y)| x.abs_diff(*y) as f64).sum::<f64>()
                / a.len() as f64
        };
        assert!(diff(&first, &whole) < 1.0, "frame 0 is the whole stage");
        let later = (1..30).map(|_| demo.next_frame().unwrap().image).last().unwrap();
        let d = diff(&first, &later);
        assert!(d > 1.0 && d < 40.0, "slow drift, not a jump: {d}");
        // The next portrait follows after the hold, whole again.
        let next = demo.next_frame().unwrap().image;
        let whole = Scaler::new().resize(&demo.images[1], Size::new(320, 240), crate::imageops::Fit::Stretch);
        assert!(diff(&next, &whole) < 1.0, "frame 30 is the second portrait's whole stage");
    }
}
