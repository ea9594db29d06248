//! `atelier ctl` and `atelier deploy`: drive a mirror over its serial port or its HTTP API with
//! the command set of `docs/control.md`.
//!
//! Commands are parsed with the mirror's own parser ([`atelier_edge::control::line::parse`]), so
//! the host accepts exactly what the mirror does; over serial the line is sent as typed, over
//! HTTP it is mapped to its route.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use atelier_edge::control::Request;
use atelier_edge::control::line::{self, MAX_CHUNK};
use atelier_edge::control::store::sha256_hex;
use base64::Engine as _;
use serde_json::{Value, json};

/// Where the mirror is.
#[derive(Debug, Clone)]
pub enum Target {
    Serial { port: PathBuf, baud: u32 },
    Url { url: String, token: Option<String> },
}

/// A reply: `Ok(text)` for `OK ...` (serial line or JSON), `Err((code, message))` for a refusal.
pub type Reply = std::result::Result<String, (u16, String)>;

/// A connection to one mirror.
pub trait Connection {
    /// Sends one request and waits up to `patience` for its reply. `Err` only for transport
    /// failures (port gone, connection refused); refusals come back as `Ok(Err(..))`.
    fn send(&mut self, request: &Request, text: &str, patience: Duration) -> Result<Reply>;
    /// Largest chunk this transport carries well.
    fn chunk_size(&self) -> usize;
}

pub fn connect(target: &Target) -> Result<Box<dyn Connection>> {
    Ok(match target {
        Target::Serial { port, baud } => Box::new(SerialConnection::open(port, *baud)?),
        Target::Url { url, token } => Box::new(HttpConnection::new(url, token.clone())),
    })
}

/// Patience for an ordinary command.
const QUICK: Duration = Duration::from_secs(10);
/// Patience for the last chunk and activation: the mirror checks and test-runs the model.
const SLOW: Duration = Duration::from_secs(180);

/// `atelier ctl`: one command, its reply printed; a refusal is an error.
pub fn ctl(target: &Target, words: &[String]) -> Result<String> {
    let mut text = words.join(" ");
    // A bare word is a query when there is one: `status` means `STATUS?`, `style` means `STYLE?`.
    if words.len() == 1 && !text.ends_with('?') && line::parse(&format!("{text}?")).is_ok() {
        text.push('?');
    }
    let request = line::parse(&text).map_err(|e| anyhow!("`{text}`: {}", e.message))?;
    let mut conn = connect(target)?;
    let patience = if matches!(request, Request::Activate(_) | Request::Rollback) { SLOW } else { QUICK };
    match conn.send(&request, &text, patience)? {
        Ok(reply) => Ok(reply),
        Err((code, message)) => bail!("the mirror refused `{text}`: {code} {message}"),
    }
}

/// What a deploy did.
#[derive(Debug)]
pub struct Deployed {
    pub sha256: String,
    pub bytes: u64,
    /// Bytes sent in this run (less than `bytes` when an earlier upload was resumed).
    pub sent: u64,
    pub seconds: f64,
    pub activated: bool,
    pub reply: String,
}

/// Options for [`deploy`].
#[derive(Debug, Clone)]
pub struct DeployOptions {
    pub activate: bool,
    /// How long to keep reconnecting after the mirror or the port goes away mid-upload.
    pub retry_for: Duration,
    /// Bytes per chunk; `None`: the transport's default.
    pub chunk: Option<usize>,
    pub progress: bool,
}

/// Uploads a model, resuming where the mirror stands, and activates it.
pub fn deploy(target: &Target, model: &Path, options: &DeployOptions) -> Result<Deployed> {
    let bytes = std::fs::read(model).with_context(|| format!("cannot read {}", model.display()))?;
    // Refuse locally what the mirror would refuse after a long upload.
    let info = atelier_edge::contract::decode(&bytes)
        .and_then(|p| atelier_edge::contract::validate(&p))
        .map_err(|e| anyhow!("{} is not a model the mirror can run: {e}", model.display()))?;
    let sha256 = sha256_hex(&bytes);
    let size = bytes.len() as u64;
    let begin = Request::Upload { size, sha256: sha256.clone() };
    let begin_text = format!("UPLOAD {size} {sha256}");
    let bar = options.progress.then(|| progress_bar(size, &model.display().to_string()));
    let started = Instant::now();
    let mut sent = 0u64;
    let mut deadline = Instant::now() + options.retry_for;
    let mut conn: Option<Box<dyn Connection>> = None;
    let verified = loop {
        // (Re)connect and ask where the upload stands.
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match connect(target) {
                Ok(c) => conn.insert(c),
                Err(e) => {
                    wait_or_give_up(&mut deadline, &e)?;
                    continue;
                }
            },
        };
        let mut offset = match c.send(&begin, &begin_text, QUICK) {
            Ok(Ok(reply)) => {
                offset_of(&reply).ok_or_else(|| anyhow!("unexpected reply to UPLOAD: {reply}"))?
            }
            Ok(Err((code, message))) => bail!("the mirror refused the upload: {code} {message}"),
            Err(e) => {
                conn = None;
                wait_or_give_up(&mut deadline, &e)?;
                continue;
            }
        };
        let chunk = options.chunk.unwrap_or(c.chunk_size()).clamp(1, c.chunk_size());
        if let Some(bar) = &bar {
            bar.set_position(offset.min(size));
        }
        let mut last = String::new();
        let mut broken = None;
        while offset < size {
            let end = (offset as usize + chunk).min(bytes.len());
            let data = &bytes[offset as usize..end];
            let crc32 = crc32fast::hash(data);
            let text = format!(
                "CHUNK {offset} {crc32:08x} {}",
                base64::engine::general_purpose::STANDARD.encode(data)
            );
            let request = Request::Chunk { offset, crc32, data: data.to_vec() };
            let patience = if end == bytes.len() { SLOW } else { QUICK };
            match c.send(&request, &text, patience) {
                Ok(Ok(reply)) => {
                    sent += data.len() as u64;
                    offset = end as u64;
                    deadline = Instant::now() + options.retry_for;
                    if let Some(bar) = &bar {
                        bar.set_position(offset);
                    }
                    last = reply;
                }
                // The mirror says where it stands: go on from there.
                Ok(Err((409, message))) => match expected_offset(&message) {
                    Some(at) => offset = at,
                    None => bail!("the mirror refused chunk {offset}: 409 {message}"),
                },
                // A chunk damaged on the way: send it again.
                Ok(Err((400, message))) if message.contains("CRC-32 mismatch") => continue,
                Ok(Err((code, message))) => bail!("the mirror refused the upload: {code} {message}"),
                Err(e) => {
                    broken = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = broken {
            conn = None;
            if let Some(bar) = &bar {
                bar.println(format!("connection lost at byte {offset} ({e:#}); resuming"));
            }
            wait_or_give_up(&mut deadline, &e)?;
            continue;
        }
        if last.is_empty() {
            // Nothing was sent: the mirror had the whole file already.
            last = c.send(&begin, &begin_text, QUICK)?.map_err(|(c, m)| anyhow!("{c} {m}"))?;
        }
        break last;
    };
    if let Some(bar) = &bar {
        bar.finish_with_message("verified");
    }
    if !(verified.contains("VERIFIED") || verified.contains("\"verified\":{")) {
        bail!("the mirror did not verify the upload: {verified}");
    }
    let mut reply = verified;
    if options.activate {
        // The upload's connection when it is still open: a serial port opens only once at a time.
        let mut c = match conn {
            Some(c) => c,
            None => connect(target)?,
        };
        let text = format!("ACTIVATE {sha256}");
        reply = match c.send(&Request::Activate(Some(sha256.clone())), &text, SLOW)? {
            Ok(r) => r,
            Err((code, message)) => {
                bail!("the mirror verified the model but refused to activate it: {code} {message}")
            }
        };
    }
    tracing::info!("deployed {} ({} styles)", sha256, info.styles.len());
    Ok(Deployed {
        sha256,
        bytes: size,
        sent,
        seconds: started.elapsed().as_secs_f64(),
        activated: options.activate,
        reply,
    })
}

fn wait_or_give_up(deadline: &mut Instant, e: &anyhow::Error) -> Result<()> {
    if Instant::now() > *deadline {
        bail!("gave up reconnecting: {e:#}");
    }
    std::thread::sleep(Duration::from_millis(500));
    Ok(())
}

fn progress_bar(size: u64, name: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(size);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_message(name.to_string());
    bar
}

/// The offset in `OK OFFSET N OF S` or a JSON upload state.
fn offset_of(reply: &str) -> Option<u64> {
    if let Some(rest) = reply.strip_prefix("OFFSET ") {
        return rest.split_whitespace().next()?.parse().ok();
    }
    if reply.starts_with("VERIFIED ") {
        return Some(u64::MAX);
    }
    let v: Value = serde_json::from_str(reply).ok()?;
    if v.get("verified").is_some_and(|v| !v.is_null()) {
        return Some(u64::MAX);
    }
    v.get("offset")?.as_u64()
}

/// `expected offset N, got M`.
fn expected_offset(message: &str) -> Option<u64> {
    message.strip_prefix("expected offset ")?.split(',').next()?.parse().ok()
}

/// The serial line protocol.
struct SerialConnection {
    port: Box<dyn serialport::SerialPort>,
    name: String,
}

impl SerialConnection {
    fn open(path: &Path, baud: u32) -> Result<SerialConnection> {
        let name = path.display().to_string();
        let port = serialport::new(&name, baud)
            .timeout(Duration::from_millis(100))
            .open()
            .with_context(|| format!("cannot open serial port {name}"))?;
        let _ = port.clear(serialport::ClearBuffer::Input);
        Ok(SerialConnection { port, name })
    }

    fn read_line(&mut self, deadline: Instant) -> Result<String> {
        let mut line = Vec::new();
        let mut byte = [0u8];
        while !line.ends_with(b"\n") {
            if Instant::now() > deadline {
                bail!("no reply from {} in time", self.name);
            }
            match self.port.read(&mut byte) {
                Ok(1) => line.push(byte[0]),
                Ok(_) => bail!("{} hung up", self.name),
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) => return Err(e).with_context(|| format!("reading {}", self.name)),
            }
        }
        Ok(String::from_utf8_lossy(&line).trim_end().to_string())
    }
}

impl Connection for SerialConnection {
    fn send(&mut self, _: &Request, text: &str, patience: Duration) -> Result<Reply> {
        self.port
            .write_all(format!("{text}\n").as_bytes())
            .with_context(|| format!("writing {}", self.name))?;
        self.port.flush()?;
        let deadline = Instant::now() + patience;
        loop {
            let line = self.read_line(deadline)?;
            if line.starts_with("EVENT ") || line.is_empty() {
                continue;
            }
            if let Some(ok) = line.strip_prefix("OK") {
                return Ok(Ok(ok.trim().to_string()));
            }
            if let Some(err) = line.strip_prefix("ERR ") {
                let (code, message) = err.split_once(' ').unwrap_or((err, ""));
                return Ok(Err((code.parse().unwrap_or(0), message.to_string())));
            }
            bail!("unexpected line from {}: {line}", self.name);
        }
    }

    fn chunk_size(&self) -> usize {
        // Three quarters of the largest: 4 KiB of base64 per line.
        MAX_CHUNK * 3 / 4
    }
}

/// The HTTP API.
struct HttpConnection {
    base: String,
    token: Option<String>,
}

impl HttpConnection {
    fn new(url: &str, token: Option<String>) -> HttpConnection {
        HttpConnection { base: url.trim_end_matches('/').to_string(), token }
    }
}

/// An API call: method, path under `/api/v1`, body, and a chunk's CRC-32 header.
type Route = (&'static str, String, Option<Vec<u8>>, Option<String>);

/// The route for a request.
fn route(request: &Request) -> Result<Route> {
    let json = |v: Value| Some(v.to_string().into_bytes());
    Ok(match request {
        Request::Identify => ("GET", "/identity".into(), None, None),
        Request::Help => bail!("HELP is a serial command; over HTTP see docs/control.md"),
        Request::Events(_) => bail!("EVENTS is a serial command"),
        Request::Status => ("GET", "/status".into(), None, None),
        Request::Styles => ("GET", "/styles".into(), None, None),
        Request::Style => ("GET", "/style".into(), None, None),
        Request::SetStyle(mix) => ("PUT", "/style".into(), json(json!({ "style": mix.to_string() })), None),
        Request::StepStyle(1) => ("POST", "/style/next".into(), None, None),
        Request::StepStyle(_) => ("POST", "/style/prev".into(), None, None),
        Request::Strength => ("GET", "/strength".into(), None, None),
        Request::SetStrength(s) => ("PUT", "/strength".into(), json(json!({ "strength": s })), None),
        Request::Mirror => ("GET", "/mirror".into(), None, None),
        Request::SetMirror(on) => ("PUT", "/mirror".into(), json(json!({ "mirror": on })), None),
        Request::Display => ("GET", "/display".into(), None, None),
        Request::SetDisplay(on) => ("PUT", "/display".into(), json(json!({ "display_on": on })), None),
        Request::Model => ("GET", "/model".into(), None, None),
        Request::Upload { size, sha256 } => {
            ("POST", "/model/upload".into(), json(json!({ "size": size, "sha256": sha256 })), None)
        }
        Request::Chunk { offset, crc32, data } => {
            ("PUT", format!("/model/upload/{offset}"), Some(data.clone()), Some(format!("{crc32:08x}")))
        }
        Request::Activate(None) => ("POST", "/model/activate".into(), None, None),
        Request::Activate(Some(sha)) => {
            ("POST", "/model/activate".into(), json(json!({ "sha256": sha })), None)
        }
        Request::Rollback => ("POST", "/model/rollback".into(), None, None),
    })
}

impl Connection for HttpConnection {
    fn send(&mut self, request: &Request, _: &str, patience: Duration) -> Result<Reply> {
        let (method, path, body, crc) = route(request)?;
        let url = format!("{}/api/v1{path}", self.base);
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(patience))
            .build()
            .into();
        let mut builder = ureq::http::Request::builder().method(method).uri(&url);
        if let Some(token) = &self.token {
            builder = builder.header("Authorization", format!("Bearer {token}"));
        }
        if let Some(crc) = &crc {
            builder = builder.header("X-Chunk-Crc32", crc);
        }
        // The mirror takes changes only with a content type a cross-site form cannot send.
        if method != "GET" {
            let mime = if crc.is_some() { "application/octet-stream" } else { "application/json" };
            builder = builder.header("Content-Type", mime);
        }
        let response = match body {
            Some(body) => agent.run(builder.body(body)?),
            None => agent.run(builder.body(())?),
        }
        .with_context(|| format!("{method} {url}"))?;
        let status = response.status().as_u16();
        let text = response.into_body().read_to_string().with_context(|| format!("{method} {url}"))?;
        if (200..300).contains(&status) {
            return Ok(Ok(text));
        }
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
            .unwrap_or(text);
        Ok(Err((status, message)))
    }

    fn chunk_size(&self) -> usize {
        atelier_edge::control::http::MAX_HTTP_CHUNK
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_offsets_from_both_wires() {
        assert_eq!(offset_of("OFFSET 300 OF 1000"), Some(300));
        assert_eq!(offset_of("VERIFIED abc styles=a"), Some(u64::MAX));
        assert_eq!(offset_of(r#"{"sha256":"x","size":9,"offset":4,"verified":null}"#), Some(4));
        assert_eq!(expected_offset("expected offset 4096, got 0"), Some(4096));
    }
}
