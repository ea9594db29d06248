//! The test run every uploaded model passes before it may become active: decoded, checked
//! against the contract, prepared at the pipeline's size and run once on a test picture.
//!
//! A hostile or broken model can make that run panic, allocate gigabytes or never end, and Rust
//! aborts on a failed allocation. So the mirror runs it in a process of its own
//! ([`Checker::Process`]: its own binary with `--check-model`, a memory budget from
//! [`crate::alloc_budget`] and a time limit), where dying costs nothing: whatever ends that
//! process is a 422 on every wire, and the mirror goes on showing the model it has.
//! [`Checker::InProcess`] (tests, tools) catches panics but bounds nothing.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use image::RgbImage;

use super::error::ControlError;
use crate::engine::{Engine, EngineOptions};
use crate::frame::Size;

/// Memory the test run may use: several times what the shipped models need at 640x480.
pub const CHECK_MEMORY: u64 = 512 << 20;
/// Time the test run may take: a debug build under the device lab's emulation takes ~30 s.
pub const CHECK_TIME: Duration = Duration::from_secs(100);
/// The hidden flag of `atelier-mirror` that runs [`child_main`].
pub const CHECK_FLAG: &str = "--check-model";
/// Exit status of a test run that refused the model (the reason is on stderr).
const REFUSED: i32 = 3;

/// Where the test run happens.
#[derive(Debug, Clone)]
pub enum Checker {
    /// In the calling process, panics caught.
    InProcess,
    /// `exe --check-model FILE` with a memory budget (bytes) and a time limit.
    Process { exe: PathBuf, memory: u64, time: Duration },
}

impl Checker {
    /// The mirror's own binary, with the default bounds.
    pub fn this_binary() -> Checker {
        match std::env::current_exe() {
            Ok(exe) => Checker::Process { exe, memory: CHECK_MEMORY, time: CHECK_TIME },
            Err(e) => {
                tracing::warn!("cannot find this program's path ({e}); model test runs are not isolated");
                Checker::InProcess
            }
        }
    }

    /// Test-runs the model at `path` and returns it loaded and prepared at `size`, ready to swap
    /// in. The refusal is a 422 naming the reason.
    pub fn check(
        &self,
        path: &Path,
        name: &str,
        options: EngineOptions,
        size: Size,
    ) -> Result<Engine, ControlError> {
        if let Checker::Process { exe, memory, time } = self {
            run_child(exe, *memory, *time, path, options, size)?;
        }
        // Passed in a process of its own, or not isolated: either way a panic is a refusal.
        let bytes =
            std::fs::read(path).map_err(|e| ControlError::internal(format!("{}: {e}", path.display())))?;
        std::panic::catch_unwind(|| test_run(&bytes, name, options, size))
            .unwrap_or_else(|panic| Err(refuse(format!("the test run panicked: {}", panic_text(&*panic)))))
    }
}

/// Loads, prepares and runs a model once on a test picture; only a model that passes may become
/// active.
pub fn test_run(
    bytes: &[u8],
    name: &str,
    options: EngineOptions,
    size: Size,
) -> Result<Engine, ControlError> {
    let mut engine = Engine::from_bytes(bytes, name, options).map_err(|e| refuse(e.kind.to_string()))?;
    engine.prepare(size).map_err(|e| refuse(e.to_string()))?;
    let out = engine.stylize(&test_picture(size)).map_err(|e| refuse(e.to_string()))?;
    if out.dimensions() != (size.width, size.height) {
        return Err(refuse(format!("it returned {}x{} for {size}", out.width(), out.height())));
    }
    Ok(engine)
}

fn refuse(why: String) -> ControlError {
    ControlError::invalid_model(format!("the upload is not a model this mirror can run: {why}"))
}

fn run_child(
    exe: &Path,
    memory: u64,
    time: Duration,
    path: &Path,
    options: EngineOptions,
    size: Size,
) -> Result<(), ControlError> {
    let mut child = Command::new(exe)
        .arg(CHECK_FLAG)
        .arg(path)
        .args(["--model-size", &size.to_string(), "--precision", &options.precision.to_string()])
        .args(["--threads", &options.threads.to_string()])
        .env("ATELIER_CHECK_MEMORY", memory.to_string())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            ControlError::internal(format!("cannot start the model test run ({}): {e}", exe.display()))
        })?;
    // The child writes a few lines at most; read them on a thread so a full pipe cannot stall it.
    let mut stderr = child.stderr.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.by_ref().take(64 << 10).read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + time;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(ControlError::internal(format!("waiting for the model test run: {e}"))),
        }
    };
    let said = reader.join().unwrap_or_default();
    let last = said.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string();
    let Some(status) = status else {
        return Err(refuse(format!("its test run took longer than {} s", time.as_secs())));
    };
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(0), _) => Ok(()),
        (Some(REFUSED), _) => Err(ControlError::invalid_model(last)),
        (_, Some(_)) if said.contains("memory allocation of") => {
            Err(refuse(format!("its test run needed more than {} MB of memory", memory >> 20)))
        }
        (Some(101), _) => Err(refuse(format!("its test run panicked ({last})"))),
        (code, signal) => Err(refuse(format!(
            "its test run ended abnormally ({}){}",
            code.map_or_else(|| format!("signal {}", signal.unwrap_or(0)), |c| format!("exit status {c}")),
            if last.is_empty() { String::new() } else { format!(": {last}") }
        ))),
    }
}

/// What `atelier-mirror --check-model FILE` does: the bounded test run, its refusal on stderr.
pub fn child_main(path: &Path, options: EngineOptions, size: Size) -> i32 {
    if let Some(bytes) = std::env::var("ATELIER_CHECK_MEMORY").ok().and_then(|m| m.parse().ok()) {
        crate::alloc_budget::set_budget(bytes);
    }
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("the upload is not a model this mirror can run: {}: {e}", path.display());
            return REFUSED;
        }
    };
    // A panic is a refusal like any other, named by its message alone.
    std::panic::set_hook(Box::new(|_| {}));
    let run = std::panic::catch_unwind(|| test_run(&bytes, "upload", options, size));
    match run {
        Ok(Ok(_)) => 0,
        Ok(Err(e)) => {
            eprintln!("{}", e.message);
            REFUSED
        }
        Err(panic) => {
            eprintln!("{}", refuse(format!("its test run panicked: {}", panic_text(&*panic))).message);
            REFUSED
        }
    }
}

/// A panic's message, when it has one.
pub fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into())
}

/// A smooth colour ramp with a few edges: enough to exercise every layer of a generator.
fn test_picture(size: Size) -> RgbImage {
    RgbImage::from_fn(size.width, size.height, |x, y| {
        let (u, v) = (x * 255 / size.width.max(1), y * 255 / size.height.max(1));
        let edge = if (x / 16 + y / 16) % 2 == 0 { 40 } else { 0 };
        image::Rgb([u as u8, v as u8, ((u + v) / 2 + edge).min(255) as u8])
    })
}
