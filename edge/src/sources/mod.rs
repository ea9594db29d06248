//! The frame sources named by `--input` URIs.

pub mod demo;
pub mod images;
pub mod test_pattern;
pub mod v4l2;
