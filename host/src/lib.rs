//! Workstation side of Atelier: describe, export, (train,) quantize, evaluate and run style
//! generators. Everything that runs a model goes through [`atelier_edge::Engine`], the exact
//! engine the mirror uses, so figures measured here are the mirror's figures.

pub mod bench;
pub mod ctl;
pub mod eval;
pub mod generator;
pub mod images;
pub mod infer;
pub mod nets;
pub mod onnx;
pub mod planes;
pub mod quantize;
pub mod sheet;
pub mod stylize;
#[cfg(feature = "train")]
pub mod train;

pub use generator::{Generator, GeneratorConfig, Weights};
