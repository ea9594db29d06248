//! The mirror's HTTP server: the live preview (`/stream`, `/snapshot.jpg`), the control page
//! (`/`) and the JSON API (`/api/v1/...`, see `docs/control.md`), on one address.
//!
//! Built on `axum` (hyper underneath) on a one-thread tokio runtime rather than the hand-written
//! `std::net` server it replaces: an authenticated API with JSON bodies and uploads needs request
//! parsing, body limits, header-read timeouts and keep-alive done right, which hyper has had
//! hardened for years; axum adds routing and extractors for ~1 MB of binary, and the runtime is a
//! single thread plus a blocking pool for controller calls (model checks take seconds).
//!
//! Access: without a token the server must be on loopback (the caller enforces it). With a token
//! every route except the page shell needs `Authorization: Bearer TOKEN` or the `atelier_token`
//! cookie the page sets (SameSite=Strict, so other sites cannot ride on it); the page shell holds
//! no frames or settings.
//!
//! Browsers: a web page the shopper's or operator's browser has open must not drive the mirror,
//! token or not. Every request's `Host` must be an address, a loopback name, this machine's
//! name or an allowed host (DNS rebinding gives an attacker's name); a request with an `Origin`
//! must come from the mirror's own page or an allowed origin; and a request that changes
//! anything must say `Content-Type: application/json` (`application/octet-stream` for model
//! bytes) or carry the token in its `Authorization` header, neither of which a cross-site form
//! can send without the browser asking first.
//!
//! Limits: at most [`MAX_CONNECTIONS`] connections (more get a 503 at once), hyper's header-read
//! timeout (which also ends idle keep-alive connections), a timeout between body frames, a
//! declared body over the route's limit refused before it is read, and a connection whose
//! client stops reading (a stalled `/stream` viewer) dropped after [`WRITE_STALL`].

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, Request as HttpRequest, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::routing::{get, post, put};
use image::RgbImage;
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;

use super::controller::Controller;
use super::error::ControlError;
use super::request::{MAX_MODEL_BYTES, Request, Response};
use crate::style::StyleMix;

/// Concurrent `/stream` viewers; more are answered 503 so stuck clients cannot pile up.
pub const MAX_VIEWERS: usize = 8;
/// Largest upload chunk over HTTP.
pub const MAX_HTTP_CHUNK: usize = 1 << 20;
const JPEG_QUALITY: u8 = 80;
const BOUNDARY: &str = "atelierframe";
/// Longest a controller call may take before the client is told to ask again (model checks).
const CALL_TIMEOUT: Duration = Duration::from_secs(120);
/// Open connections at most, well below the service's descriptor limit (`LimitNOFILE=2048`).
pub const MAX_CONNECTIONS: usize = 512;
/// A request's head must arrive within this; an idle keep-alive connection is closed after it.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest pause between two pieces of a request body.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(15);
/// A connection whose client takes nothing for this long is dropped (a stalled viewer).
pub const WRITE_STALL: Duration = Duration::from_secs(15);

/// Frames for the preview, published by the sink on the output thread.
#[derive(Default)]
pub struct Preview {
    raw: Mutex<Option<Arc<RgbImage>>>,
    jpeg: Mutex<Option<watch::Sender<Arc<Vec<u8>>>>>,
    viewers: AtomicUsize,
}

impl Preview {
    /// Keeps the latest picture; encodes it only while someone watches the stream.
    pub fn publish(&self, image: RgbImage) -> Result<(), String> {
        let image = Arc::new(image);
        *self.raw.lock().unwrap_or_else(|e| e.into_inner()) = Some(image.clone());
        if self.viewers.load(Ordering::SeqCst) > 0 {
            let jpeg = Arc::new(encode_jpeg(&image)?);
            if let Some(tx) = self.jpeg.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                tx.send_replace(jpeg);
            }
        }
        Ok(())
    }

    fn latest(&self) -> Option<Arc<RgbImage>> {
        self.raw.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn subscribe(&self) -> watch::Receiver<Arc<Vec<u8>>> {
        let mut slot = self.jpeg.lock().unwrap_or_else(|e| e.into_inner());
        let tx = slot.get_or_insert_with(|| watch::channel(Arc::new(Vec::new())).0);
        let mut rx = tx.subscribe();
        // A new viewer gets the current picture at once.
        if let Some(raw) = self.latest()
            && let Ok(jpeg) = encode_jpeg(&raw)
        {
            tx.send_replace(Arc::new(jpeg));
            rx.mark_changed();
        }
        rx
    }

    /// Ends every stream (the sink is going away).
    fn close(&self) {
        self.jpeg.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

pub fn encode_jpeg(image: &RgbImage) -> Result<Vec<u8>, String> {
    let mut buf = Vec::with_capacity(64 * 1024);
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, JPEG_QUALITY)
        .encode(image.as_raw(), image.width(), image.height(), image::ExtendedColorType::Rgb8)
        .map_err(|e| format!("JPEG encoding failed: {e}"))?;
    Ok(buf)
}

/// What the server serves.
#[derive(Clone, Default)]
pub struct HttpOptions {
    pub token: Option<String>,
    /// `None`: preview only; the API answers 503.
    pub controller: Option<Arc<Controller>>,
    /// Why the API and the preview are closed (the config in force is a fallback whose token
    /// may be stale): everything but the page answers 503 with it.
    pub closed: Option<String>,
    /// Host names the mirror answers to besides addresses, loopback names and its own name.
    pub allowed_hosts: Vec<String>,
    /// Origins (`https://dashboard.example`) whose pages may call the API.
    pub allowed_origins: Vec<String>,
    pub limits: HttpLimits,
}

/// The server's limits ([`HttpLimits::default`]: the constants above; tests shorten them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub write_stall: Duration,
}

impl Default for HttpLimits {
    fn default() -> HttpLimits {
        HttpLimits {
            max_connections: MAX_CONNECTIONS,
            header_timeout: HEADER_TIMEOUT,
            body_timeout: BODY_TIMEOUT,
            write_stall: WRITE_STALL,
        }
    }
}

struct App {
    preview: Arc<Preview>,
    options: HttpOptions,
    /// This machine's name, lower case, as `Host` may carry it (`name`, `name.local`).
    own_name: Option<String>,
}

/// A running server; dropping it ends the streams, stops accepting and waits for its thread, so
/// that what the server held (the controller, the state directory's lock) is released.
pub struct HttpServer {
    addr: SocketAddr,
    preview: Arc<Preview>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HttpServer {
    /// Binds and serves in the background.
    pub fn bind(addr: SocketAddr, options: HttpOptions) -> std::io::Result<HttpServer> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let preview = Arc::new(Preview::default());
        let own_name = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|n| n.trim().to_ascii_lowercase())
            .filter(|n| !n.is_empty());
        let app = Arc::new(App { preview: preview.clone(), options, own_name });
        let (shutdown, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let thread = std::thread::Builder::new().name("http".into()).spawn(move || {
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => return tracing::error!("HTTP server cannot start: {e}"),
                };
                let limits = app.options.limits;
                let router = router(app);
                let open = Arc::new(AtomicUsize::new(0));
                loop {
                    tokio::select! {
                        _ = &mut stopped => break,
                        accepted = listener.accept() => match accepted {
                            Ok((tcp, _)) => serve_connection(tcp, router.clone(), open.clone(), limits),
                            Err(e) => {
                                // Out of descriptors, say: wait rather than spin.
                                tracing::warn!("HTTP server: cannot accept a connection: {e}");
                                tokio::time::sleep(Duration::from_millis(200)).await;
                            }
                        },
                    }
                }
            })
        })?;
        Ok(HttpServer { addr, preview, shutdown: Some(shutdown), thread: Some(thread) })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn preview(&self) -> &Preview {
        &self.preview
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.preview.close();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Counts a connection for as long as it is served.
struct Open(Arc<AtomicUsize>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Serves one connection with the server's limits, or answers 503 when it is one too many.
fn serve_connection(tcp: tokio::net::TcpStream, router: Router, open: Arc<AtomicUsize>, limits: HttpLimits) {
    if open.fetch_add(1, Ordering::SeqCst) >= limits.max_connections {
        open.fetch_sub(1, Ordering::SeqCst);
        tokio::spawn(too_many(tcp));
        return;
    }
    let counted = Open(open);
    let mut io = tokio_io_timeout::TimeoutStream::new(tcp);
    io.set_write_timeout(Some(limits.write_stall));
    let io = hyper_util::rt::TokioIo::new(Box::pin(io));
    let service = hyper_util::service::TowerToHyperService::new(router);
    tokio::spawn(async move {
        let _counted = counted;
        let served = hyper::server::conn::http1::Builder::new()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .serve_connection(io, service)
            .await;
        if let Err(e) = served {
            tracing::debug!("HTTP connection ended: {e}");
        }
    });
}

/// The answer to a connection over [`MAX_CONNECTIONS`], written without reading the request.
async fn too_many(mut tcp: tokio::net::TcpStream) {
    let body = r#"{"code":503,"error":"too many connections to this mirror; try again shortly"}"#;
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Retry-After: 5\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let reply = async {
        tcp.write_all(head.as_bytes()).await?;
        tcp.write_all(body.as_bytes()).await?;
        tcp.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), reply).await;
}

fn router(app: Arc<App>) -> Router {
    let api = Router::new()
        .route("/identity", get(|s| call(s, Request::Identify)))
        .route("/status", get(|s| call(s, Request::Status)))
        .route("/styles", get(|s| call(s, Request::Styles)))
        .route("/styles/{name}/thumbnail.jpg", get(thumbnail))
        .route("/style", get(|s| call(s, Request::Style)).put(set_style))
        .route("/style/next", post(|s| call(s, Request::StepStyle(1))))
        .route("/style/prev", post(|s| call(s, Request::StepStyle(-1))))
        .route("/strength", get(|s| call(s, Request::Strength)).put(set_strength))
        .route("/mirror", get(|s| call(s, Request::Mirror)).put(set_mirror))
        .route("/display", get(|s| call(s, Request::Display)).put(set_display))
        .route("/model", get(|s| call(s, Request::Model)))
        .route("/model/upload", post(begin_upload))
        .route("/model/upload/{offset}", put(upload_chunk))
        .route("/model/file", post(upload_file).layer(DefaultBodyLimit::max(MAX_MODEL_BYTES as usize)))
        .route("/model/activate", post(activate))
        .route("/model/rollback", post(|s| call(s, Request::Rollback)))
        .fallback(|| async { error(ControlError::not_found("no such API route; see docs/control.md")) });
    let protected = Router::new()
        .nest("/api/v1", api)
        .route("/stream", get(stream))
        .route("/snapshot.jpg", get(snapshot))
        .layer(middleware::from_fn_with_state(app.clone(), authorize));
    let cors = (!app.options.allowed_origins.is_empty()).then(|| {
        let origins: Vec<HeaderValue> =
            app.options.allowed_origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
        tower_http::cors::CorsLayer::new()
            .allow_origin(origins)
            .allow_methods([Method::GET, Method::POST, Method::PUT])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                "x-chunk-crc32".parse().expect("name"),
            ])
    });
    let routes = Router::new()
        .route("/", get(page))
        .route("/index.html", get(page))
        .merge(protected)
        .layer(DefaultBodyLimit::max(MAX_HTTP_CHUNK + 4096))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(app.options.limits.body_timeout))
        .layer(middleware::from_fn_with_state(app.clone(), guard));
    // Outermost, so a preflight from an allowed origin is answered before the guard.
    match cors {
        Some(cors) => routes.layer(cors),
        None => routes,
    }
    .with_state(app)
}

type AppState = State<Arc<App>>;

/// The checks every request passes before routing: a declared body over its route's limit, a
/// closed API, a `Host` or `Origin` that is not the mirror's, a state change without a content
/// type a cross-site form cannot send (unless it carries the token in `Authorization`).
async fn guard(State(app): AppState, request: HttpRequest, next: Next) -> HttpResponse {
    let refused = check_request(&app, request.method(), request.uri().path(), request.headers());
    match refused {
        Some(e) => {
            let close = e.code == 413;
            let mut response = error(e);
            if close {
                // The body was not read: the connection cannot carry another request.
                response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            response
        }
        None => next.run(request).await,
    }
}

fn check_request(app: &App, method: &Method, path: &str, headers: &HeaderMap) -> Option<ControlError> {
    let limit = if path == "/api/v1/model/file" { MAX_MODEL_BYTES } else { (MAX_HTTP_CHUNK + 4096) as u64 };
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Some(ControlError::too_large(format!("a body of at most {limit} bytes is accepted here")));
    }
    let host = headers.get(header::HOST).map(|h| h.to_str().unwrap_or("\u{fffd}"));
    if let Some(host) = host
        && !app.host_allowed(host)
    {
        return Some(ControlError::forbidden(format!(
            "this mirror does not answer to the host name in `Host: {host}`; reach it by its address, \
             or add the name to allowed_hosts in its config"
        )));
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("\u{fffd}");
        let own = host.map(|h| format!("http://{h}"));
        let allowed = app.options.allowed_origins.iter().any(|o| o.eq_ignore_ascii_case(origin));
        if own.as_deref() != Some(origin) && !allowed {
            return Some(ControlError::forbidden(format!(
                "requests from pages at {origin} are refused; add the origin to allowed_origins in the \
                 mirror's config to allow them"
            )));
        }
    }
    if path != "/"
        && path != "/index.html"
        && let Some(why) = &app.options.closed
    {
        return Some(ControlError::unavailable(why.clone()));
    }
    if !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
        && !headers.contains_key(header::AUTHORIZATION)
    {
        let mime = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let mime = mime.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        let bytes = path == "/api/v1/model/file" || path.starts_with("/api/v1/model/upload/");
        let ok = mime == "application/json" || (bytes && mime == "application/octet-stream");
        if !ok {
            return Some(ControlError::unsupported_media_type(format!(
                "a request that changes the mirror needs Content-Type: {} (or the API token in an \
                 Authorization header)",
                if bytes { "application/octet-stream" } else { "application/json" }
            )));
        }
    }
    None
}

impl App {
    /// Whether `Host` names this mirror: an IP address (nobody can rebind an address), a
    /// loopback name, this machine's name (bare or `.local`) or an allowed host; any port.
    fn host_allowed(&self, host: &str) -> bool {
        let name = match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !name.ends_with(':') => name,
            _ => host,
        };
        let name = name.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        if name.parse::<std::net::IpAddr>().is_ok() || name == "localhost" || name.ends_with(".localhost") {
            return true;
        }
        if let Some(own) = &self.own_name
            && (name == *own || name == format!("{own}.local"))
        {
            return true;
        }
        self.options.allowed_hosts.iter().any(|h| h.eq_ignore_ascii_case(&name))
    }
}

/// Lets a request through when no token is set, or when it carries the token.
async fn authorize(State(app): AppState, request: HttpRequest, next: Next) -> HttpResponse {
    match &app.options.token {
        Some(token) if !carries(request.headers(), token) => {
            let mut response = error(ControlError::unauthorized(
                "this mirror needs its API token: send `Authorization: Bearer TOKEN` (or enter it on the page)",
            ));
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            response
        }
        _ => next.run(request).await,
    }
}

fn carries(headers: &HeaderMap, token: &str) -> bool {
    // The scheme name is case-insensitive (RFC 9110).
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_string());
    // The page stores the token URI-encoded. Every cookie of that name counts: one planted by
    // another page on the same host name must not lock the page out.
    let cookies = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().strip_prefix("atelier_token="))
        .map(percent_decode);
    bearer.into_iter().chain(cookies).any(|given| same(given.as_bytes(), token.as_bytes()))
}

/// Decodes `%XX` escapes (what `encodeURIComponent` writes); a malformed escape stays as is.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Compares without an early exit, so response times do not reveal how much of a guess matched.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn error(e: ControlError) -> HttpResponse {
    let status = StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(serde_json::json!({ "code": e.code, "error": e.message }))).into_response()
}

/// Runs a request on the controller, off the async thread (model checks block for seconds).
async fn call(State(app): AppState, request: Request) -> HttpResponse {
    on_controller(&app, move |controller| controller.execute(request)).await
}

async fn on_controller(
    app: &App,
    work: impl FnOnce(&Controller) -> Result<Response, ControlError> + Send + 'static,
) -> HttpResponse {
    let Some(controller) = app.options.controller.clone() else {
        return error(ControlError::unavailable("control is not enabled on this server"));
    };
    let job = tokio::task::spawn_blocking(move || work(&controller));
    match tokio::time::timeout(CALL_TIMEOUT, job).await {
        Ok(Ok(Ok(response))) => axum::Json(response).into_response(),
        Ok(Ok(Err(e))) => error(e),
        Ok(Err(e)) => error(ControlError::internal(format!("the request failed: {e}"))),
        Err(_) => error(ControlError::unavailable("the mirror is still working on it; ask again")),
    }
}

/// A JSON body's field, with a JSON error naming what was expected.
fn field<T: serde::de::DeserializeOwned>(body: &Bytes, name: &str, what: &str) -> Result<T, ControlError> {
    let bad = || ControlError::bad_request(format!("expected a JSON body {{\"{name}\": {what}}}"));
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|_| bad())?;
    serde_json::from_value(value.get(name).cloned().ok_or_else(bad)?).map_err(|_| bad())
}

async fn set_style(state: AppState, body: Bytes) -> HttpResponse {
    match field::<String>(&body, "style", "\"NAME\" or \"NAME=W,NAME=W\"") {
        Ok(style) => match style.parse::<StyleMix>() {
            Ok(mix) => call(state, Request::SetStyle(mix)).await,
            Err(e) => error(ControlError::bad_request(e)),
        },
        Err(e) => error(e),
    }
}

async fn set_strength(state: AppState, body: Bytes) -> HttpResponse {
    match field::<f32>(&body, "strength", "0..1") {
        Ok(s) => call(state, Request::SetStrength(s)).await,
        Err(e) => error(e),
    }
}

async fn set_mirror(state: AppState, body: Bytes) -> HttpResponse {
    match field::<bool>(&body, "mirror", "true|false") {
        Ok(on) => call(state, Request::SetMirror(on)).await,
        Err(e) => error(e),
    }
}

async fn set_display(state: AppState, body: Bytes) -> HttpResponse {
    match field::<bool>(&body, "display_on", "true|false") {
        Ok(on) => call(state, Request::SetDisplay(on)).await,
        Err(e) => error(e),
    }
}

async fn begin_upload(state: AppState, body: Bytes) -> HttpResponse {
    let size = field::<u64>(&body, "size", "BYTES");
    let sha = field::<String>(&body, "sha256", "\"HEX\"");
    match (size, sha) {
        (Ok(size), Ok(sha256)) => call(state, Request::Upload { size, sha256 }).await,
        (Err(e), _) | (_, Err(e)) => error(e),
    }
}

/// `PUT /api/v1/model/upload/OFFSET` with the bytes as the body and `X-Chunk-Crc32: HEX`.
async fn upload_chunk(
    state: AppState,
    Path(offset): Path<u64>,
    headers: HeaderMap,
    body: Bytes,
) -> HttpResponse {
    let crc = headers
        .get("x-chunk-crc32")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| u32::from_str_radix(v, 16).ok());
    match crc {
        Some(crc32) => call(state, Request::Chunk { offset, crc32, data: body.to_vec() }).await,
        None => error(ControlError::bad_request("a chunk needs the header X-Chunk-Crc32: 8 hex digits")),
    }
}

/// The whole file in one request (the control page): hashed here, then stored through the same
/// checked path as chunked uploads, from wherever an earlier upload of it stopped.
async fn upload_file(State(app): AppState, body: Bytes) -> HttpResponse {
    on_controller(&app, move |controller| {
        let sha256 = super::store::sha256_hex(&body);
        let mut last = controller.execute(Request::Upload { size: body.len() as u64, sha256 })?;
        let mut offset = match &last {
            Response::Upload(state) if state.verified.is_none() => state.offset as usize,
            _ => return Ok(last),
        };
        while offset < body.len() {
            let piece = &body[offset..(offset + MAX_HTTP_CHUNK).min(body.len())];
            let chunk =
                Request::Chunk { offset: offset as u64, crc32: crc32fast::hash(piece), data: piece.to_vec() };
            last = controller.execute(chunk)?;
            offset += piece.len();
        }
        Ok(last)
    })
    .await
}

async fn activate(state: AppState, body: Bytes) -> HttpResponse {
    let sha = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        match field::<String>(&body, "sha256", "\"HEX\" or \"factory\"") {
            Ok(sha) => Some(sha),
            Err(e) => return error(e),
        }
    };
    call(state, Request::Activate(sha)).await
}

async fn thumbnail(State(app): AppState, Path(name): Path<String>) -> HttpResponse {
    let Some(controller) = app.options.controller.clone() else {
        return error(ControlError::unavailable("control is not enabled on this server"));
    };
    match tokio::task::spawn_blocking(move || controller.thumbnail(&name)).await {
        Ok(Ok(jpeg)) => {
            ([(header::CONTENT_TYPE, "image/jpeg"), (header::CACHE_CONTROL, "max-age=3600")], jpeg)
                .into_response()
        }
        Ok(Err(e)) => error(e),
        Err(e) => error(ControlError::internal(e.to_string())),
    }
}

async fn page() -> HttpResponse {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], PAGE)
        .into_response()
}

async fn snapshot(State(app): AppState) -> HttpResponse {
    let Some(raw) = app.preview.latest() else {
        return error(ControlError::unavailable("no frame yet"));
    };
    match tokio::task::spawn_blocking(move || encode_jpeg(&raw)).await {
        Ok(Ok(jpeg)) => ([(header::CONTENT_TYPE, "image/jpeg"), (header::CACHE_CONTROL, "no-store")], jpeg)
            .into_response(),
        Ok(Err(e)) => error(ControlError::internal(e)),
        Err(e) => error(ControlError::internal(e.to_string())),
    }
}

/// Counts a viewer for as long as its stream lives.
struct Viewer(Arc<App>);

impl Drop for Viewer {
    fn drop(&mut self) {
        self.0.preview.viewers.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn stream(State(app): AppState) -> HttpResponse {
    if app.preview.viewers.fetch_add(1, Ordering::SeqCst) >= MAX_VIEWERS {
        app.preview.viewers.fetch_sub(1, Ordering::SeqCst);
        return error(ControlError::unavailable("too many viewers"));
    }
    let viewer = Viewer(app.clone());
    let rx = app.preview.subscribe();
    let frames = futures_util::stream::unfold((rx, viewer), |(mut rx, viewer)| async move {
        loop {
            rx.changed().await.ok()?;
            let jpeg = rx.borrow_and_update().clone();
            if jpeg.is_empty() {
                continue;
            }
            let mut part =
                format!("--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n", jpeg.len())
                    .into_bytes();
            part.extend_from_slice(&jpeg);
            part.extend_from_slice(b"\r\n");
            return Some((Ok::<_, Infallible>(Bytes::from(part)), (rx, viewer)));
        }
    });
    (
        [
            (header::CONTENT_TYPE, format!("multipart/x-mixed-replace; boundary={BOUNDARY}")),
            (header::CACHE_CONTROL, "no-store".into()),
        ],
        Body::from_stream(frames),
    )
        .into_response()
}

const PAGE: &str = include_str!("page.html");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_from_header_or_page_cookie() {
        let token = "a+b/c=d-0123456789";
        let with = |name: header::HeaderName, value: &str| {
            let mut h = HeaderMap::new();
            h.insert(name, HeaderValue::from_str(value).unwrap());
            h
        };
        assert!(carries(&with(header::AUTHORIZATION, &format!("Bearer {token}")), token));
        assert!(carries(&with(header::AUTHORIZATION, &format!("bearer {token}")), token));
        assert!(!carries(&with(header::AUTHORIZATION, &format!("Basic {token}")), token));
        assert!(carries(&with(header::COOKIE, "x=1; atelier_token=a%2Bb%2Fc%3Dd-0123456789"), token));
        assert!(!carries(&with(header::COOKIE, "atelier_token=a+b/c=d-012345678"), token));
        assert!(!carries(&HeaderMap::new(), token));
        // A planted cookie of the same name before the page's own does not lock the page out.
        assert!(carries(
            &with(header::COOKIE, "atelier_token=planted; atelier_token=a%2Bb%2Fc%3Dd-0123456789"),
            token
        ));
        assert_eq!(percent_decode("%zz%41"), "%zzA");
    }
}
