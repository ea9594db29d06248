//! `demo:` — portraits compiled into the binary, shown whole (faces and clothes large, the sides
//! of a portrait-format photo filled with a blurred, darkened copy of it, as video players do)
//! with a slow, slight drift so the mirror looks alive and temporal stability is visible on a
//! machine with no camera at all.

use image::RgbImage;

use crate::frame::{Frame, Size};
use crate::imageops::{Fit, Scaler};
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
    /// Each portrait on a stage with the output's aspect ratio.
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

/// `portrait` whole, centred on a canvas of `size`'s aspect ratio and the portrait's height (or
/// width, for a wider one), over a blurred, darkened cover-crop of itself.
fn stage(portrait: &RgbImage, size: Size, scaler: &mut Scaler) -> RgbImage {
    let (pw, ph) = (portrait.width() as f64, portrait.height() as f64);
    let aspect = size.width as f64 / size.height as f64;
    let (cw, ch) = if pw / ph < aspect { ((ph * aspect).round(), ph) } else { (pw, (pw / aspect).round()) };
    let canvas = Size::new(cw as u32, ch as u32);
    // A blur by way of a 1/16 thumbnail: soft enough, and cheap at start-up.
    let thumb = scaler.resize(
        portrait,
        Size::new((canvas.width / 16).max(1), (canvas.height / 16).max(1)),
        Fit::Cover,
    );
    let mut out = scaler.resize(&thumb, canvas, Fit::Stretch);
    out.pixels_mut().for_each(|p| p.0 = p.0.map(|v| (v as u16 * 2 / 5) as u8));
    let (x, y) = ((canvas.width - portrait.width()) / 2, (canvas.height - portrait.height()) / 2);
    image::imageops::replace(&mut out, portrait, x as i64, y as i64);
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
    fn a_portrait_is_shown_whole_between_dimmed_sides() {
        let portrait = RgbImage::from_pixel(100, 200, image::Rgb([200, 150, 100]));
        let staged = stage(&portrait, Size::new(320, 240), &mut Scaler::new());
        assert_eq!(staged.dimensions(), (267, 200));
        // The whole portrait, centred.
        assert_eq!(staged.get_pixel(83, 0).0, [200, 150, 100]);
        assert_eq!(staged.get_pixel(182, 199).0, [200, 150, 100]);
        // The sides: the same colours, dimmed.
        assert_eq!(staged.get_pixel(10, 100).0, [80, 60, 40]);
        assert_eq!(staged.get_pixel(260, 100).0, [80, 60, 40]);
    }

    #[test]
    fn frames_start_with_the_whole_stage_and_drift_slightly() {
        let options = SourceOptions { size: Size::new(320, 240), hold_frames: 30, fps: 30.0 };
        let mut demo = Demo::new(options);
        let first = demo.next_frame().unwrap().image;
        assert_eq!(first.dimensions(), (320, 240));
        let whole = Scaler::new().resize(&demo.images[0], Size::new(320, 240), Fit::Stretch);
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
        let whole = Scaler::new().resize(&demo.images[1], Size::new(320, 240), Fit::Stretch);
        assert!(diff(&next, &whole) < 1.0, "frame 30 is the second portrait's whole stage");
    }
}
