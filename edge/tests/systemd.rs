//! `atelier-mirror` under systemd's notify protocol, as `Type=notify` with `WatchdogSec=` runs
//! it: the test binds the notify socket itself (the datagrams systemd would read) and checks
//! READY=1 after the first frame, WATCHDOG=1 while frames flow, a STATUS= line, STOPPING=1 at
//! the end, and that a stopped process (SIGSTOP, what a hang looks like from outside) sends no
//! pings until it continues.

use std::os::unix::net::UnixDatagram;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Everything received on `socket` for `wait`.
fn receive(socket: &UnixDatagram, wait: Duration) -> Vec<String> {
    let deadline = Instant::now() + wait;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        socket.set_read_timeout(Some(left.max(Duration::from_millis(1)))).unwrap();
        match socket.recv(&mut buf) {
            Ok(n) => got.extend(String::from_utf8_lossy(&buf[..n]).lines().map(str::to_string)),
            Err(_) => break,
        }
    }
    got
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill").args([sig, &child.id().to_string()]).status().unwrap().success();
    assert!(ok, "kill {sig}");
}

#[test]
fn notifies_ready_pings_the_watchdog_while_frames_flow_and_says_what_it_shows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_atelier-mirror"))
        .args(["--input", "test-pattern:", "--output", "null:", "--fps", "20", "--model-size", "64x48"])
        .args(["--capture-size", "128x96", "--presence", "off", "--stylize", "all", "--state-dir"])
        .arg(dir.path().join("state"))
        .env("NOTIFY_SOCKET", &path)
        .env("WATCHDOG_USEC", "600000")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let first = receive(&socket, Duration::from_secs(20));
    let ready = first.iter().position(|l| l == "READY=1");
    assert!(ready.is_some(), "no READY=1 in {first:?}");
    let pings = first.iter().filter(|l| *l == "WATCHDOG=1").count();
    assert!(pings >= 2, "{pings} watchdog pings in {first:?}");
    assert!(
        first.iter().any(|l| l.starts_with("STATUS=") && l.contains("fps, style starry-night, camera ok")),
        "{first:?}"
    );

    // A process that does not run sends nothing: systemd's watchdog would fire.
    signal(&child, "-STOP");
    let _ = receive(&socket, Duration::from_millis(300)); // what was already on its way
    let stopped = receive(&socket, Duration::from_secs(2));
    assert!(!stopped.iter().any(|l| l == "WATCHDOG=1"), "pings while stopped: {stopped:?}");
    signal(&child, "-CONT");
    let resumed = receive(&socket, Duration::from_secs(3));
    assert!(resumed.iter().any(|l| l == "WATCHDOG=1"), "no pings after SIGCONT: {resumed:?}");

    signal(&child, "-INT");
    let last = receive(&socket, Duration::from_secs(5));
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(last.iter().any(|l| l == "STOPPING=1"), "{last:?}");
}
