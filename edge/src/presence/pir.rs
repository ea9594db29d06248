//! A PIR motion sensor on a GPIO line, read through the kernel's GPIO character device
//! (`gpiocdev`, uAPI v2; no sysfs, no libgpiod). A PIR's output goes high on motion and drops
//! after its own hold time; short pulses are caught as edge events, so a sensor with a short
//! hold (or a button) still counts, and each motion keeps the mirror's evidence for `hold`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, Instant};

use gpiocdev::line::{EdgeDetection, EdgeKind, Value};

use super::PresenceSensor;

/// `--pir CHIP:LINE[:active-low]`, e.g. `gpiochip0:17` or `/dev/gpiochip4:23:active-low`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PirSpec {
    pub chip: PathBuf,
    pub line: u32,
    pub active_low: bool,
}

impl FromStr for PirSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<PirSpec, String> {
        let bad = || format!("`{s}` is not CHIP:LINE[:active-low] (e.g. gpiochip0:17)");
        let mut parts = s.split(':');
        let chip = parts.next().filter(|c| !c.is_empty()).ok_or_else(bad)?;
        let line = parts.next().and_then(|l| l.parse().ok()).ok_or_else(bad)?;
        let active_low = match parts.next() {
            None => false,
            Some("active-low") => true,
            Some(_) => return Err(bad()),
        };
        if parts.next().is_some() {
            return Err(bad());
        }
        let chip = if chip.starts_with('/') { PathBuf::from(chip) } else { PathBuf::from("/dev").join(chip) };
        Ok(PirSpec { chip, line, active_low })
    }
}

impl TryFrom<String> for PirSpec {
    type Error = String;
    fn try_from(s: String) -> Result<PirSpec, String> {
        s.parse()
    }
}

impl From<PirSpec> for String {
    fn from(p: PirSpec) -> String {
        p.to_string()
    }
}

impl fmt::Display for PirSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}{}", self.chip.display(), self.line, if self.active_low { ":active-low" } else { "" })
    }
}

/// A sensor line that could not be requested.
#[derive(Debug, thiserror::Error)]
#[error("PIR {spec}: {message}")]
pub struct PirError {
    pub spec: String,
    pub message: String,
}

pub struct Pir {
    request: gpiocdev::Request,
    spec: PirSpec,
    hold: Duration,
    last_motion: Option<Instant>,
    failing: bool,
}

impl Pir {
    /// How long one motion counts as someone there, beyond the sensor's own output.
    pub const DEFAULT_HOLD: Duration = Duration::from_secs(5);

    pub fn open(spec: &PirSpec, hold: Duration) -> Result<Pir, PirError> {
        let mut builder = gpiocdev::Request::builder();
        builder
            .on_chip(&spec.chip)
            .with_consumer("atelier-mirror pir")
            .with_line(spec.line)
            .as_input()
            .with_edge_detection(EdgeDetection::BothEdges);
        if spec.active_low {
            builder.as_active_low();
        }
        let request = builder.request().map_err(|e| PirError {
            spec: spec.to_string(),
            message: format!(
                "{e} (is the chip there, the line free and the mirror in the `gpio` group? `gpioinfo` lists lines)"
            ),
        })?;
        Ok(Pir { request, spec: spec.clone(), hold, last_motion: None, failing: false })
    }
}

impl PresenceSensor for Pir {
    fn read(&mut self) -> Option<bool> {
        let now = Instant::now();
        let read = (|| -> Result<bool, gpiocdev::Error> {
            while self.request.has_edge_event()? {
                if self.request.read_edge_event()?.kind == EdgeKind::Rising {
                    self.last_motion = Some(now);
                }
            }
            Ok(self.request.value(self.spec.line)? == Value::Active)
        })();
        match read {
            Ok(level) => {
                if std::mem::take(&mut self.failing) {
                    tracing::info!("PIR {} reads again", self.spec);
                }
                if level {
                    self.last_motion = Some(now);
                }
                Some(level || self.last_motion.is_some_and(|t| now.duration_since(t) < self.hold))
            }
            Err(e) => {
                if !std::mem::replace(&mut self.failing, true) {
                    tracing::warn!("PIR {}: {e}; going by the camera alone until it reads again", self.spec);
                }
                None
            }
        }
    }

    fn describe(&self) -> String {
        format!("PIR on {}", self.spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_print() {
        let p: PirSpec = "gpiochip0:17".parse().unwrap();
        assert_eq!((p.chip.to_str().unwrap(), p.line, p.active_low), ("/dev/gpiochip0", 17, false));
        let p: PirSpec = "/dev/gpiochip4:23:active-low".parse().unwrap();
        assert_eq!(p.to_string(), "/dev/gpiochip4:23:active-low");
        for bad in ["gpiochip0", "gpiochip0:x", ":3", "gpiochip0:3:high", "a:1:active-low:x"] {
            let err = bad.parse::<PirSpec>().unwrap_err();
            assert!(err.contains("CHIP:LINE"), "{err}");
        }
    }

    #[test]
    fn a_missing_chip_is_named() {
        let spec: PirSpec = "/dev/no-such-gpiochip:3".parse().unwrap();
        let err = Pir::open(&spec, Pir::DEFAULT_HOLD).err().unwrap().to_string();
        assert!(err.contains("no-such-gpiochip") && err.contains("gpioinfo"), "{err}");
    }
}
