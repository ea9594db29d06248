//! The demo portrait at any size: a real picture to run the models on.

use std::path::Path;

/// The demo portrait, resized to `width`×`height`.
pub fn portrait(width: u32, height: u32) -> image::RgbImage {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/mpl_grace_hopper.jpg");
    let img = image::open(path).unwrap().to_rgb8();
    image::imageops::resize(&img, width, height, image::imageops::FilterType::Triangle)
}
