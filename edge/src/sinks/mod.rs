//! The frame sinks named by `--output` URIs.

pub mod drm;
pub mod fbdev;
pub mod mjpeg;
pub mod null;
pub mod png;
pub mod present;
pub mod window;
