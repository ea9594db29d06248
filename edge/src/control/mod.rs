//! Control of a running mirror: one command set, three ways in.
//!
//! ```text
//!  serial line protocol ─┐                       ┌─▶ pipeline::Command ─▶ running pipeline
//!  HTTP /api/v1/  ───────┼─▶ Request ─▶ Controller┤
//!  (atelier ctl speaks   ┘                       └─▶ ModelStore (uploads, active model, state)
//!   both)
//! ```
//!
//! A [`Request`] is what an operator asks, whatever the wire; the [`Controller`] answers it with a
//! [`Response`] or a [`ControlError`] whose code is an HTTP status, so the serial `ERR <code>` and
//! the HTTP API agree. `docs/control.md` is the reference.

pub mod checker;
pub mod controller;
pub mod error;
pub mod http;
pub mod line;
pub mod request;
pub mod serial;
pub mod store;

pub use controller::Controller;
pub use error::ControlError;
pub use request::{Request, Response};

/// Version of the command set, reported by `*IDN?` and `/api/v1/identity`; bumped when a
/// command changes meaning.
pub const PROTOCOL_VERSION: u32 = 1;
