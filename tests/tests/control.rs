//! The host's `atelier ctl`/`deploy` client against a running mirror (pipeline, controller, serial
//! port on a pseudo-terminal, HTTP server), and every HTTP API route including refused tokens.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use atelier_edge::control::Controller;
use atelier_edge::control::checker::Checker;
use atelier_edge::control::controller::{ControllerOptions, Factory};
use atelier_edge::control::http::{HttpLimits, HttpOptions};
use atelier_edge::control::serial;
use atelier_edge::control::store::{ModelStore, sha256_hex};
use atelier_edge::frame::Size;
use atelier_edge::imageops::Fit;
use atelier_edge::overlay::OverlayOptions;
use atelier_edge::pipeline::{self, PipelineConfig, StopHandle};
use atelier_edge::sink::Sink;
use atelier_edge::sinks::mjpeg::MjpegServer;
use atelier_edge::source::{SourceOptions, SourceSpec};
use atelier_edge::style::StyleMix;
use atelier_edge::{Engine, EngineOptions};
use atelier_host::ctl::{self, DeployOptions, Target};
use base64::Engine as _;
use serde_json::{Value, json};
use serialport::{SerialPort, TTYPort};

const MODEL_SIZE: Size = Size::new(64, 48);
const TOKEN: &str = "0123456789abcdef0123456789abcdef";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A running mirror with serial control on a pty and the HTTP API on a free loopback port.
struct Mirror {
    controller: Arc<Controller>,
    url: String,
    stop: StopHandle,
    threads: Vec<JoinHandle<()>>,
}

impl Mirror {
    fn start(state: &Path, token: Option<&str>) -> Mirror {
        Mirror::start_with(state, HttpOptions { token: token.map(str::to_string), ..HttpOptions::default() })
    }

    /// With these HTTP options (the controller is filled in).
    fn start_with(state: &Path, http: HttpOptions) -> Mirror {
        let options = EngineOptions::default();
        let factory = Factory::File(repo().join("models/classics6.onnx"));
        let engine: Engine = factory.load(options).unwrap();
        let store = ModelStore::open(state).unwrap();
        let slot = store.state().active.clone();
        let style = StyleMix::single(&engine.styles()[0]);
        let (remote, link) = pipeline::link();
        let controller = Arc::new(Controller::new(
            remote,
            ControllerOptions {
                factory,
                engine: options,
                model_size: MODEL_SIZE,
                device_id: "e2e".into(),
                checker: Checker::InProcess,
            },
            Some(store),
            &slot,
            engine.styles().to_vec(),
        ));
        // The preview sink carries the HTTP server, as with `--output mjpeg://...`.
        let preview = MjpegServer::bind(
            "127.0.0.1:0".parse().unwrap(),
            HttpOptions { controller: Some(controller.clone()), ..http },
        )
        .unwrap();
        let url = format!("http://{}", preview.local_addr());
        let stop = StopHandle::new();
        let source = SourceSpec::TestPattern
            .open(SourceOptions { size: Size::new(128, 96), hold_frames: 1, fps: 30.0 })
            .unwrap();
        let sink: Box<dyn Sink> = Box::new(preview);
        let config = PipelineConfig {
            model_size: MODEL_SIZE,
            output_size: Size::new(128, 96),
            fit: Fit::Cover,
            fps: 30.0,
            frames: None,
            mirror: true,
            overlay: OverlayOptions::default(),
            painter: Default::default(),
            parallel_frames: 2,
            notice: None,
        };
        let run = {
            let stop = stop.clone();
            thread::spawn(move || {
                pipeline::run(source, engine, sink, &config, &style, stop, Some(link), None).unwrap();
            })
        };
        let m = Mirror { controller, url, stop, threads: vec![run] };
        let deadline = Instant::now() + Duration::from_secs(30);
        while m.controller.status().frames_out == 0 {
            assert!(Instant::now() < deadline, "no frames");
            thread::sleep(Duration::from_millis(20));
        }
        m
    }

    fn stop(mut self) {
        self.stop.stop();
        for t in self.threads.drain(..) {
            t.join().unwrap();
        }
    }
}

/// The host's serial client on one end of a pty, the mirror's serial loop on the other.
#[test]
fn deploy_and_ctl_over_a_serial_line() {
    let state = tempfile::tempdir().unwrap();
    let m = Mirror::start(state.path(), None);
    let (mut mirror_end, host_end) = TTYPort::pair().unwrap();
    let target = Target::Serial { port: PathBuf::from(host_end.name().unwrap()), baud: 115_200 };
    let port_loop = {
        let (controller, stop) = (m.controller.clone(), m.stop.clone());
        thread::spawn(move || {
            let _ = serial::Connection::new(&controller).run(&mut mirror_end, &stop);
        })
    };
    assert!(ctl::ctl(&target, &["*IDN?".into()]).unwrap().starts_with("Atelier,atelier-mirror,e2e,"));
    assert_eq!(ctl::ctl(&target, &["style".into(), "udnie".into()]).unwrap(), "udnie");
    let err = ctl::ctl(&target, &["style".into(), "nope".into()]).unwrap_err();
    assert!(err.to_string().contains("404 unknown style"), "{err}");
    assert!(ctl::ctl(&target, &["fly".into()]).unwrap_err().to_string().contains("unknown command"));

    // An upload that stopped a quarter of the way: deploy sends only the rest.
    let model = repo().join("models/garments7-int8w.onnx");
    let bytes = std::fs::read(&model).unwrap();
    let sha = sha256_hex(&bytes);
    let mut conn = ctl::connect(&target).unwrap();
    let begin = atelier_edge::control::Request::Upload { size: bytes.len() as u64, sha256: sha.clone() };
    conn.send(&begin, &format!("UPLOAD {} {sha}", bytes.len()), Duration::from_secs(10)).unwrap().unwrap();
    let quarter = (bytes.len() / 4 / 3000) * 3000;
    for offset in (0..quarter).step_by(3000) {
        let data = &bytes[offset..offset + 3000];
        let crc = crc32fast::hash(data);
        let text =
            format!("CHUNK {offset} {crc:08x} {}", base64::engine::general_purpose::STANDARD.encode(data));
        let request =
            atelier_edge::control::Request::Chunk { offset: offset as u64, crc32: crc, data: data.to_vec() };
        conn.send(&request, &text, Duration::from_secs(10)).unwrap().unwrap();
    }
    drop(conn);
    let factory = m.controller.status().model;
    let options =
        DeployOptions { activate: true, retry_for: Duration::from_secs(10), chunk: None, progress: false };
    let done = ctl::deploy(&target, &model, &options).unwrap();
    assert_eq!(done.sent, (bytes.len() - quarter) as u64, "only the rest is sent");
    assert!(done.reply.starts_with("active=deployed:"), "{}", done.reply);
    let deadline = Instant::now() + Duration::from_secs(20);
    while m.controller.status().model == factory {
        assert!(Instant::now() < deadline, "the deployed model never ran");
        thread::sleep(Duration::from_millis(20));
    }
    assert!(ctl::ctl(&target, &["rollback".into()]).unwrap().starts_with("active=factory:"));
    m.stop();
    port_loop.join().unwrap();
}

fn http(method: &str, url: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut req = ureq::http::Request::builder().method(method).uri(url);
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    let resp = match body {
        Some(b) => agent.run(req.header("Content-Type", "application/json").body(b.to_string()).unwrap()),
        None => agent.run(req.body(()).unwrap()),
    }
    .unwrap();
    let status = resp.status().as_u16();
    let text = resp.into_body().read_to_string().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

#[test]
fn every_api_route_answers_and_tokens_are_enforced() {
    let state = tempfile::tempdir().unwrap();
    let m = Mirror::start(state.path(), Some(TOKEN));
    let api = |p: &str| format!("{}/api/v1{p}", m.url);
    let t = Some(TOKEN);

    // Refused: no token, a wrong one, and the stream and snapshot too; the page shell is open.
    for path in
        ["/api/v1/status", "/api/v1/style", "/stream", "/snapshot.jpg", "/api/v1/styles/udnie/thumbnail.jpg"]
    {
        let (code, body) = http("GET", &format!("{}{path}", m.url), None, None);
        assert_eq!(code, 401, "{path}: {body}");
        let (code, _) =
            http("GET", &format!("{}{path}", m.url), Some("0123456789abcdef0123456789abcdeX"), None);
        assert_eq!(code, 401, "{path} with a wrong token");
    }
    let (code, _) = http("PUT", &api("/style"), None, Some(json!({"style": "udnie"})));
    assert_eq!(code, 401);
    assert_eq!(m.controller.status().style_spec, "starry-night", "a refused request changes nothing");
    assert_eq!(http("GET", &format!("{}/", m.url), None, None).0, 200);

    let (code, id) = http("GET", &api("/identity"), t, None);
    assert_eq!((code, id["maker"].as_str(), id["protocol"].as_u64()), (200, Some("Atelier"), Some(1)));
    let (_, status) = http("GET", &api("/status"), t, None);
    assert_eq!(status["running"], true);
    assert!(status["inference_ms"].as_f64().unwrap() > 0.0);
    let (_, styles) = http("GET", &api("/styles"), t, None);
    assert_eq!(styles[1], "the-scream");
    assert_eq!(http("PUT", &api("/style"), t, Some(json!({"style": "the-scream"}))).1["style"], "the-scream");
    assert_eq!(http("GET", &api("/style"), t, None).1["style"], "the-scream");
    assert_eq!(http("POST", &api("/style/next"), t, None).1["style"], "great-wave");
    assert_eq!(http("POST", &api("/style/prev"), t, None).1["style"], "the-scream");
    let (code, e) = http("PUT", &api("/style"), t, Some(json!({"style": "sketch"})));
    assert_eq!(code, 404, "{e}");
    assert!(e["error"].as_str().unwrap().contains("unknown style"));
    let (code, e) = http("PUT", &api("/style"), t, Some(json!({"colour": "red"})));
    assert_eq!(code, 400, "{e}");
    assert_eq!(http("PUT", &api("/strength"), t, Some(json!({"strength": 0.25}))).1["strength"], 0.25);
    assert_eq!(http("GET", &api("/strength"), t, None).1["strength"], 0.25);
    assert_eq!(http("PUT", &api("/strength"), t, Some(json!({"strength": 3}))).0, 400);
    assert_eq!(http("PUT", &api("/mirror"), t, Some(json!({"mirror": false}))).1["mirror"], false);
    assert_eq!(http("GET", &api("/mirror"), t, None).1["mirror"], false);
    assert_eq!(http("PUT", &api("/display"), t, Some(json!({"display_on": false}))).1["display_on"], false);
    assert_eq!(http("GET", &api("/display"), t, None).1["display_on"], false);
    assert_eq!(http("PUT", &api("/display"), t, Some(json!({"display_on": true}))).1["display_on"], true);
    let (_, model) = http("GET", &api("/model"), t, None);
    assert_eq!(model["active"]["origin"], "factory");
    assert_eq!(http("POST", &api("/model/rollback"), t, None).0, 404);
    assert_eq!(http("POST", &api("/model/activate"), t, None).0, 404);
    assert_eq!(http("GET", &api("/nothing"), t, None).0, 404);

    // A thumbnail per style: a real JPEG of the bundled portrait in that style.
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let get_bytes = |path: &str| {
        let r = ureq::http::Request::builder()
            .uri(format!("{}{path}", m.url))
            .header("Cookie", format!("atelier_token={TOKEN}"))
            .body(())
            .unwrap();
        let resp = agent.run(r).unwrap();
        (resp.status().as_u16(), resp.into_body().read_to_vec().unwrap())
    };
    let (code, a) = get_bytes("/api/v1/styles/udnie/thumbnail.jpg");
    assert_eq!(code, 200, "the page's cookie is accepted");
    let (_, b) = get_bytes("/api/v1/styles/the-scream/thumbnail.jpg");
    let (a, b) =
        (image::load_from_memory(&a).unwrap().to_rgb8(), image::load_from_memory(&b).unwrap().to_rgb8());
    assert_eq!(a.dimensions(), (96, 72));
    assert_ne!(a, b, "styles differ");
    assert_eq!(get_bytes("/api/v1/styles/nope/thumbnail.jpg").0, 404);
    let (code, jpeg) = get_bytes("/snapshot.jpg");
    assert_eq!(code, 200);
    assert!(image::load_from_memory(&jpeg).is_ok());

    // Uploads: chunked with checksums, then the whole-file route; bad chunk headers refused.
    let bytes = std::fs::read(repo().join("models/garments7-int8w.onnx")).unwrap();
    let sha = sha256_hex(&bytes);
    let (code, up) =
        http("POST", &api("/model/upload"), t, Some(json!({"size": bytes.len(), "sha256": sha})));
    assert_eq!((code, up["offset"].as_u64()), (200, Some(0)), "{up}");
    let put_chunk = |offset: usize, data: &[u8], crc: Option<String>| {
        let mut r = ureq::http::Request::builder()
            .method("PUT")
            .uri(api(&format!("/model/upload/{offset}")))
            .header("Authorization", format!("Bearer {TOKEN}"));
        if let Some(crc) = crc {
            r = r.header("X-Chunk-Crc32", crc);
        }
        let resp = agent.run(r.body(data.to_vec()).unwrap()).unwrap();
        let code = resp.status().as_u16();
        (code, serde_json::from_str::<Value>(&resp.into_body().read_to_string().unwrap()).unwrap())
    };
    assert_eq!(put_chunk(0, &bytes[..1000], None).0, 400, "no checksum header");
    assert_eq!(put_chunk(0, &bytes[..1000], Some("00000000".into())).0, 400, "wrong checksum");
    let half = bytes.len() / 2;
    let (code, r) = put_chunk(0, &bytes[..half], Some(format!("{:08x}", crc32fast::hash(&bytes[..half]))));
    assert_eq!((code, r["offset"].as_u64()), (200, Some(half as u64)), "{r}");
    let (code, r) = put_chunk(half, &bytes[half..], Some(format!("{:08x}", crc32fast::hash(&bytes[half..]))));
    assert_eq!(code, 200, "{r}");
    assert_eq!(r["verified"]["styles"][0], "sketch");
    let (code, r) = http("POST", &api("/model/activate"), t, Some(json!({"sha256": sha})));
    assert_eq!((code, r["active"]["origin"].as_str()), (200, Some("deployed")), "{r}");
    let (code, r) = http("POST", &api("/model/rollback"), t, None);
    assert_eq!((code, r["active"]["origin"].as_str()), (200, Some("factory")), "{r}");
    let file = ureq::http::Request::builder()
        .method("POST")
        .uri(api("/model/file"))
        .header("Authorization", format!("Bearer {TOKEN}"))
        .body(b"not a model".to_vec())
        .unwrap();
    let resp = agent.run(file).unwrap();
    assert_eq!(resp.status().as_u16(), 422, "a non-ONNX file is refused");
    m.stop();
}

#[test]
fn deploy_over_http_resumes_where_an_upload_stopped() {
    let state = tempfile::tempdir().unwrap();
    let m = Mirror::start(state.path(), Some(TOKEN));
    let model = repo().join("models/garments7-int8w.onnx");
    let bytes = std::fs::read(&model).unwrap();
    let target = Target::Url { url: m.url.clone(), token: Some(TOKEN.into()) };
    // An earlier upload that stopped a third of the way.
    let third = bytes.len() / 3;
    http(
        "POST",
        &format!("{}/api/v1/model/upload", m.url),
        Some(TOKEN),
        Some(json!({"size": bytes.len(), "sha256": sha256_hex(&bytes)})),
    );
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let r = ureq::http::Request::builder()
        .method("PUT")
        .uri(format!("{}/api/v1/model/upload/0", m.url))
        .header("Authorization", format!("Bearer {TOKEN}"))
        .header("X-Chunk-Crc32", format!("{:08x}", crc32fast::hash(&bytes[..third])))
        .body(bytes[..third].to_vec())
        .unwrap();
    assert_eq!(agent.run(r).unwrap().status().as_u16(), 200);

    let options = DeployOptions {
        activate: true,
        retry_for: Duration::from_secs(10),
        chunk: Some(50_000),
        progress: false,
    };
    let done = ctl::deploy(&target, &model, &options).unwrap();
    assert_eq!(done.sent, (bytes.len() - third) as u64, "only the rest is sent");
    assert!(done.activated);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !m.controller.status().model.starts_with("deployed ") {
        assert!(Instant::now() < deadline, "the deployed model never ran");
        thread::sleep(Duration::from_millis(20));
    }
    let reply = ctl::ctl(&target, &["style".into(), "brick".into()]).unwrap();
    assert!(reply.contains("\"style\":\"brick\""), "{reply}");
    let err = ctl::ctl(&target, &["style".into(), "starry-night".into()]).unwrap_err();
    assert!(err.to_string().contains("404"), "{err}");
    let wrong = Target::Url { url: m.url.clone(), token: Some("wrong-token-wrong-token".into()) };
    let err = ctl::ctl(&wrong, &["status".into()]).unwrap_err();
    assert!(err.to_string().contains("401"), "{err:#}");
    // A file that is not a model is refused before anything is sent.
    let junk = state.path().join("junk.onnx");
    std::fs::write(&junk, b"junk").unwrap();
    let err = ctl::deploy(&target, &junk, &options).unwrap_err();
    assert!(err.to_string().contains("not a model the mirror can run"), "{err}");
    m.stop();
}

/// One raw HTTP/1.1 exchange on a fresh connection: the status code and the whole response.
fn raw(addr: &str, head: &str, body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    if !body.is_empty() {
        // A request refused on its head is answered before its body is read: sending the body
        // into a closing connection would reset it before the answer is read.
        s.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
        if !matches!(s.peek(&mut [0u8; 1]), Ok(n) if n > 0) {
            let _ = s.write_all(body);
        }
    }
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).to_string();
    (text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0), text)
}

/// The adversarial test's way in: any web page could drive a mirror without a token (the
/// default, loopback-only setup) through the browser of someone in the shop.
#[test]
fn browsers_cannot_drive_the_api_cross_site() {
    let state = tempfile::tempdir().unwrap();
    let m = Mirror::start(state.path(), None);
    let addr = m.url.trim_start_matches("http://").to_string();
    let port = addr.rsplit(':').next().unwrap().to_string();
    let style = m.controller.status().style_spec;
    let model = std::fs::read(repo().join("models/garments7-int8w.onnx")).unwrap();
    let post = |path: &str, extra: &str, body: &[u8]| {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        raw(&addr, &head, body)
    };
    // A cross-site `fetch(..., {mode: "no-cors", body})` from another site's page: text/plain.
    let evil = "Origin: http://evil.example\r\nContent-Type: text/plain\r\n";
    let (code, text) = post("/api/v1/model/file", evil, &model);
    assert_eq!(code, 403, "{text}");
    assert!(text.contains("allowed_origins"), "the refusal says what to do: {text}");
    assert_eq!(post("/api/v1/model/activate", evil, b"").0, 403);
    assert_eq!(post("/api/v1/style/next", evil, b"").0, 403);
    // The same without an Origin (browsers send one; this stands for any that would not).
    let (code, text) = post("/api/v1/model/file", "Content-Type: text/plain\r\n", &model);
    assert_eq!(code, 415, "{text}");
    assert_eq!(post("/api/v1/style/next", "", b"").0, 415);
    assert_eq!(
        post("/api/v1/style/next", "Content-Type: application/x-www-form-urlencoded\r\n", b"a=b").0,
        415
    );
    assert_eq!(std::fs::read_dir(state.path().join("models")).unwrap().count(), 0, "no model was stored");
    assert_eq!(m.controller.status().style_spec, style, "nothing changed");

    // DNS rebinding: the attacker's name resolves to 127.0.0.1; the browser sends that name.
    let get = |path: &str, host: &str| {
        raw(&addr, &format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"), b"")
    };
    for path in ["/snapshot.jpg", "/api/v1/status", "/stream", "/"] {
        let (code, text) = get(path, &format!("attacker.example:{port}"));
        assert_eq!(code, 403, "{path}: {text}");
    }
    // What keeps working: addresses, loopback names, this machine's name, the page's own requests.
    let own = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_string();
    for host in
        [addr.clone(), format!("localhost:{port}"), format!("{own}:{port}"), format!("{own}.local:{port}")]
    {
        assert_eq!(get("/snapshot.jpg", &host).0, 200, "Host: {host}");
    }
    let (code, _) = raw(&addr, "GET /api/v1/status HTTP/1.0\r\n\r\n", b"");
    assert_eq!(code, 200, "a request without Host (HTTP/1.0 tools)");
    let json = format!("Origin: http://{addr}\r\nContent-Type: application/json\r\n");
    let (code, text) = post("/api/v1/style/next", &json, b"");
    assert_eq!(code, 200, "the page's own request: {text}");
    assert_ne!(m.controller.status().style_spec, style);
    let (code, text) = post("/api/v1/model/file", "Content-Type: application/octet-stream\r\n", &model);
    assert_eq!(code, 200, "a tool on this machine: {text}");
    m.stop();
}

#[test]
fn other_names_and_origins_are_allowed_when_configured() {
    let state = tempfile::tempdir().unwrap();
    let http = HttpOptions {
        allowed_hosts: vec!["mirror-12.shop.lan".into()],
        allowed_origins: vec!["https://dashboard.example".into()],
        ..HttpOptions::default()
    };
    let m = Mirror::start_with(state.path(), http);
    let addr = m.url.trim_start_matches("http://").to_string();
    let port = addr.rsplit(':').next().unwrap().to_string();
    let head = |method: &str, path: &str, extra: &str| {
        format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n"
        )
    };
    // A preflight from the dashboard, then its request.
    let preflight = "Origin: https://dashboard.example\r\nAccess-Control-Request-Method: POST\r\n\
                     Access-Control-Request-Headers: content-type\r\n";
    let (code, text) = raw(&addr, &head("OPTIONS", "/api/v1/style/next", preflight), b"");
    assert!(code == 200 || code == 204, "{text}");
    assert!(
        text.to_ascii_lowercase().contains("access-control-allow-origin: https://dashboard.example"),
        "{text}"
    );
    let dashboard = "Origin: https://dashboard.example\r\nContent-Type: application/json\r\n";
    let (code, text) = raw(&addr, &head("POST", "/api/v1/style/next", dashboard), b"");
    assert_eq!(code, 200, "{text}");
    let other = "Origin: https://other.example\r\nContent-Type: application/json\r\n";
    assert_eq!(raw(&addr, &head("POST", "/api/v1/style/next", other), b"").0, 403);
    let named = format!(
        "GET /api/v1/status HTTP/1.1\r\nHost: MIRROR-12.shop.lan:{port}\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(raw(&addr, &named, b"").0, 200);
    m.stop();
}

/// The server's own limits, on a bare server with short timeouts.
#[test]
fn slow_large_many_and_stalled_clients_are_bounded() {
    use atelier_edge::control::http::{HttpServer, MAX_VIEWERS};
    let limits = HttpLimits {
        max_connections: 16,
        header_timeout: Duration::from_secs(1),
        body_timeout: Duration::from_secs(1),
        write_stall: Duration::from_secs(1),
    };
    let server =
        HttpServer::bind("127.0.0.1:0".parse().unwrap(), HttpOptions { limits, ..HttpOptions::default() })
            .unwrap();
    let addr = server.local_addr().to_string();
    // A declared body far over the limit: 413 at once, nothing read.
    let t = Instant::now();
    let (code, text) = raw(
        &addr,
        &format!(
            "POST /api/v1/model/file HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/octet-stream\r\nContent-Length: 10000000000\r\n\r\n"
        ),
        b"",
    );
    assert_eq!(code, 413, "{text}");
    assert!(t.elapsed() < Duration::from_secs(5));
    // A head that never ends (slowloris), and a body that stops: the connection is closed.
    for (head, what) in [
        ("GET / HTTP/1.1\r\nHost: x".to_string(), "header"),
        (
            format!(
                "POST /api/v1/model/upload HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"size\":"
            ),
            "body",
        ),
    ] {
        let t = Instant::now();
        let mut s = TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.write_all(head.as_bytes()).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "a stalled {what} held the connection {:?}",
            t.elapsed()
        );
    }
    // Connections over the cap get a 503 at once; the others are served once the idle ones go.
    let idle: Vec<TcpStream> =
        (0..limits.max_connections).map(|_| TcpStream::connect(&addr).unwrap()).collect();
    thread::sleep(Duration::from_millis(200));
    let (code, text) = raw(&addr, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n", b"");
    assert_eq!(code, 503, "{text}");
    drop(idle);
    let deadline = Instant::now() + Duration::from_secs(10);
    while raw(&addr, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n", b"").0 != 200 {
        assert!(Instant::now() < deadline, "the server did not recover");
        thread::sleep(Duration::from_millis(100));
    }
    // Viewers that stop reading are dropped, so they cannot hold every stream slot.
    let stalled: Vec<TcpStream> = (0..MAX_VIEWERS)
        .map(|_| {
            let mut s = TcpStream::connect(&addr).unwrap();
            s.write_all(b"GET /stream HTTP/1.1\r\n\r\n").unwrap();
            s
        })
        .collect();
    let viewer = || {
        let mut s = TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"GET /stream HTTP/1.1\r\n\r\n").unwrap();
        let mut first = [0u8; 12];
        let _ = s.read_exact(&mut first);
        first
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !viewer().starts_with(b"HTTP/1.1 503") {
        assert!(Instant::now() < deadline, "the stalled viewers never filled the slots");
    }
    let noise = image::RgbImage::from_fn(1920, 1080, |x, y| {
        let v = (x.wrapping_mul(2654435761) ^ y.wrapping_mul(40503)) as u8;
        image::Rgb([v, v.wrapping_mul(7), v.wrapping_mul(13)])
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        server.preview().publish(noise.clone()).unwrap();
        if viewer().starts_with(b"HTTP/1.1 200") {
            break;
        }
        assert!(Instant::now() < deadline, "stalled viewers still hold every slot");
    }
    drop(stalled);
}

/// Two ROLLBACKs at once (5 of 5 trials once left the running model and state.json apart).
#[test]
fn concurrent_model_changes_keep_the_pipeline_and_the_state_together() {
    let state = tempfile::tempdir().unwrap();
    let m = Mirror::start(state.path(), None);
    let bytes = std::fs::read(repo().join("models/garments7-int8w.onnx")).unwrap();
    let sha = sha256_hex(&bytes);
    let up = m
        .controller
        .execute(atelier_edge::control::Request::Upload { size: bytes.len() as u64, sha256: sha.clone() });
    assert!(up.is_ok());
    let chunk = atelier_edge::control::Request::Chunk {
        offset: 0,
        crc32: crc32fast::hash(&bytes),
        data: bytes.clone(),
    };
    m.controller.execute(chunk).unwrap();
    m.controller.execute(atelier_edge::control::Request::Activate(None)).unwrap();
    let running = |m: &Mirror| m.controller.status().model;
    let saved = || -> Value {
        serde_json::from_slice(&std::fs::read(state.path().join("state.json")).unwrap()).unwrap()
    };
    for trial in 0..5 {
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let c = m.controller.clone();
                thread::spawn(move || c.execute(atelier_edge::control::Request::Rollback))
            })
            .collect();
        for t in threads {
            t.join().unwrap().unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        let expect_deployed = saved()["active"] == sha.as_str();
        while running(&m).starts_with("deployed ") != expect_deployed {
            assert!(
                Instant::now() < deadline,
                "trial {trial}: running {} but state.json {}",
                running(&m),
                saved()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
    m.stop();
}

/// ACTIVATE when state.json cannot be written: refused, and the mirror runs what it ran.
#[test]
fn an_activation_that_cannot_be_saved_does_not_happen() {
    let state = tempfile::tempdir().unwrap();
    let m = Mirror::start(state.path(), Some(TOKEN));
    let api = |p: &str| format!("{}/api/v1{p}", m.url);
    let bytes = std::fs::read(repo().join("models/garments7-int8w.onnx")).unwrap();
    let sha = sha256_hex(&bytes);
    let file = ureq::http::Request::builder()
        .method("POST")
        .uri(api("/model/file"))
        .header("Authorization", format!("Bearer {TOKEN}"))
        .body(bytes)
        .unwrap();
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    assert_eq!(agent.run(file).unwrap().status().as_u16(), 200);
    let factory = m.controller.status().model;
    // The temporary file's name taken by a directory: the write fails even for root.
    std::fs::create_dir_all(state.path().join("state.tmp/x")).unwrap();
    let (code, e) = http("POST", &api("/model/activate"), Some(TOKEN), Some(json!({"sha256": sha})));
    assert_eq!(code, 500, "{e}");
    assert!(e["error"].as_str().unwrap().contains("nothing was changed"), "{e}");
    thread::sleep(Duration::from_millis(300));
    assert_eq!(m.controller.status().model, factory, "the model did not change");
    assert_eq!(http("GET", &api("/model"), Some(TOKEN), None).1["active"]["origin"], "factory");
    std::fs::remove_dir_all(state.path().join("state.tmp")).unwrap();
    m.stop();
    let m = Mirror::start(state.path(), Some(TOKEN));
    assert_eq!(m.controller.status().model, factory, "and after a restart");
    m.stop();
}

/// A kill -9 during an upload's final check leaves the whole file in uploads/: it is checked at
/// the next start, and deploying it again works (it used to answer 422 forever).
#[test]
fn an_upload_cut_off_during_its_check_is_checked_at_the_next_start() {
    let state = tempfile::tempdir().unwrap();
    let model = repo().join("models/garments7-int8w.onnx");
    let bytes = std::fs::read(&model).unwrap();
    let sha = sha256_hex(&bytes);
    std::fs::create_dir_all(state.path().join("uploads")).unwrap();
    std::fs::write(state.path().join("uploads").join(format!("{sha}.part")), &bytes).unwrap();
    let m = Mirror::start(state.path(), Some(TOKEN));
    assert!(state.path().join("models").join(format!("{sha}.onnx")).exists(), "checked and kept at start");
    let target = Target::Url { url: m.url.clone(), token: Some(TOKEN.into()) };
    let options =
        DeployOptions { activate: true, retry_for: Duration::from_secs(10), chunk: None, progress: false };
    let done = ctl::deploy(&target, &model, &options).unwrap();
    assert_eq!(done.sent, 0, "nothing to send again");
    assert!(done.activated);
    m.stop();
}

/// Random requests against a running mirror without a token (every route open): each gets an
/// answer, none a 500, and the mirror still serves afterwards. Cases are fixed so the test
/// command's time stays bounded; the figures are in docs/control.md.
#[test]
fn fuzz_the_http_api() {
    use proptest::prelude::*;
    let state = tempfile::tempdir().unwrap();
    let m = Mirror::start(state.path(), None);
    let addr = m.url.trim_start_matches("http://").to_string();
    let routes = [
        "/",
        "/stream",
        "/snapshot.jpg",
        "/api/v1/identity",
        "/api/v1/status",
        "/api/v1/styles",
        "/api/v1/styles/udnie/thumbnail.jpg",
        "/api/v1/style",
        "/api/v1/style/next",
        "/api/v1/style/prev",
        "/api/v1/strength",
        "/api/v1/mirror",
        "/api/v1/display",
        "/api/v1/model",
        "/api/v1/model/upload",
        "/api/v1/model/upload/0",
        "/api/v1/model/file",
        "/api/v1/model/activate",
        "/api/v1/model/rollback",
    ];
    let path = prop_oneof![
        4 => proptest::sample::select(routes.to_vec()).prop_map(str::to_string),
        1 => "/api/v1/[a-z0-9/._%-]{0,40}",
        1 => "/api/v1/model/upload/[0-9a-z-]{0,24}",
        1 => "/api/v1/styles/[^/ ?#]{0,20}/thumbnail.jpg",
    ];
    let method = prop_oneof![
        6 => proptest::sample::select(vec!["GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "HEAD"])
            .prop_map(str::to_string),
        1 => "[A-Z]{1,8}",
    ];
    let own_host = addr.clone();
    // Mostly what the mirror's own page sends, so most requests get past the guard.
    let host = prop_oneof![8 => Just(Some(own_host.clone())), 1 => Just(None), 1 => "[a-z0-9.:-]{0,30}".prop_map(Some)];
    let origin = prop_oneof![
        8 => Just(None),
        1 => Just(Some(format!("http://{own_host}"))),
        1 => "[a-z]{1,10}://[a-z0-9.:]{0,20}".prop_map(Some),
    ];
    let mime = prop_oneof![
        1 => Just(None),
        4 => Just(Some("application/json".to_string())),
        1 => Just(Some("application/octet-stream".to_string())),
        1 => Just(Some("text/plain".to_string())),
        1 => "[a-z/+;= -]{0,30}".prop_map(Some),
    ];
    let body = prop_oneof![
        1 => proptest::collection::vec(any::<u8>(), 0..512),
        2 => "\\{\"(style|strength|mirror|display_on|size|sha256)\": (\"[a-z=,.0-9-]{0,40}\"|-?[0-9.e]{1,12}|true|null|\\[\\])\\}"
            .prop_map(String::into_bytes),
    ];
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 1500,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let codes = std::cell::RefCell::new(std::collections::BTreeMap::<u16, u32>::new());
    runner
        .run(&(method, path, host, origin, mime, body), |(method, path, host, origin, mime, body)| {
            let mut head = format!("{method} {path} HTTP/1.1\r\n");
            for (name, value) in [("Host", host), ("Origin", origin), ("Content-Type", mime)] {
                if let Some(value) = value {
                    head.push_str(&format!("{name}: {value}\r\n"));
                }
            }
            head.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", body.len()));
            let stream = path == "/stream" && method == "GET";
            let (code, text) = if stream { (200, String::new()) } else { raw(&addr, &head, &body) };
            prop_assert!((100..600).contains(&code), "{head}: no answer: {text:?}");
            prop_assert!(code != 500, "{head}{}: {text}", String::from_utf8_lossy(&body));
            *codes.borrow_mut().entry(code).or_default() += 1;
            Ok(())
        })
        .unwrap();
    eprintln!("fuzz_the_http_api: 1500 requests, answers by status: {:?}", codes.borrow());
    let (code, status) = http("GET", &format!("{}/api/v1/status", m.url), None, None);
    assert_eq!((code, status["running"].as_bool()), (200, Some(true)));
    let before = m.controller.status().frames_out;
    let deadline = Instant::now() + Duration::from_secs(20);
    while m.controller.status().frames_out <= before + 2 {
        assert!(Instant::now() < deadline, "the mirror stopped showing frames");
        thread::sleep(Duration::from_millis(20));
    }
    m.stop();
}
