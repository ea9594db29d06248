//! `atelier-mirror` as a user runs it: the embedded default, a config file, and bad arguments.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

fn mirror() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_atelier-mirror"));
    c.env("RUST_LOG", "warn");
    c
}

#[test]
fn embedded_default_writes_frames_without_any_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = mirror()
        .args(["--frames", "3", "--fps", "100", "--output"])
        .arg(format!("png:{}", dir.path().display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let frames: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(frames.len(), 3, "{frames:?}");
    let img = image::open(&frames[0]).unwrap();
    assert_eq!((img.width(), img.height()), (640, 480));
}

/// Half precision runs the same pipeline; on a CPU without native f16 (this x86 machine) the
/// mirror says it will be slow instead of silently crawling.
#[test]
fn f16_precision_runs_and_warns_where_it_is_not_native() {
    let dir = tempfile::tempdir().unwrap();
    let out = mirror()
        .args(["--precision", "f16", "--frames", "1", "--model-size", "64x48", "--capture-size", "128x96"])
        .arg("--output")
        .arg(format!("png:{}", dir.path().display()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    if !cfg!(target_arch = "aarch64") {
        assert!(stderr.contains("no native f16"), "{stderr}");
    }
    let err = mirror().args(["--precision", "f64"]).output().unwrap();
    assert!(String::from_utf8_lossy(&err.stderr).contains("accepted: f32, f16"));
}

#[test]
fn embedded_default_serves_the_mjpeg_preview() {
    let mut child = mirror()
        .args(["--output", "mjpeg://127.0.0.1:0", "--frames", "100000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    let addr = url.trim_start_matches("http://").trim_end_matches('/').to_string();
    let mut body = Vec::new();
    for _ in 0..100 {
        let mut s = TcpStream::connect(&addr).unwrap();
        write!(s, "GET /snapshot.jpg HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
        body.clear();
        s.read_to_end(&mut body).unwrap();
        if body.starts_with(b"HTTP/1.1 200") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let jpeg = &body[body.windows(4).position(|w| w == b"\r\n\r\n").expect("a response") + 4..];
    let img = image::load_from_memory(jpeg).expect("a JPEG snapshot");
    assert_eq!((img.width(), img.height()), (640, 480));
}

#[test]
fn config_file_is_read_and_flags_override_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mirror.toml");
    let frames = dir.path().join("frames");
    std::fs::write(
        &config,
        format!(
            "input = \"test-pattern:\"\noutput = \"png:{}\"\nframes = 50\nfps = 100\ncapture_size = \"320x240\"\nmodel_size = \"160x120\"\n",
            frames.display()
        ),
    )
    .unwrap();
    // Its own state directory: the mirror keeps a copy of a config that worked there.
    let out = mirror()
        .arg("--config")
        .arg(&config)
        .args(["--frames", "2", "--state-dir"])
        .arg(dir.path().join("state"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let written: Vec<_> = std::fs::read_dir(&frames).unwrap().collect();
    assert_eq!(written.len(), 2);
    let img = image::open(written[0].as_ref().unwrap().path()).unwrap();
    assert_eq!((img.width(), img.height()), (320, 240));
}

/// Runs with bad arguments; returns stderr after checking the exit status.
fn fails(args: &[&str]) -> String {
    let out = mirror().args(args).output().unwrap();
    assert!(!out.status.success(), "{args:?} should fail");
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn bad_arguments_name_the_field_and_the_accepted_values() {
    let err = fails(&["--input", "webcam"]);
    assert!(err.contains("--input") && err.contains("camera:, v4l2:///dev/videoN"), "{err}");
    let err = fails(&["--output", "hdmi:1"]);
    assert!(err.contains("--output") && err.contains("drm:") && err.contains("png:DIR"), "{err}");
    let err = fails(&["--rotate", "45"]);
    assert!(err.contains("--rotate") && err.contains("0, 90, 180, 270"), "{err}");
    let err = fails(&["--fit", "zoom"]);
    assert!(err.contains("--fit") && err.contains("fill") && err.contains("fit"), "{err}");
    let err = fails(&["--model-size", "321x240", "--frames", "1", "--output", "png:/tmp/x"]);
    assert!(err.contains("model_size") && err.contains("multiples of 8"), "{err}");
    let err = fails(&["--style", "nosuchstyle", "--frames", "1", "--output", "png:/tmp/x"]);
    assert!(err.contains("unknown style `nosuchstyle`"), "{err}");
    let err = fails(&["--model", "/nonexistent/model.onnx"]);
    assert!(err.contains("/nonexistent/model.onnx") && err.contains("cannot read"), "{err}");
    assert_eq!(err.matches("No such file").count(), 1, "the cause, once: {err}");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "fps = 30\nthreds = 2\n").unwrap();
    let err = fails(&["--config", config.to_str().unwrap()]);
    assert!(
        err.contains("bad.toml") && err.contains("line 2") && err.contains("unknown field `threds`"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
}

/// Devices that are not there are named, with what to do, on one line; the mirror does not
/// start on a default behind the operator's back.
#[test]
fn missing_devices_are_named() {
    let err = fails(&["--input", "/dev/video99", "--frames", "1", "--output", "null:"]);
    assert!(err.contains("/dev/video99") && err.contains("--list-devices"), "{err}");
    let err = fails(&["--output", "fb:/dev/fb9", "--frames", "1"]);
    assert!(err.contains("fb:/dev/fb9") && err.contains("cannot open"), "{err}");
    if !std::path::Path::new("/dev/dri").exists() {
        let err = fails(&["--output", "drm:", "--frames", "1"]);
        assert!(err.contains("no /dev/dri/card*") && err.contains("fb:"), "{err}");
    }
}

#[test]
fn list_devices_always_answers() {
    let out = mirror().arg("--list-devices").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for section in ["Cameras (V4L2):", "Screens (DRM/KMS):", "Framebuffers:"] {
        assert!(text.contains(section), "{text}");
    }
}

/// Frames and controls must not reach the network without a token.
#[test]
fn serving_beyond_loopback_needs_a_token() {
    let out = mirror()
        .args(["--frames", "1", "--output", "mjpeg://0.0.0.0:0"])
        .env_remove("ATELIER_API_TOKEN")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("needs an API token") && stderr.contains("127.0.0.1"), "{stderr}");
    let out = mirror()
        .args(["--frames", "1", "--api-token", "short", "--output", "mjpeg://0.0.0.0:0"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("16 to 256 visible ASCII characters"), "{stderr}");
}

/// SIGTERM is what systemd sends: the same clean stop as Ctrl-C (exit 0, the report written).
#[test]
fn sigterm_is_a_clean_stop() {
    let state = tempfile::tempdir().unwrap();
    let mut child = mirror()
        .args(["--input", "test-pattern:", "--output", "null:", "--model-size", "64x48", "--report"])
        .arg("--state-dir")
        .arg(state.path())
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut log = String::new();
    while !log.contains("atelier-mirror: output") {
        assert!(err.read_line(&mut log).unwrap() > 0, "the mirror ended early: {log}");
    }
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: kill(2) on our own child's pid, which has not been waited for, so it is not reused.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let status = child.wait().unwrap();
    err.read_to_string(&mut log).unwrap();
    let mut report = String::new();
    child.stdout.take().unwrap().read_to_string(&mut report).unwrap();
    assert!(status.success(), "{status}: {log}");
    assert!(log.contains("SIGTERM: stopping") && log.contains("stopped after"), "{log}");
    assert!(report.contains("\"frames_out\""), "the report: {report}");
}

/// A second mirror on the same state directory would keep its own idea of the active model.
#[test]
fn one_state_directory_serves_one_mirror() {
    let state = tempfile::tempdir().unwrap();
    let mut first = mirror()
        .args(["--input", "test-pattern:", "--output", "null:", "--model-size", "64x48", "--state-dir"])
        .arg(state.path())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lock = state.path().join("lock");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::fs::read_to_string(&lock).ok().as_deref() != Some(&first.id().to_string()) {
        assert!(std::time::Instant::now() < deadline, "the first mirror never took its state directory");
        std::thread::sleep(Duration::from_millis(50));
    }
    let state_arg = state.path().to_str().unwrap();
    let err =
        fails(&["--input", "test-pattern:", "--output", "null:", "--frames", "1", "--state-dir", state_arg]);
    assert!(err.contains(&format!("in use by another atelier-mirror (pid {})", first.id())), "{err}");
    first.kill().unwrap();
    first.wait().unwrap();
    let out = mirror()
        .args(["--input", "test-pattern:", "--output", "null:", "--frames", "1", "--model-size", "64x48"])
        .args(["--state-dir", state_arg])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The style at start follows one rule and says which part of it applied.
#[test]
fn a_style_named_at_start_wins_over_the_one_kept_from_control() {
    let state = tempfile::tempdir().unwrap();
    std::fs::write(state.path().join("state.json"), r#"{"active": "factory", "style": "udnie"}"#).unwrap();
    let start = |extra: &[&str]| {
        let out = mirror()
            .args(["--input", "test-pattern:", "--output", "null:", "--frames", "1", "--model-size", "64x48"])
            .arg("--state-dir")
            .arg(state.path())
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let log = start(&["--style", "the-scream"]);
    assert!(log.contains("style the-scream (--style)"), "{log}");
    let log = start(&[]);
    assert!(log.contains("style udnie (chosen over control before the last stop"), "{log}");
}

/// A config the mirror cannot use is one clear line in the log and on the screen, and the mirror
/// runs on the copy of the last config that worked instead of stopping with a black screen.
#[test]
fn a_broken_config_is_shown_and_the_last_good_one_used() {
    let dir = tempfile::tempdir().unwrap();
    let (config, state) = (dir.path().join("mirror.toml"), dir.path().join("state"));
    std::fs::create_dir(&state).unwrap();
    let run = |out: &str| {
        let out_dir = dir.path().join(out);
        let output = mirror()
            .args(["--frames", "1", "--model-size", "64x48", "--capture-size", "256x192"])
            .args(["--input", "test-pattern:", "--presence", "off", "--stylize", "all", "--fps", "2"])
            .args(["--parallel-frames", "1"]) // the same pattern frame first in both runs
            .arg("--config")
            .arg(&config)
            .arg("--state-dir")
            .arg(&state)
            .arg("--output")
            .arg(format!("png:{}", out_dir.display()))
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let frame = std::fs::read_dir(&out_dir).unwrap().next().unwrap().unwrap().path();
        (String::from_utf8_lossy(&output.stderr).to_string(), image::open(frame).unwrap().to_rgb8())
    };
    std::fs::write(&config, "show_style = false\n").unwrap();
    let (log, good) = run("good");
    assert!(!log.contains("ERROR"), "{log}");
    assert!(
        std::fs::read_dir(&state).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("last-good_"))
    );

    std::fs::write(&config, "show_style = false\nfps = \"fast\"\n").unwrap();
    let (log, shown) = run("broken");
    let line = log.lines().find(|l| l.contains("ERROR")).unwrap_or_else(|| panic!("no error line in {log}"));
    assert!(line.contains("mirror.toml") && line.contains("line 2") && line.contains("last good"), "{line}");
    // The same picture (the kept config has show_style = false too) with the problem written over
    // its upper part, wrapped over lines (at 256 wide it takes four).
    let differs = |y0: u32, y1: u32| {
        (y0..y1)
            .flat_map(|y| (0..good.width()).map(move |x| (x, y)))
            .filter(|&(x, y)| good.get_pixel(x, y) != shown.get_pixel(x, y))
            .count()
    };
    let h = good.height();
    assert!(differs(h / 5, h / 5 + 20) > 100, "no notice drawn over the picture");
    assert_eq!(differs(3 * h / 4, h), 0, "the picture itself changed");
}
