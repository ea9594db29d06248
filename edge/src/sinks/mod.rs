//! The frame sinks named by `--output` URIs.

pub mod mjpeg;
pub mod null;
pub mod png;
