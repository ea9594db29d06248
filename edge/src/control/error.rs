//! Errors a control request can end in, with an HTTP status as the code on every wire.

/// A refused or failed request: `ERR <code> <message>` on the serial line, the same status and a
/// JSON `{"code": code, "error": message}` over HTTP.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code} {message}")]
pub struct ControlError {
    pub code: u16,
    pub message: String,
}

impl ControlError {
    fn new(code: u16, message: impl Into<String>) -> ControlError {
        // One line on the wire whatever the message carries.
        let message = message.into().replace(['\r', '\n'], " ");
        ControlError { code, message }
    }
    /// The request is malformed or an argument is out of range.
    pub fn bad_request(message: impl Into<String>) -> ControlError {
        ControlError::new(400, message)
    }
    /// The token is missing or wrong.
    pub fn unauthorized(message: impl Into<String>) -> ControlError {
        ControlError::new(401, message)
    }
    /// The request comes from where the mirror does not take requests (a foreign `Host` or
    /// `Origin`: another site's page in a browser).
    pub fn forbidden(message: impl Into<String>) -> ControlError {
        ControlError::new(403, message)
    }
    /// No such command, style or model.
    pub fn not_found(message: impl Into<String>) -> ControlError {
        ControlError::new(404, message)
    }
    /// The request does not fit the current state (an upload offset that is not the next one).
    pub fn conflict(message: impl Into<String>) -> ControlError {
        ControlError::new(409, message)
    }
    /// A line or an upload over its limit.
    pub fn too_large(message: impl Into<String>) -> ControlError {
        ControlError::new(413, message)
    }
    /// A state change without a content type the API takes (a cross-site form's `text/plain`).
    pub fn unsupported_media_type(message: impl Into<String>) -> ControlError {
        ControlError::new(415, message)
    }
    /// The uploaded file is not a model the mirror can run (hash, contract, test run).
    pub fn invalid_model(message: impl Into<String>) -> ControlError {
        ControlError::new(422, message)
    }
    pub fn internal(message: impl Into<String>) -> ControlError {
        ControlError::new(500, message)
    }
    /// The mirror cannot do it now (pipeline stopped, no state directory).
    pub fn unavailable(message: impl Into<String>) -> ControlError {
        ControlError::new(503, message)
    }
    /// Not enough space for an upload.
    pub fn insufficient_storage(message: impl Into<String>) -> ControlError {
        ControlError::new(507, message)
    }
}

impl From<crate::pipeline::link::Stopped> for ControlError {
    fn from(e: crate::pipeline::link::Stopped) -> ControlError {
        ControlError::unavailable(e.to_string())
    }
}
