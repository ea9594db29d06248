//! `null:` — takes frames and throws them away, so `--report` measures capture and inference
//! without encoding or disk costs.

use crate::frame::Frame;
use crate::sink::{Sink, SinkError};

pub struct Discard;

impl Sink for Discard {
    fn write(&mut self, _frame: Frame) -> Result<(), SinkError> {
        Ok(())
    }

    fn describe(&self) -> String {
        "null: (frames discarded)".into()
    }
}
