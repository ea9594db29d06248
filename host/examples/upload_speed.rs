//! Upload speed of `atelier deploy` over a pseudo-terminal, and what the same bytes cost on a
//! 115200-baud UART (docs/benchmarks.md). The mirror side is the real serial loop, controller and
//! model store (upload, fsync, SHA-256, contract check, prepare and test run); no pipeline runs,
//! so nothing is activated.
//!
//! cargo run --release -p atelier-host --example upload_speed -- models/classics6.onnx ...

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use atelier_edge::Size;
use atelier_edge::control::Controller;
use atelier_edge::control::controller::{ControllerOptions, Factory};
use atelier_edge::control::line::MAX_CHUNK;
use atelier_edge::control::serial::Connection;
use atelier_edge::control::store::{ModelStore, Slot};
use atelier_edge::engine::EngineOptions;
use atelier_edge::pipeline::{self, StopHandle};
use atelier_host::ctl::{self, DeployOptions, Target};
use serialport::{SerialPort, TTYPort};

fn main() -> anyhow::Result<()> {
    let models: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    let chunk = MAX_CHUNK * 3 / 4;
    for model in models {
        let state = tempfile::tempdir()?;
        let (remote, _link) = pipeline::link();
        let options = ControllerOptions {
            factory: Factory::File(model.clone()),
            engine: EngineOptions::default(),
            model_size: Size::new(320, 240),
            device_id: "bench".into(),
            checker: atelier_edge::control::checker::Checker::InProcess,
        };
        let controller = Arc::new(Controller::new(
            remote,
            options,
            Some(ModelStore::open(state.path())?),
            &Slot::Factory,
            vec![],
        ));
        let (mut mirror_end, host_end) = TTYPort::pair()?;
        let target = Target::Serial { port: PathBuf::from(host_end.name().unwrap()), baud: 115_200 };
        let stop = StopHandle::new();
        let serving = {
            let (controller, stop) = (controller.clone(), stop.clone());
            std::thread::spawn(move || {
                let _ = Connection::new(&controller).run(&mut mirror_end, &stop);
            })
        };
        let t0 = Instant::now();
        let options = DeployOptions {
            activate: false,
            retry_for: std::time::Duration::from_secs(5),
            chunk: None,
            progress: false,
        };
        let done = ctl::deploy(&target, &model, &options)?;
        let seconds = t0.elapsed().as_secs_f64();
        stop.stop();
        serving.join().unwrap();
        // Bytes on the wire: each CHUNK line (command, offset, CRC, base64, newline) and its reply.
        let size = done.bytes as usize;
        let (mut out, mut back) = (0usize, 0usize);
        for offset in (0..size).step_by(chunk) {
            let n = chunk.min(size - offset);
            out += format!("CHUNK {offset} 00000000 ").len() + n.div_ceil(3) * 4 + 1;
            back += format!("OK OFFSET {} OF {size}\r\n", offset + n).len();
        }
        // 8N1: ten bit times per byte; request and reply alternate, so their times add up.
        let uart = (out + back) as f64 * 10.0 / 115_200.0;
        println!(
            "{}: {} bytes, pty {:.2} s ({:.0} KiB/s, includes the check and test run), 115200 baud: {} bytes out + {} back = {:.0} s",
            model.display(),
            size,
            seconds,
            size as f64 / 1024.0 / seconds,
            out,
            back,
            uart
        );
    }
    Ok(())
}
