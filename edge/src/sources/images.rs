//! `images:PATH` — still images (a file, a directory or a glob), looping like a slide show.
//!
//! Images are decoded and cover-cropped to the capture size once, when the source opens: a
//! decoded 640×480 frame is under 1 MB, and decoding a multi-megapixel JPEG on every frame would
//! cost a Pi more time than the style itself.

use std::path::{Path, PathBuf};

use image::RgbImage;

use crate::frame::Frame;
use crate::imageops::{Fit, Scaler};
use crate::source::{Source, SourceError, SourceOptions};

/// File extensions the source picks up from a directory.
pub const IMAGE_EXTENSIONS: [&str; 5] = ["jpg", "jpeg", "png", "webp", "bmp"];
/// More images than this are refused rather than silently eating memory.
pub const MAX_IMAGES: usize = 512;

pub struct Images {
    frames: Vec<(PathBuf, RgbImage)>,
    hold: u64,
    seq: u64,
}

impl Images {
    pub fn open(path: &Path, options: SourceOptions) -> Result<Images, SourceError> {
        let uri = format!("images:{}", path.display());
        let open_err = |message: String| SourceError::Open { uri: uri.clone(), message };
        let paths = list_images(path).map_err(open_err)?;
        if paths.len() > MAX_IMAGES {
            return Err(open_err(format!(
                "{} images found; at most {MAX_IMAGES} are supported",
                paths.len()
            )));
        }
        let mut scaler = Scaler::new();
        let mut frames = Vec::with_capacity(paths.len());
        let mut failures = Vec::new();
        for p in paths {
            match image::open(&p) {
                Ok(img) => {
                    let img = scaler.resize(&img.to_rgb8(), options.size, Fit::Cover);
                    frames.push((p, img));
                }
                Err(e) => {
                    tracing::warn!("skipping unreadable image {}: {e}", p.display());
                    failures.push(format!("{}: {e}", p.display()));
                }
            }
        }
        if frames.is_empty() {
            return Err(open_err(format!("no readable image; {}", failures.join("; "))));
        }
        Ok(Images { frames, hold: options.hold_frames.max(1) as u64, seq: 0 })
    }

    /// The images in play order.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.frames.iter().map(|(p, _)| p.as_path())
    }

    /// Which image frame `seq` shows.
    pub fn index_for(seq: u64, hold: u32, count: usize) -> usize {
        (seq / hold.max(1) as u64) as usize % count
    }
}

impl Source for Images {
    fn next_frame(&mut self) -> Result<Frame, SourceError> {
        let i = Images::index_for(self.seq, self.hold as u32, self.frames.len());
        let frame = Frame::new(self.seq, self.frames[i].1.clone());
        self.seq += 1;
        Ok(frame)
    }

    fn describe(&self) -> String {
        format!("images: {} files, {} frames each", self.frames.len(), self.hold)
    }
}

/// Expands a file, directory or glob into a sorted list of image files.
pub fn list_images(path: &Path) -> Result<Vec<PathBuf>, String> {
    let text = path.to_string_lossy();
    let mut found: Vec<PathBuf> = if path.is_dir() {
        std::fs::read_dir(path)
            .map_err(|e| format!("cannot list the directory: {e}"))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && has_image_extension(p))
            .collect()
    } else if path.is_file() {
        vec![path.to_path_buf()]
    } else if text.contains(['*', '?', '[']) {
        glob::glob(&text)
            .map_err(|e| format!("bad glob pattern: {e}"))?
            .filter_map(Result::ok)
            .filter(|p| p.is_file())
            .collect()
    } else {
        return Err("no such file or directory".into());
    };
    found.sort();
    if found.is_empty() {
        return Err(format!("no image files ({}) found", IMAGE_EXTENSIONS.join(", ")));
    }
    Ok(found)
}

fn has_image_extension(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Size;

    fn options() -> SourceOptions {
        SourceOptions { size: Size::new(32, 24), hold_frames: 2, fps: 30.0 }
    }

    #[test]
    fn loops_over_a_directory_and_skips_unreadable_files() {
        let dir = tempfile::tempdir().unwrap();
        RgbImage::from_pixel(40, 40, image::Rgb([255, 0, 0])).save(dir.path().join("a.png")).unwrap();
        RgbImage::from_pixel(40, 30, image::Rgb([0, 0, 255])).save(dir.path().join("b.png")).unwrap();
        std::fs::write(dir.path().join("c.png"), b"not a png").unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"ignored").unwrap();
        let mut src = Images::open(dir.path(), options()).unwrap();
        assert_eq!(src.paths().count(), 2);
        let reds: Vec<u8> = (0..6).map(|_| src.next_frame().unwrap().image.get_pixel(5, 5).0[0]).collect();
        assert_eq!(reds, [255, 255, 0, 0, 255, 255]);
    }

    #[test]
    fn errors_name_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let err = Images::open(dir.path(), options()).err().unwrap().to_string();
        assert!(err.contains("no image files"), "{err}");
        let err = Images::open(&dir.path().join("missing"), options()).err().unwrap().to_string();
        assert!(err.contains("no such file"), "{err}");
        std::fs::write(dir.path().join("bad.jpg"), b"garbage").unwrap();
        let err = Images::open(dir.path(), options()).err().unwrap().to_string();
        assert!(err.contains("no readable image") && err.contains("bad.jpg"), "{err}");
    }
}
