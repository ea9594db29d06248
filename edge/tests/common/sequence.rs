//! A camera-like presence sequence: a person (cut out of a held-out people photo with the
//! mirror's own segmenter) in front of an empty shop wall, with sensor noise. Shared by the
//! presence test and `examples/presence_sequence.rs` (the device lab's recorded camera).

use std::path::Path;

use atelier_edge::person::Segmenter;
use image::{Rgb, RgbImage, imageops::FilterType};

/// The held-out photo the person is cut from.
pub const PERSON: &str = "data/people/mpl_grace_hopper.jpg";

pub struct Sequence {
    pub width: u32,
    wall: RgbImage,
    pub person: RgbImage,
    alpha: Vec<f32>,
}

impl Sequence {
    pub fn new(photo: &Path, width: u32, height: u32) -> Sequence {
        let photo = image::open(photo).expect("the people photo opens").to_rgb8();
        let mask = Segmenter::builtin().segment(&photo).expect("the built-in segmenter runs");
        // The person at 90 % of the picture's height, the photo's aspect kept.
        let ph = height * 9 / 10;
        let pw = photo.width() * ph / photo.height();
        let person = image::imageops::resize(&photo, pw, ph, FilterType::Triangle);
        let alpha = mask.matte(atelier_edge::Size::new(pw, ph), 1);
        Sequence { width, wall: wall(width, height), person, alpha }
    }

    /// Left edge of the person standing in the middle.
    pub fn centre(&self) -> i32 {
        (self.width as i32 - self.person.width() as i32) / 2
    }

    /// The wall, the person with their left edge at `x` (standing on the bottom edge), and noise
    /// seeded by `seed` (σ ≈ 3 grey levels).
    pub fn frame(&self, x: Option<i32>, seed: u32) -> RgbImage {
        let mut img = self.wall.clone();
        if let Some(x) = x {
            let top = (img.height() - self.person.height()) as i32;
            for (px, py, p) in self.person.enumerate_pixels() {
                let (tx, ty) = (x + px as i32, top + py as i32);
                if tx < 0 || tx >= img.width() as i32 {
                    continue;
                }
                let a = self.alpha[(py * self.person.width() + px) as usize];
                let d = img.get_pixel_mut(tx as u32, ty as u32);
                for c in 0..3 {
                    d[c] = (d[c] as f32 + a * (p[c] as f32 - d[c] as f32)) as u8;
                }
            }
        }
        let mut state = 0x9E37_79B9u32.wrapping_mul(seed + 1);
        for v in img.iter_mut() {
            // Sum of four uniform draws: close to Gaussian.
            let mut n = 0i32;
            for _ in 0..4 {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                n += (state >> 29) as i32;
            }
            *v = (*v as i32 + n - 14).clamp(0, 255) as u8;
        }
        img
    }
}

/// An empty shop wall: a warm gradient, a darker floor, two shelves.
fn wall(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (x as f32 / width as f32, y as f32 / height as f32);
        let shelf = (0.12..0.3).contains(&fx) && ((0.3..0.33).contains(&fy) || (0.55..0.58).contains(&fy))
            || (0.75..0.92).contains(&fx) && (0.4..0.43).contains(&fy);
        if shelf {
            Rgb([110, 80, 55])
        } else if fy > 0.82 {
            Rgb([120, 110, 100])
        } else {
            let v = 200.0 - 30.0 * fy - 10.0 * fx;
            Rgb([v as u8, (v * 0.95) as u8, (v * 0.85) as u8])
        }
    })
}
