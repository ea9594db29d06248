//! Test fixtures shared by several test files.
pub mod sequence;
