//! Workstation side of Atelier: describe, export, (train,) quantize, evaluate and run style
//! generators. Everything that runs a model goes through [`atelier_edge::Engine`], the exact
//! engine the mirror uses, so figures measured here are the mirror's figures.

pub mod generator;
pub mod infer;
pub mod onnx;

pub use generator::{Generator, GeneratorConfig, Weights};
