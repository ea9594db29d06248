//! Writes a camera-like sequence for presence tests: a person (cut out of a held-out people photo
//! with the mirror's own segmenter) arriving in front of an empty shop wall, standing there with
//! a slight sway, leaving, and a passer-by crossing quickly; every frame with sensor noise.
//!
//!   cargo run --release -p atelier-edge --example presence_sequence -- OUT_DIR [WxH]
//!
//! Files: `empty-K.jpg`, `arrive-K.jpg`, `stand-K.jpg`, `leave-K.jpg`, `cross-K.jpg` (a JPEG
//! each, for the device lab's MJPEG camera); a test or lab scenario strings them into a timeline.

use std::path::{Path, PathBuf};

use image::RgbImage;

#[path = "../tests/common/sequence.rs"]
mod sequence;
use sequence::{PERSON, Sequence};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let out =
        PathBuf::from(args.next().ok_or_else(|| anyhow::anyhow!("usage: presence_sequence OUT_DIR [WxH]"))?);
    let size: atelier_edge::Size =
        args.next().as_deref().unwrap_or("320x240").parse().map_err(anyhow::Error::msg)?;
    std::fs::create_dir_all(&out)?;
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let sequence = Sequence::new(&repo.join(PERSON), size.width, size.height);
    let save = |name: String, img: &RgbImage| -> anyhow::Result<()> {
        let mut file = std::fs::File::create(out.join(name))?;
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut file, 85).encode_image(img)?;
        Ok(())
    };
    let centre = sequence.centre();
    let off_left = -(sequence.person.width() as i32);
    for k in 0..4 {
        save(format!("empty-{k}.jpg"), &sequence.frame(None, k))?;
    }
    for k in 0..10u32 {
        let x = off_left + (centre - off_left) * (k as i32 + 1) / 10;
        save(format!("arrive-{k}.jpg"), &sequence.frame(Some(x), 10 + k))?;
    }
    for k in 0..8u32 {
        let sway = [0, 2, 3, 2, 0, -2, -3, -2][k as usize];
        save(format!("stand-{k}.jpg"), &sequence.frame(Some(centre + sway), 20 + k))?;
    }
    for k in 0..10u32 {
        let x = centre + (size.width as i32 - centre) * (k as i32 + 1) / 10;
        save(format!("leave-{k}.jpg"), &sequence.frame(Some(x), 30 + k))?;
    }
    // A passer-by crosses the whole picture in 4 frames.
    for k in 0..4u32 {
        let x = off_left + (size.width as i32 - off_left) * (k as i32 + 1) / 5;
        save(format!("cross-{k}.jpg"), &sequence.frame(Some(x), 40 + k))?;
    }
    eprintln!("presence_sequence: {} at {size} in {}", PERSON, out.display());
    Ok(())
}
