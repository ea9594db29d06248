//! The style mirror's runtime: load a generator that honours the [model contract](contract), run
//! it with tract on frames from a [`Source`](source::Source), draw the overlay, and hand the result
//! to a [`Sink`](sink::Sink), on a [pipeline](pipeline) of three threads.
//!
//! The crate never depends on training code, so it cross-builds for aarch64 boards on its own.

pub mod alloc_budget;
pub mod canvas;
pub mod config;
pub mod contract;
pub mod control;
pub mod engine;
pub mod frame;
pub mod imageops;
pub mod overlay;
pub mod person;
pub mod pipeline;
pub mod presence;
pub mod service;
pub mod sink;
pub mod sinks;
pub mod source;
pub mod sources;
pub mod style;

pub use engine::{Engine, EngineOptions};
pub use frame::{Frame, Size};
