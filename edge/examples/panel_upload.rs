//! A scripted kiosk panel for the device lab: uploads a model over the serial line protocol
//! (docs/control.md), resuming after the port goes away (a USB adapter unplugged), then activates
//! it. The workstation's `atelier deploy` does the same with a progress bar; this one needs no
//! host crate, so it runs in the lab's guest next to the mirror.
//!
//!     panel_upload PORT MODEL.onnx      prints `offset N` as it goes, `activated ...` at the end
//!
//! `PANEL_CHUNK_DELAY_MS` paces the chunks like a slow link, so the lab can unplug mid-upload.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use atelier_edge::control::store::sha256_hex;
use base64::Engine as _;

const CHUNK: usize = 3072;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [port, model] = args.as_slice() else { bail!("usage: panel_upload PORT MODEL.onnx") };
    let bytes = std::fs::read(model).with_context(|| format!("cannot read {model}"))?;
    let sha = sha256_hex(&bytes);
    let delay = std::env::var("PANEL_CHUNK_DELAY_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        anyhow::ensure!(Instant::now() < deadline, "gave up: the port never came back");
        match upload(port, &bytes, &sha, Duration::from_millis(delay)) {
            Ok(reply) => {
                println!("activated {reply}");
                return Ok(());
            }
            Err(e) => {
                println!("port lost: {e:#}; reopening");
                std::thread::sleep(Duration::from_millis(300));
            }
        }
    }
}

/// One attempt: ask where the upload stands, send the rest, activate.
fn upload(path: &str, bytes: &[u8], sha: &str, delay: Duration) -> Result<String> {
    let mut port = serialport::new(path, 115_200).timeout(Duration::from_millis(100)).open()?;
    // Lines sent before the mirror has (re)opened its end are lost: ask until answered.
    let mut tries = 0;
    let reply = loop {
        match ask_within(&mut port, &format!("UPLOAD {} {sha}", bytes.len()), Duration::from_secs(3)) {
            Ok(reply) => break reply,
            Err(e) if tries < 20 && e.to_string().starts_with("no reply") => tries += 1,
            Err(e) => return Err(e),
        }
    };
    let mut offset: usize = match reply.strip_prefix("OK OFFSET ") {
        Some(rest) => rest.split(' ').next().unwrap_or_default().parse()?,
        None if reply.starts_with("OK VERIFIED") => bytes.len(),
        None => bail!("UPLOAD refused: {reply}"),
    };
    println!("offset {offset} (resumed)");
    while offset < bytes.len() {
        let data = &bytes[offset..(offset + CHUNK).min(bytes.len())];
        let b64 = base64::engine::general_purpose::STANDARD.encode(data);
        let reply = ask(&mut port, &format!("CHUNK {offset} {:08x} {b64}", crc32fast::hash(data)))?;
        if !reply.starts_with("OK") {
            bail!("chunk at {offset} refused: {reply}");
        }
        offset += data.len();
        println!("offset {offset}");
        std::thread::sleep(delay);
    }
    let reply = ask(&mut port, &format!("ACTIVATE {sha}"))?;
    if !reply.starts_with("OK active=deployed:") {
        bail!("ACTIVATE refused: {reply}");
    }
    Ok(reply)
}

/// Sends a line and returns the reply line (skipping events), waiting up to two minutes: the last
/// chunk and the activation check and run the model, slow under emulation.
fn ask(port: &mut Box<dyn serialport::SerialPort>, line: &str) -> Result<String> {
    ask_within(port, line, Duration::from_secs(120))
}

fn ask_within(port: &mut Box<dyn serialport::SerialPort>, line: &str, patience: Duration) -> Result<String> {
    port.write_all(format!("{line}\n").as_bytes())?;
    let deadline = Instant::now() + patience;
    let mut reply = Vec::new();
    let mut byte = [0u8];
    loop {
        anyhow::ensure!(Instant::now() < deadline, "no reply to `{}`", &line[..line.len().min(30)]);
        match port.read(&mut byte) {
            Ok(1) if byte[0] == b'\n' => {
                let text = String::from_utf8_lossy(&reply).trim_end().to_string();
                reply.clear();
                if !text.starts_with("EVENT ") && !text.is_empty() {
                    return Ok(text);
                }
            }
            Ok(1) => reply.push(byte[0]),
            Ok(_) => bail!("the port hung up"),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => return Err(e.into()),
        }
    }
}
