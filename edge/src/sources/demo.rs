//! `demo:` — portraits compiled into the binary, shown with a slow pan and zoom so the mirror
//! looks alive (and temporal stability is visible) on a machine with no camera at all.

use image::RgbImage;

use crate::frame::{Frame, Size};
use crate::imageops::Scaler;
use crate::source::{Source, SourceError, SourceOptions};

const PORTRAITS: [&[u8]; 2] = [
    include_bytes!("../../assets/demo/mpl_grace_hopper.jpg"),
    include_bytes!("../../assets/demo/ibm_pilots.jpg"),
];

pub struct Demo {
    images: Vec<RgbImage>,
    size: Size,
    hold: u64,
    seq: u64,
    scaler: Scaler,
}

impl Demo {
    pub fn new(options: SourceOptions) -> Demo {
        let images = PORTRAITS
            .iter()
            .map(|bytes| image::load_from_memory(bytes).expect("bundled demo images decode").to_rgb8())
            .collect();
        Demo {
            images,
            size: options.size,
            hold: options.hold_frames.max(1) as u64,
            seq: 0,
            scaler: Scaler::new(),
        }
    }
}

impl Source for Demo {
    fn next_frame(&mut self) -> Result<Frame, SourceError> {
        let index = (self.seq / self.hold) as usize % self.images.len();
        let t = (self.seq % self.hold) as f64 / self.hold as f64;
        let src = &self.images[index];
        // Crop a window with the output's aspect ratio, zooming from 100% to 85% and drifting.
        let (sw, sh) = (src.width() as f64, src.height() as f64);
        let aspect = self.size.width as f64 / self.size.height as f64;
        let (mut cw, mut ch) = if sw / sh > aspect { (sh * aspect, sh) } else { (sw, sw / aspect) };
        let zoom = 1.0 - 0.15 * t;
        cw *= zoom;
        ch *= zoom;
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
