//! Reading image files, shared by the trainer and the `stylize`, `eval` and `quantize` tools, so
//! every tool names the offending file the same way when a photo cannot be read.

use std::path::{Path, PathBuf};

use image::RgbImage;

/// An image file that could not be read or decoded; the message names the file.
#[derive(Debug, thiserror::Error)]
/// The decoder's message is part of this one, so it is not also the `source()`.
#[error("cannot read image {}: {error}", path.display())]
pub struct ImageError {
    pub path: PathBuf,
    pub error: image::ImageError,
}

/// Listing a file, folder or glob of images is the mirror's `images:` source logic, reused.
pub use atelier_edge::sources::images::{IMAGE_EXTENSIONS, list_images};

/// Reads an image file as RGB8; the error names the file.
pub fn load_rgb(path: &Path) -> Result<RgbImage, ImageError> {
    image::open(path).map(|i| i.to_rgb8()).map_err(|error| ImageError { path: path.to_path_buf(), error })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_file_or_folder() {
        let dir = tempfile::tempdir().unwrap();
        let empty = list_images(dir.path()).unwrap_err();
        assert!(empty.starts_with("no image files"), "{empty}");
        let path = dir.path().join("broken.png");
        std::fs::write(&path, b"not a png").unwrap();
        let err = load_rgb(&path).unwrap_err().to_string();
        assert!(err.contains("broken.png"), "{err}");
        assert_eq!(list_images(dir.path()).unwrap(), vec![path]);
        assert!(list_images(&dir.path().join("missing")).unwrap_err().contains("no such file"));
    }
}
