//! The host's `atelier ctl`/`deploy` client against a running mirror (pipeline, controller, serial
//! port on a pseudo-terminal, HTTP server), and every HTTP API route including refused tokens.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use atelier_edge::control::Controller;
use atelier_edge::control::controller::{ControllerOptions, Factory};
use atelier_edge::control::http::HttpOptions;
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
        let options = EngineOptions::default();
        let factory = Factory::File(repo().join("models/classics6.onnx"));
        let engine: Engine = factory.load(options).unwrap();
        let store = ModelStore::open(state).unwrap();
        let slot = store.state().active.clone();
        let style = StyleMix::single(&engine.styles()[0]);
        let (remote, link) = pipeline::link();
        let controller = Arc::new(Controller::new(
            remote,
            ControllerOptions { factory, engine: options, model_size: MODEL_SIZE, device_id: "e2e".into() },
            Some(store),
            &slot,
            engine.styles().to_vec(),
        ));
        // The preview sink carries the HTTP server, as with `--output mjpeg://...`.
        let preview = MjpegServer::bind(
            "127.0.0.1:0".parse().unwrap(),
            HttpOptions { token: token.map(str::to_string), controller: Some(controller.clone()) },
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
