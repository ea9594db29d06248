//! `mjpeg://HOST:PORT` — the live preview: an HTTP server that streams frames as
//! `multipart/x-mixed-replace` JPEGs, which any browser shows in an `<img>`.
//!
//! Routes: `/` (a page with the stream), `/stream` (the MJPEG stream), `/snapshot.jpg` (the latest
//! frame). It binds where it is told (127.0.0.1 by default) so frames do not leave the device
//! unless the operator opens the address.
//!
//! Hand-written on `std::net` rather than an HTTP crate: the server needs only three GET routes and
//! one never-ending response per client written frame by frame, which request/response-shaped
//! HTTP libraries make awkward, and it keeps the edge binary small.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

use image::RgbImage;

use crate::frame::Frame;
use crate::sink::{Sink, SinkError};

/// Concurrent connections served; more are answered 503 so a stuck client cannot exhaust threads.
pub const MAX_CLIENTS: usize = 8;
const JPEG_QUALITY: u8 = 80;
const BOUNDARY: &str = "atelierframe";

pub struct MjpegServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    latest: Mutex<Latest>,
    fresh: Condvar,
    streaming: AtomicUsize,
    connections: AtomicUsize,
    closed: AtomicBool,
}

#[derive(Default)]
struct Latest {
    generation: u64,
    raw: Option<Arc<RgbImage>>,
    jpeg: Option<Arc<Vec<u8>>>,
}

impl MjpegServer {
    /// Binds the listener and starts accepting in the background.
    pub fn bind(addr: SocketAddr) -> Result<MjpegServer, SinkError> {
        let listener = TcpListener::bind(addr).map_err(|e| SinkError::Open {
            uri: format!("mjpeg://{addr}"),
            message: format!("cannot listen: {e}; is another atelier-mirror running? choose another port"),
        })?;
        let addr = listener.local_addr().map_err(|e| SinkError::Write(e.to_string()))?;
        listener.set_nonblocking(true).map_err(|e| SinkError::Write(e.to_string()))?;
        let shared = Arc::new(Shared::default());
        let accept_shared = shared.clone();
        thread::Builder::new()
            .name("mjpeg-accept".into())
            .spawn(move || accept_loop(listener, accept_shared))
            .map_err(|e| SinkError::Write(e.to_string()))?;
        Ok(MjpegServer { addr, shared })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The preview page URL.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

impl Drop for MjpegServer {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::SeqCst);
        self.shared.fresh.notify_all();
    }
}

impl Sink for MjpegServer {
    fn write(&mut self, frame: Frame) -> Result<(), SinkError> {
        // Encode only while someone watches the stream; a snapshot encodes on demand.
        let jpeg = if self.shared.streaming.load(Ordering::SeqCst) > 0 {
            Some(Arc::new(encode_jpeg(&frame.image)?))
        } else {
            None
        };
        let mut latest = self.shared.latest.lock().unwrap_or_else(|e| e.into_inner());
        latest.generation += 1;
        latest.raw = Some(Arc::new(frame.image));
        latest.jpeg = jpeg;
        self.shared.fresh.notify_all();
        Ok(())
    }

    fn describe(&self) -> String {
        format!("MJPEG preview at {}", self.url())
    }
}

fn encode_jpeg(image: &RgbImage) -> Result<Vec<u8>, SinkError> {
    let mut buf = Vec::with_capacity(64 * 1024);
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, JPEG_QUALITY)
        .encode(image.as_raw(), image.width(), image.height(), image::ExtendedColorType::Rgb8)
        .map_err(|e| SinkError::Write(format!("JPEG encoding failed: {e}")))?;
    Ok(buf)
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    while !shared.closed.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let shared = shared.clone();
                if shared.connections.fetch_add(1, Ordering::SeqCst) >= MAX_CLIENTS {
                    shared.connections.fetch_sub(1, Ordering::SeqCst);
                    let _ = respond(&stream, "503 Service Unavailable", "text/plain", b"too many viewers\n");
                    continue;
                }
                let spawned = thread::Builder::new().name("mjpeg-client".into()).spawn(move || {
                    let _ = serve(stream, &shared);
                    shared.connections.fetch_sub(1, Ordering::SeqCst);
                });
                if let Err(e) = spawned {
                    tracing::warn!("cannot start a preview client thread: {e}");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => thread::sleep(Duration::from_millis(50)),
            Err(e) => {
                tracing::warn!("preview server accept failed: {e}");
                thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

fn serve(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let path = read_request_path(&stream)?;
    match path.as_deref() {
        Some("/") | Some("/index.html") => {
            respond(&stream, "200 OK", "text/html; charset=utf-8", INDEX_HTML.as_bytes())
        }
        Some("/snapshot.jpg") => {
            let raw = shared.latest.lock().unwrap_or_else(|e| e.into_inner()).raw.clone();
            match raw {
                Some(raw) => match encode_jpeg(&raw) {
                    Ok(jpeg) => respond(&stream, "200 OK", "image/jpeg", &jpeg),
                    Err(e) => {
                        respond(&stream, "500 Internal Server Error", "text/plain", e.to_string().as_bytes())
                    }
                },
                None => respond(&stream, "503 Service Unavailable", "text/plain", b"no frame yet\n"),
            }
        }
        Some("/stream") => {
            shared.streaming.fetch_add(1, Ordering::SeqCst);
            let result = stream_frames(&stream, shared);
            shared.streaming.fetch_sub(1, Ordering::SeqCst);
            result
        }
        Some(_) => respond(&stream, "404 Not Found", "text/plain", b"not found; try / or /stream\n"),
        None => respond(&stream, "400 Bad Request", "text/plain", b"bad request\n"),
    }
}

/// Reads the request head and returns the path of a GET (None for anything else).
fn read_request_path(stream: &TcpStream) -> std::io::Result<Option<String>> {
    let mut reader = BufReader::new(std::io::Read::take(stream, 8192));
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next(), parts.next());
    // Drain the headers so the client sees an orderly response.
    let mut header = String::new();
    while reader.read_line(&mut header)? > 2 {
        header.clear();
    }
    Ok(match (method, target) {
        (Some("GET"), Some(target)) => Some(target.split('?').next().unwrap_or("/").to_string()),
        _ => None,
    })
}

fn respond(mut stream: &TcpStream, status: &str, content_type: &str, body: &[u8]) -> std::io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(body)?;
    stream.flush()
}

fn stream_frames(mut stream: &TcpStream, shared: &Shared) -> std::io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary={BOUNDARY}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n"
    )?;
    let mut seen = 0;
    loop {
        let jpeg = {
            let mut latest = shared.latest.lock().unwrap_or_else(|e| e.into_inner());
            while latest.generation == seen || (latest.jpeg.is_none() && latest.raw.is_none()) {
                if shared.closed.load(Ordering::SeqCst) {
                    return Ok(());
                }
                latest = shared
                    .fresh
                    .wait_timeout(latest, Duration::from_millis(500))
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            seen = latest.generation;
            match (&latest.jpeg, &latest.raw) {
                (Some(jpeg), _) => jpeg.clone(),
                // The first frame after a viewer connects was not encoded yet: encode it here.
                (None, Some(raw)) => {
                    let raw = raw.clone();
                    drop(latest);
                    Arc::new(encode_jpeg(&raw).map_err(std::io::Error::other)?)
                }
                (None, None) => continue,
            }
        };
        write!(stream, "--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n", jpeg.len())?;
        stream.write_all(&jpeg)?;
        stream.write_all(b"\r\n")?;
        stream.flush()?;
    }
}

const INDEX_HTML: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Atelier mirror preview</title>
<style>body{margin:0;background:#111;color:#ddd;font:14px sans-serif;display:flex;flex-direction:column;align-items:center}
img{max-width:100vw;max-height:92vh;margin-top:1vh}p{margin:.5em}</style></head>
<body><img src="/stream" alt="live mirror stream"><p>Atelier style mirror &middot; live preview &middot; <a href="/snapshot.jpg" style="color:#9cf">snapshot</a></p></body></html>
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn get(addr: SocketAddr, path: &str) -> Vec<u8> {
        let mut s = TcpStream::connect(addr).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn serves_page_snapshot_and_stream() {
        let mut server = MjpegServer::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = server.local_addr();
        let page = String::from_utf8(get(addr, "/")).unwrap();
        assert!(page.starts_with("HTTP/1.1 200") && page.contains(r#"src="/stream""#), "{page}");
        assert!(String::from_utf8_lossy(&get(addr, "/snapshot.jpg")).starts_with("HTTP/1.1 503"));
        assert!(String::from_utf8_lossy(&get(addr, "/nope")).starts_with("HTTP/1.1 404"));

        let frame = Frame::new(1, RgbImage::from_pixel(64, 48, image::Rgb([200, 10, 10])));
        server.write(frame.clone()).unwrap();
        let snap = get(addr, "/snapshot.jpg");
        let body = &snap[snap.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4..];
        let decoded = image::load_from_memory(body).unwrap().to_rgb8();
        assert_eq!(decoded.dimensions(), (64, 48));
        assert!(decoded.get_pixel(10, 10).0[0] > 150);

        let mut s = TcpStream::connect(addr).unwrap();
        write!(s, "GET /stream HTTP/1.1\r\n\r\n").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        for seq in 2..6 {
            thread::sleep(Duration::from_millis(30));
            server.write(Frame::new(seq, frame.image.clone())).unwrap();
        }
        let mut buf = vec![0u8; 4096];
        let mut got = Vec::new();
        while got.windows(2).filter(|w| *w == [0xFF, 0xD8]).count() < 2 {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "stream ended early");
            got.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&got);
        assert!(text.contains("multipart/x-mixed-replace") && text.contains("--atelierframe"));
    }
}
