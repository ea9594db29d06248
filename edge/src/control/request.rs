//! The command set, independent of the wire it arrives on.

use crate::pipeline::Status;
use crate::style::StyleMix;

/// Largest model file an upload may declare.
pub const MAX_MODEL_BYTES: u64 = 64 << 20;

/// The style strength a request may set: 0 (the camera picture) to 1 (the full style), exactly;
/// NaN and -0.0 are refused rather than stored and shown.
pub fn check_strength(strength: f32) -> Result<f32, crate::control::ControlError> {
    if (0.0..=1.0).contains(&strength) && strength.is_sign_positive() {
        Ok(strength)
    } else {
        Err(crate::control::ControlError::bad_request(format!(
            "strength must be a number from 0 to 1, not {strength}"
        )))
    }
}

/// What an operator or a panel asks of the mirror.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// Maker, product, device id, software and protocol version.
    Identify,
    /// The commands this mirror understands.
    Help,
    Status,
    Styles,
    Style,
    SetStyle(StyleMix),
    /// The next (+1) or previous (−1) of the model's styles, wrapping around.
    StepStyle(i32),
    Strength,
    SetStrength(f32),
    Mirror,
    SetMirror(bool),
    Display,
    SetDisplay(bool),
    /// The active model, and the one `Rollback` would return to.
    Model,
    /// Starts an upload, or resumes one with the same hash: the reply says where to go on from.
    Upload {
        size: u64,
        sha256: String,
    },
    /// Bytes at `offset` of the upload, with their CRC-32 (IEEE).
    Chunk {
        offset: u64,
        crc32: u32,
        data: Vec<u8>,
    },
    /// Makes a verified upload the running model (the latest one when no hash is given).
    Activate(Option<String>),
    /// Returns to the model that was active before the last activation.
    Rollback,
    /// Unsolicited `EVENT` lines on this connection (serial only).
    Events(bool),
}

/// What a request answers.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum Response {
    Identity(Identity),
    Help(Vec<&'static str>),
    Status(Box<Status>),
    Styles(Vec<String>),
    /// The style now shown, in the form `SetStyle` accepts.
    Style {
        style: String,
        label: String,
    },
    Strength {
        strength: f32,
    },
    Mirror {
        mirror: bool,
    },
    Display {
        display_on: bool,
    },
    Model(Models),
    Upload(UploadState),
    Events {
        events: bool,
    },
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Identity {
    pub maker: &'static str,
    pub product: &'static str,
    pub device_id: String,
    pub version: &'static str,
    pub protocol: u32,
}

/// A model the mirror knows.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ModelSummary {
    /// `factory` (built in or named on the command line) or `deployed` (uploaded).
    pub origin: &'static str,
    pub name: String,
    pub sha256: String,
    pub styles: Vec<String>,
}

/// The active model and what rollback would restore.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Models {
    pub active: ModelSummary,
    pub previous: Option<ModelSummary>,
}

/// Where an upload stands.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UploadState {
    pub sha256: String,
    pub size: u64,
    /// Bytes received and written; the next chunk starts here.
    pub offset: u64,
    /// Set once the whole file is in, hashed, validated and test-run: ready to activate.
    pub verified: Option<ModelSummary>,
}
