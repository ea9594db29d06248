//! `mjpeg://HOST:PORT` — the live preview, on the mirror's HTTP server (see
//! [`control::http`](crate::control::http)): `/stream` as `multipart/x-mixed-replace` JPEGs, which
//! any browser shows in an `<img>`, `/snapshot.jpg`, the control page at `/` and the JSON API.
//!
//! It binds where it is told (127.0.0.1 by default) so frames do not leave the device unless the
//! operator opens the address, and then only with a token.

use std::net::SocketAddr;

use crate::control::http::{HttpOptions, HttpServer};
use crate::frame::Frame;
use crate::sink::{Sink, SinkError};

pub struct MjpegServer {
    server: HttpServer,
}

impl MjpegServer {
    /// Binds the listener and starts serving in the background. Anything but loopback needs a
    /// token: frames and controls must not be open to the shop's network.
    pub fn bind(addr: SocketAddr, options: HttpOptions) -> Result<MjpegServer, SinkError> {
        let uri = format!("mjpeg://{addr}");
        if !addr.ip().is_loopback() && options.token.is_none() {
            return Err(SinkError::Open {
                uri,
                message: "serving beyond this machine needs an API token: set api_token in the config \
                          file or ATELIER_API_TOKEN (e.g. `openssl rand -hex 16`), or bind to 127.0.0.1"
                    .into(),
            });
        }
        let server = HttpServer::bind(addr, options).map_err(|e| SinkError::Open {
            uri,
            message: format!("cannot listen: {e}; is another atelier-mirror running? choose another port"),
        })?;
        Ok(MjpegServer { server })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The preview page URL.
    pub fn url(&self) -> String {
        format!("http://{}/", self.local_addr())
    }
}

impl Sink for MjpegServer {
    fn write(&mut self, frame: Frame) -> Result<(), SinkError> {
        self.server.preview().publish(frame.image).map_err(SinkError::Write)
    }

    fn describe(&self) -> String {
        format!("MJPEG preview at {}", self.url())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::RgbImage;
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::thread;
    use std::time::Duration;

    fn get(addr: SocketAddr, path: &str) -> Vec<u8> {
        let mut s = TcpStream::connect(addr).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn serves_page_snapshot_and_stream() {
        let mut server = MjpegServer::bind("127.0.0.1:0".parse().unwrap(), HttpOptions::default()).unwrap();
        let addr = server.local_addr();
        let page = String::from_utf8(get(addr, "/")).unwrap();
        assert!(page.starts_with("HTTP/1.1 200") && page.contains(r#"src="/stream""#), "{page}");
        assert!(String::from_utf8_lossy(&get(addr, "/snapshot.jpg")).starts_with("HTTP/1.1 503"));
        assert!(String::from_utf8_lossy(&get(addr, "/api/v1/nope")).starts_with("HTTP/1.1 404"));

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
