//! `png:DIR` — writes every frame as a PNG. Frames are camera images: this sink exists for
//! recordings the operator asks for and for tests, never as a default.

use std::path::{Path, PathBuf};

use crate::frame::Frame;
use crate::sink::{Sink, SinkError};

pub struct PngDir {
    dir: PathBuf,
}

impl PngDir {
    pub fn create(dir: &Path) -> Result<PngDir, SinkError> {
        std::fs::create_dir_all(dir).map_err(|e| SinkError::Open {
            uri: format!("png:{}", dir.display()),
            message: format!("cannot create the directory: {e}"),
        })?;
        Ok(PngDir { dir: dir.to_path_buf() })
    }

    /// The file a frame is written to.
    pub fn path_for(dir: &Path, seq: u64) -> PathBuf {
        dir.join(format!("frame-{seq:06}.png"))
    }
}

impl Sink for PngDir {
    fn write(&mut self, frame: Frame) -> Result<(), SinkError> {
        let path = PngDir::path_for(&self.dir, frame.seq);
        // Write then rename, so a reader (or a full disk) never leaves a half-written frame.
        let tmp = path.with_extension("png.part");
        frame
            .image
            .save_with_format(&tmp, image::ImageFormat::Png)
            .and_then(|_| std::fs::rename(&tmp, &path).map_err(image::ImageError::IoError))
            .map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                SinkError::Write(format!("cannot write {}: {e}; is the disk full?", path.display()))
            })
    }

    fn describe(&self) -> String {
        format!("png:{}", self.dir.display())
    }
}
