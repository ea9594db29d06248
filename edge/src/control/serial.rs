//! The serial control port: reads command lines, answers each with one line, and optionally
//! reports changes as `EVENT` lines. The port is reopened with back-off when it goes away (a USB
//! adapter unplugged), so a panel can be replugged without touching the mirror.
//!
//! Framing is byte-level on purpose: a line is whatever comes before `\n` (a trailing `\r` is
//! dropped), capped at [`MAX_LINE`] bytes; an over-long line is answered once with `ERR 413` when
//! its end arrives, and bytes that are not UTF-8 get `ERR 400`. Nothing a sender does can make the
//! loop stop answering.

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use super::controller::Controller;
use super::error::ControlError;
use super::line::{self, MAX_LINE};
use super::request::{Request, Response};
use crate::pipeline::{Status, StopHandle};

/// How long one read waits: the loop checks for stop and events this often.
const READ_TICK: Duration = Duration::from_millis(100);
const MIN_BACKOFF: Duration = Duration::from_millis(250);
/// A replugged adapter is back in use within this; trying to open a missing device costs nothing.
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// A reply the host does not read within this long is dropped rather than blocking the mirror.
const WRITE_PATIENCE: Duration = Duration::from_secs(2);

pub const DEFAULT_BAUD: u32 = 115_200;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerialOptions {
    pub path: PathBuf,
    pub baud: u32,
}

/// Opens a port the way the mirror does: raw, 8N1, exclusive, with the loop's read timeout.
pub fn open(options: &SerialOptions) -> serialport::Result<Box<dyn serialport::SerialPort>> {
    serialport::new(options.path.to_string_lossy(), options.baud).timeout(READ_TICK).open()
}

/// Serves the port until `stop`, reopening it with back-off whenever it fails or is absent.
pub fn serve(controller: &Controller, options: &SerialOptions, stop: &StopHandle) {
    let path = options.path.display();
    let mut backoff = MIN_BACKOFF;
    let mut reported: Option<String> = None;
    while !stop.is_stopped() {
        match open(options) {
            Ok(mut port) => {
                tracing::info!("serial control on {path} at {} baud", options.baud);
                backoff = MIN_BACKOFF;
                reported = None;
                match Connection::new(controller).run(&mut port, stop) {
                    Ok(()) => return,
                    Err(e) => {
                        tracing::warn!("serial port {path} went away ({e}); reopening it when it is back")
                    }
                }
            }
            Err(e) => {
                let message = e.to_string();
                if reported.as_ref() != Some(&message) {
                    tracing::warn!(
                        "cannot open serial port {path}: {message}; retrying every {} s until it appears",
                        MAX_BACKOFF.as_secs()
                    );
                    reported = Some(message);
                }
            }
        }
        let until = Instant::now() + backoff;
        while Instant::now() < until && !stop.is_stopped() {
            thread::sleep(Duration::from_millis(50));
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One open port's session: the partial line and whether events were asked for.
pub struct Connection<'a> {
    controller: &'a Controller,
    line: Vec<u8>,
    overlong: bool,
    events: Option<Watched>,
}

impl<'a> Connection<'a> {
    pub fn new(controller: &'a Controller) -> Connection<'a> {
        Connection { controller, line: Vec::with_capacity(256), overlong: false, events: None }
    }

    /// Answers lines until `stop` (Ok) or until the port fails or hangs up (Err).
    pub fn run(&mut self, port: &mut (impl Read + Write + ?Sized), stop: &StopHandle) -> io::Result<()> {
        let mut buf = [0u8; 4096];
        while !stop.is_stopped() {
            match port.read(&mut buf) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "hung up")),
                Ok(n) => {
                    for &byte in &buf[..n] {
                        if let Some(reply) = self.push(byte) {
                            send(port, &reply)?;
                        }
                    }
                }
                Err(e) if is_transient(&e) => {}
                Err(e) => return Err(e),
            }
            if let Some(events) = self.events.as_mut() {
                for event in events.changes(&self.controller.status()) {
                    send(port, &event)?;
                }
            }
        }
        Ok(())
    }

    /// Takes one byte; returns the reply when it completes a line.
    pub fn push(&mut self, byte: u8) -> Option<String> {
        if byte != b'\n' {
            if self.overlong {
                return None;
            }
            if self.line.len() >= MAX_LINE {
                self.overlong = true;
                self.line.clear();
                return None;
            }
            self.line.push(byte);
            return None;
        }
        if std::mem::take(&mut self.overlong) {
            return Some(line::reply(&Err(ControlError::too_large(format!(
                "line longer than {MAX_LINE} bytes; ignored"
            )))));
        }
        let raw = std::mem::take(&mut self.line);
        let raw = raw.strip_suffix(b"\r").unwrap_or(&raw);
        if raw.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        let result = match std::str::from_utf8(raw) {
            Ok(text) => line::parse(text).and_then(|request| self.execute(request)),
            Err(_) => Err(ControlError::bad_request("the line is not UTF-8 text")),
        };
        Some(line::reply(&result))
    }

    fn execute(&mut self, request: Request) -> Result<Response, ControlError> {
        // A request that panics is answered, and the port goes on answering: its thread is the
        // panel's only way in.
        let controller = self.controller;
        let response = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| controller.execute(request)))
            .unwrap_or_else(|panic| {
                let why = super::checker::panic_text(&*panic);
                tracing::error!("a serial request panicked: {why}");
                Err(ControlError::internal(format!("the request failed: {why}")))
            })?;
        if let Response::Events { events } = response {
            self.events = events.then(|| Watched::from(&self.controller.status()));
        }
        Ok(response)
    }
}

fn is_transient(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted)
}

/// Writes a reply line, waiting a little for a slow reader; a reply nobody takes is dropped.
fn send(port: &mut (impl Write + ?Sized), text: &str) -> io::Result<()> {
    let bytes = format!("{text}\r\n").into_bytes();
    let deadline = Instant::now() + WRITE_PATIENCE;
    let mut sent = 0;
    while sent < bytes.len() {
        match port.write(&bytes[sent..]) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "port closed")),
            Ok(n) => sent += n,
            Err(e) if is_transient(&e) && Instant::now() < deadline => {}
            Err(e) if is_transient(&e) => {
                tracing::warn!("serial reply dropped: the other end is not reading");
                return Ok(());
            }
            Err(e) => return Err(e),
        }
    }
    port.flush()
}

/// What `EVENT` lines report, compared between ticks.
#[derive(Debug, Clone, PartialEq)]
struct Watched {
    model: String,
    style: String,
    display_on: bool,
    mirror: bool,
    camera_away: Option<String>,
    presence: String,
}

impl From<&Status> for Watched {
    fn from(s: &Status) -> Watched {
        Watched {
            model: s.model.clone(),
            style: s.style_spec.clone(),
            display_on: s.display_on,
            mirror: s.mirror,
            camera_away: s.camera_away.clone(),
            presence: s.presence.clone(),
        }
    }
}

impl Watched {
    fn changes(&mut self, status: &Status) -> Vec<String> {
        let now = Watched::from(status);
        let on = |b: bool| if b { "ON" } else { "OFF" };
        let mut events = vec![];
        if now.model != self.model {
            events.push(format!("EVENT MODEL {}", now.model));
        }
        if now.style != self.style {
            events.push(format!("EVENT STYLE {}", now.style));
        }
        if now.display_on != self.display_on {
            events.push(format!("EVENT DISPLAY {}", on(now.display_on)));
        }
        if now.mirror != self.mirror {
            events.push(format!("EVENT MIRROR {}", on(now.mirror)));
        }
        if now.camera_away != self.camera_away {
            events.push(match &now.camera_away {
                Some(why) => format!("EVENT CAMERA AWAY {why}"),
                None => "EVENT CAMERA OK".into(),
            });
        }
        if now.presence != self.presence {
            events.push(format!("EVENT PRESENCE {}", now.presence.to_uppercase()));
        }
        *self = now;
        events
    }
}
