//! `atelier-mirror` settings: a TOML file (`--config`), overridden by command-line flags.
//!
//! Every field is optional in the file; unknown fields are rejected so a typo cannot silently
//! leave a shop mirror on a default.
//!
//! ```
//! use atelier_edge::config::MirrorConfig;
//! let config: MirrorConfig = toml::from_str(r#"
//!     input = "test-pattern:"
//!     output = "png:/tmp/frames"
//!     model_size = "320x240"
//!     threads = 2
//! "#).unwrap();
//! assert_eq!(config.threads, Some(2));
//! ```

use std::path::{Path, PathBuf};

use crate::engine::Precision;
use crate::frame::Size;
use crate::imageops::Fit;
use crate::person::{Background, Stylize};
use crate::presence::{AttendanceConfig, PirSpec, Schedule};
use crate::sink::SinkSpec;
use crate::sinks::present::Rotation;
use crate::source::SourceSpec;
use crate::style::StyleMix;

/// The settings file. Field names match the long command-line flags.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MirrorConfig {
    pub input: Option<SourceSpec>,
    /// One output or a list (`output = ["drm:", "mjpeg://127.0.0.1:8080"]`).
    pub output: Option<Outputs>,
    pub model: Option<PathBuf>,
    pub style: Option<String>,
    pub threads: Option<usize>,
    pub parallel_frames: Option<usize>,
    pub precision: Option<Precision>,
    pub frames: Option<u64>,
    pub fps: Option<f32>,
    pub capture_size: Option<Size>,
    pub capture_fps: Option<f32>,
    pub model_size: Option<Size>,
    pub output_size: Option<Size>,
    pub fit: Option<Fit>,
    pub rotate: Option<Rotation>,
    pub mirror: Option<bool>,
    pub show_fps: Option<bool>,
    pub show_style: Option<bool>,
    pub hold_frames: Option<u32>,
    pub report: Option<bool>,
    /// Serial control port, e.g. `/dev/ttyACM0`.
    pub serial: Option<PathBuf>,
    pub serial_baud: Option<u32>,
    /// Where uploads, deployed models and the chosen style are kept.
    pub state_dir: Option<PathBuf>,
    /// Bearer token the HTTP API and preview require; needed to listen beyond loopback.
    pub api_token: Option<String>,
    /// Host names the HTTP server answers to besides its addresses, `localhost` and the
    /// machine's own name (DNS names a browser would otherwise be refused on).
    pub allowed_hosts: Option<Vec<String>>,
    /// Web origins (`https://dashboard.example`) whose pages may call the API.
    pub allowed_origins: Option<Vec<String>>,
    /// The style on `all` of the picture, the `person` or the `background`.
    pub stylize: Option<Stylize>,
    /// Behind a stylized person: `original`, `dim`, `blur` or `style:NAME`.
    pub background: Option<Background>,
    /// A person segmentation ONNX file instead of the built-in one.
    pub segmenter: Option<PathBuf>,
    /// Who is there: from the `camera`, a `pir` sensor, `both`, or `off` (always active).
    pub presence: Option<PresenceFrom>,
    /// The PIR sensor's GPIO line, `CHIP:LINE[:active-low]` (e.g. `gpiochip0:17`).
    pub pir: Option<PirSpec>,
    /// Seconds with nobody before attract mode (0: never).
    pub attract_after: Option<f64>,
    /// Seconds with nobody before the screen sleeps (0: never).
    pub sleep_after: Option<f64>,
    /// Opening hours, e.g. `["mon-fri 09:00-19:00", "sat 10:00-16:00"]`; asleep outside them.
    pub hours: Option<Vec<String>>,
    /// While someone is there, the next style every this many seconds (0: never).
    pub rotate_styles: Option<f64>,
}

/// Where presence comes from.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum PresenceFrom {
    /// The person mask and motion in the camera picture.
    #[default]
    Camera,
    /// A PIR sensor on a GPIO line (`pir`) alone.
    Pir,
    /// The camera or the PIR sensor.
    Both,
    /// No presence detection: always active, the screen always on.
    Off,
}

/// The `output` key: one URI or a list of them.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(untagged)]
pub enum Outputs {
    One(SinkSpec),
    Many(Vec<SinkSpec>),
}

impl Outputs {
    pub fn into_vec(self) -> Vec<SinkSpec> {
        match self {
            Outputs::One(s) => vec![s],
            Outputs::Many(v) => v,
        }
    }
}

/// A settings file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config {path}: {message}")]
    Read { path: String, message: String },
    #[error("config {path}: {message}")]
    Parse { path: String, message: String },
    #[error("{field}: {message}")]
    Invalid { field: &'static str, message: String },
}

impl MirrorConfig {
    /// Reads a settings file; errors name the file, the field and the accepted values.
    pub fn load(path: &Path) -> Result<MirrorConfig, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::Read { path: path.display().to_string(), message: e.to_string() })?;
        MirrorConfig::parse(&text)
            .map_err(|message| ConfigError::Parse { path: path.display().to_string(), message })
    }

    /// Parses settings text; the error is one line naming the field.
    pub fn parse(text: &str) -> Result<MirrorConfig, String> {
        toml::from_str(text).map_err(|e: toml::de::Error| {
            // toml's message already names the field ("unknown field `x`, expected one of ...").
            let message = e.message().trim().replace('\n', " ");
            match e.span() {
                Some(span) => {
                    let line = text[..span.start].matches('\n').count() + 1;
                    format!("line {line}: {message}")
                }
                None => message,
            }
        })
    }

    /// Layers `over` (the command line) on top of `self` (the file).
    pub fn merged(self, over: MirrorConfig) -> MirrorConfig {
        MirrorConfig {
            input: over.input.or(self.input),
            output: over.output.or(self.output),
            model: over.model.or(self.model),
            style: over.style.or(self.style),
            threads: over.threads.or(self.threads),
            parallel_frames: over.parallel_frames.or(self.parallel_frames),
            precision: over.precision.or(self.precision),
            frames: over.frames.or(self.frames),
            fps: over.fps.or(self.fps),
            capture_size: over.capture_size.or(self.capture_size),
            capture_fps: over.capture_fps.or(self.capture_fps),
            model_size: over.model_size.or(self.model_size),
            output_size: over.output_size.or(self.output_size),
            fit: over.fit.or(self.fit),
            rotate: over.rotate.or(self.rotate),
            mirror: over.mirror.or(self.mirror),
            show_fps: over.show_fps.or(self.show_fps),
            show_style: over.show_style.or(self.show_style),
            hold_frames: over.hold_frames.or(self.hold_frames),
            report: over.report.or(self.report),
            serial: over.serial.or(self.serial),
            serial_baud: over.serial_baud.or(self.serial_baud),
            state_dir: over.state_dir.or(self.state_dir),
            api_token: over.api_token.or(self.api_token),
            allowed_hosts: over.allowed_hosts.or(self.allowed_hosts),
            allowed_origins: over.allowed_origins.or(self.allowed_origins),
            stylize: over.stylize.or(self.stylize),
            background: over.background.or(self.background),
            segmenter: over.segmenter.or(self.segmenter),
            presence: over.presence.or(self.presence),
            pir: over.pir.or(self.pir),
            attract_after: over.attract_after.or(self.attract_after),
            sleep_after: over.sleep_after.or(self.sleep_after),
            hours: over.hours.or(self.hours),
            rotate_styles: over.rotate_styles.or(self.rotate_styles),
        }
    }

    /// Settings from `file` under the command line's `flags`, keeping a copy of a file that
    /// worked at `keep`; when `file` cannot be used, the copy kept last time under the same flags,
    /// and why, in one line for the journal and the screen. A typo in a running mirror's config
    /// then costs its new settings, not its picture. Without a kept copy (a first start) the
    /// error is returned: the mirror stops with that one line rather than run on settings
    /// nobody chose (under systemd, the start limit then stops the retries).
    pub fn load_with_fallback(
        file: &Path,
        flags: MirrorConfig,
        keep: Option<&Path>,
    ) -> Result<(Settings, Option<String>), ConfigError> {
        let first_error = match MirrorConfig::load(file).and_then(|c| c.merged(flags.clone()).resolve()) {
            Ok(settings) => {
                if let Some(keep) = keep
                    && let Err(e) = keep_copy(file, keep)
                {
                    tracing::warn!("cannot keep a copy of {} as {}: {e}", file.display(), keep.display());
                }
                return Ok((settings, None));
            }
            Err(e) => e,
        };
        let problem = match &first_error {
            ConfigError::Read { .. } | ConfigError::Parse { .. } => first_error.to_string(),
            e => format!("config {}: {e}", file.display()),
        };
        let kept = keep.filter(|k| k.exists()).and_then(|k| {
            let mut settings = MirrorConfig::load(k).and_then(|c| c.merged(flags.clone()).resolve()).ok()?;
            let mut problem = format!("{problem}; using the last good config ({})", k.display());
            // The kept copy's token must not outlive the file that replaced it: an operator who
            // rotated a token (or removed it) and made a mistake elsewhere would otherwise leave
            // the old one working. Unless the new file names the same token, the API stays shut.
            let token_now = flags.api_token.clone().map(Some).or_else(|| file_token(file));
            if token_now.as_ref() != Some(&settings.api_token) {
                problem.push_str(
                    "; the HTTP API and preview stay closed until the file's api_token can be used",
                );
                settings.api_closed = Some(problem.clone());
            }
            Some((settings, problem))
        });
        match kept {
            Some((settings, problem)) => Ok((settings, Some(problem))),
            None => Err(first_error),
        }
    }

    /// Fills defaults and checks ranges.
    ///
    /// (Layered after `merged`: `api_closed` is only ever set by [`Self::load_with_fallback`].)
    pub fn resolve(self) -> Result<Settings, ConfigError> {
        let invalid = |field, message: String| ConfigError::Invalid { field, message };
        let model_size = self.model_size.unwrap_or(Settings::DEFAULT_MODEL_SIZE);
        crate::contract::check_size(model_size.width as usize, model_size.height as usize)
            .map_err(|m| invalid("model_size", m))?;
        let capture_size = self.capture_size.unwrap_or(Settings::DEFAULT_CAPTURE_SIZE);
        let threads = self.threads.unwrap_or(1);
        if !(1..=64).contains(&threads) {
            return Err(invalid("threads", format!("{threads} is out of range; accepted: 1..=64")));
        }
        let parallel_frames = self.parallel_frames.unwrap_or_else(Settings::default_parallel_frames);
        if !(1..=16).contains(&parallel_frames) {
            let why = format!("{parallel_frames} is out of range; accepted: 1..=16");
            return Err(invalid("parallel_frames", why));
        }
        let fps = self.fps.unwrap_or(30.0);
        if !(fps > 0.0 && fps <= 240.0) {
            return Err(invalid("fps", format!("{fps} is out of range; accepted: a number in (0, 240]")));
        }
        let style = self.style.map(|s| s.parse::<StyleMix>()).transpose().map_err(|m| invalid("style", m))?;
        let capture_fps = self.capture_fps.unwrap_or(30.0);
        if !(capture_fps > 0.0 && capture_fps <= 240.0) {
            return Err(invalid(
                "capture_fps",
                format!("{capture_fps} is out of range; accepted: a number in (0, 240]"),
            ));
        }
        let output = self.output.map(Outputs::into_vec).unwrap_or_default();
        for (i, a) in output.iter().enumerate() {
            if output[..i].contains(a) {
                return Err(invalid("output", format!("`{a}` is listed twice")));
            }
        }
        let serial_baud = self.serial_baud.unwrap_or(crate::control::serial::DEFAULT_BAUD);
        if !(300..=4_000_000).contains(&serial_baud) {
            return Err(invalid(
                "serial_baud",
                format!("{serial_baud} is out of range; accepted: 300..=4000000"),
            ));
        }
        if let Some(token) = &self.api_token {
            check_token(token).map_err(|m| invalid("api_token", m))?;
        }
        let allowed_hosts = self.allowed_hosts.unwrap_or_default();
        for host in &allowed_hosts {
            let bad = host.is_empty()
                || host.contains(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '.'));
            if bad {
                return Err(invalid(
                    "allowed_hosts",
                    format!("`{host}` is not a host name (letters, digits, `-` and `.`; no port or scheme)"),
                ));
            }
        }
        let allowed_origins = self.allowed_origins.unwrap_or_default();
        for origin in &allowed_origins {
            let rest = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://"));
            if rest.is_none_or(|r| r.is_empty() || r.contains(['/', ' ', '?', '#'])) {
                return Err(invalid(
                    "allowed_origins",
                    format!(
                        "`{origin}` is not an origin such as `https://dashboard.example` or `http://10.0.0.5:3000`"
                    ),
                ));
            }
        }
        if self.frames == Some(0) {
            return Err(invalid("frames", "0 frames would do nothing; omit it to run until stopped".into()));
        }
        let seconds = |field: &'static str, value: Option<f64>, default: Option<f64>| match value.or(default)
        {
            Some(s) if !(s.is_finite() && (0.0..=31_536_000.0).contains(&s)) => Err(invalid(
                field,
                format!("{s} is out of range; accepted: seconds from 0 (never) to 31536000"),
            )),
            Some(s) if s > 0.0 => Ok(Some(std::time::Duration::from_secs_f64(s))),
            _ => Ok(None),
        };
        let presence = self.presence.unwrap_or_default();
        if matches!(presence, PresenceFrom::Pir | PresenceFrom::Both) && self.pir.is_none() {
            return Err(invalid(
                "presence",
                "`pir` and `both` need the sensor's line: pir = \"gpiochip0:17\"".into(),
            ));
        }
        let attendance = AttendanceConfig {
            attract_after: seconds("attract_after", self.attract_after, Some(30.0))?,
            sleep_after: seconds("sleep_after", self.sleep_after, Some(600.0))?,
            hours: self.hours.map(|h| Schedule::parse(&h)).transpose().map_err(|m| invalid("hours", m))?,
            rotate_styles: seconds("rotate_styles", self.rotate_styles, None)?,
        };
        Ok(Settings {
            input: self.input,
            output,
            model: self.model,
            style,
            threads,
            parallel_frames,
            precision: self.precision.unwrap_or_default(),
            frames: self.frames,
            fps,
            capture_size,
            capture_fps,
            model_size,
            output_size: self.output_size,
            fit: self.fit.unwrap_or(Fit::Cover),
            rotate: self.rotate.unwrap_or_default(),
            mirror: self.mirror.unwrap_or(true),
            show_fps: self.show_fps.unwrap_or(false),
            show_style: self.show_style.unwrap_or(true),
            hold_frames: self.hold_frames.unwrap_or(fps.round() as u32 * 5).max(1),
            report: self.report.unwrap_or(false),
            serial: self.serial,
            serial_baud,
            state_dir: self.state_dir,
            api_token: self.api_token,
            allowed_hosts,
            allowed_origins,
            stylize: self.stylize.unwrap_or_default(),
            background: self.background.unwrap_or_default(),
            segmenter: self.segmenter,
            presence,
            pir: self.pir,
            attendance,
            api_closed: None,
        })
    }
}

/// Complete settings, defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// `None`: the camera if there is one, else the demo (see `atelier-mirror`'s `defaults`).
    pub input: Option<SourceSpec>,
    /// Empty: the screen if there is one, else the MJPEG preview.
    pub output: Vec<SinkSpec>,
    /// `None`: the model compiled into the binary.
    pub model: Option<PathBuf>,
    /// `None`: the model's first style.
    pub style: Option<StyleMix>,
    /// tract threads per frame.
    pub threads: usize,
    /// Frames stylized at once, each on its own thread and copy of the engine.
    pub parallel_frames: usize,
    /// f16 only pays on CPUs with native half precision (Pi 5, Jetson Orin).
    pub precision: Precision,
    pub frames: Option<u64>,
    pub fps: f32,
    pub capture_size: Size,
    pub capture_fps: f32,
    pub model_size: Size,
    /// `None`: the screen's size, or the capture size when no output is a screen.
    pub output_size: Option<Size>,
    pub fit: Fit,
    pub rotate: Rotation,
    pub mirror: bool,
    pub show_fps: bool,
    pub show_style: bool,
    pub hold_frames: u32,
    pub report: bool,
    pub serial: Option<PathBuf>,
    pub serial_baud: u32,
    /// `None`: [`Settings::DEFAULT_STATE_DIR`] when writable, else the user's state directory.
    pub state_dir: Option<PathBuf>,
    pub api_token: Option<String>,
    pub allowed_hosts: Vec<String>,
    pub allowed_origins: Vec<String>,
    pub stylize: Stylize,
    pub background: Background,
    /// `None`: the built-in segmenter.
    pub segmenter: Option<PathBuf>,
    pub presence: PresenceFrom,
    pub pir: Option<PirSpec>,
    pub attendance: AttendanceConfig,
    /// Why the HTTP API and preview answer 503 to everything: the config in force is a kept copy
    /// whose token the operator may have meant to replace.
    pub api_closed: Option<String>,
}

impl Settings {
    pub const DEFAULT_CAPTURE_SIZE: Size = Size::new(640, 480);
    pub const DEFAULT_MODEL_SIZE: Size = Size::new(320, 240);
    pub const DEFAULT_PREVIEW: &'static str = "127.0.0.1:8080";
    pub const DEFAULT_STATE_DIR: &'static str = "/var/lib/atelier";

    /// Half the cores, at most two frames at once: whole frames side by side scale better than
    /// tract's threads within one (docs/benchmarks.md), but capture, the person mask and the
    /// screen need a core too. On two cores, painters on both left the "camera disconnected"
    /// notice waiting over a second in the device lab; more than two would mostly add latency.
    pub fn default_parallel_frames() -> usize {
        std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).clamp(1, 2))
    }
}

/// The `api_token` a settings file names: `Some(None)` when it names none, `None` when the file
/// cannot be read as TOML at all (so nobody can tell).
fn file_token(file: &Path) -> Option<Option<String>> {
    let table: toml::Table = std::fs::read_to_string(file).ok()?.parse().ok()?;
    match table.get("api_token") {
        None => Some(None),
        Some(toml::Value::String(token)) => Some(Some(token.clone())),
        Some(_) => None,
    }
}

/// Token length bounds, in characters.
pub const TOKEN_CHARS: std::ops::RangeInclusive<usize> = 16..=256;

/// An API token is 16 to 256 visible ASCII characters: what an `Authorization` header and a
/// cookie carry unchanged (a token of accented letters cannot be sent in either).
pub fn check_token(token: &str) -> Result<(), String> {
    let visible = token.bytes().all(|b| b.is_ascii_graphic());
    if !visible || !TOKEN_CHARS.contains(&token.chars().count()) {
        return Err(format!(
            "must be {} to {} visible ASCII characters, no spaces (e.g. `openssl rand -hex 16`)",
            TOKEN_CHARS.start(),
            TOKEN_CHARS.end()
        ));
    }
    Ok(())
}

/// Copies `file` to `keep` (atomically, so a full disk or a power cut never leaves half a copy),
/// unless `keep` already holds the same text.
fn keep_copy(file: &Path, keep: &Path) -> std::io::Result<()> {
    let text = std::fs::read(file)?;
    if std::fs::read(keep).is_ok_and(|old| old == text) {
        return Ok(());
    }
    crate::control::store::write_atomic(keep, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The file the .deb installs as /etc/atelier/mirror.toml: valid as shipped (every key
    /// commented out) and with every example uncommented, so its examples stay true.
    #[test]
    fn the_packaged_config_and_its_examples_are_valid() {
        let template = include_str!("../debian/mirror.toml");
        assert_eq!(MirrorConfig::parse(template).unwrap(), MirrorConfig::default());
        let examples: String = template
            .lines()
            .filter_map(|l| l.strip_prefix("# "))
            .filter(|l| l.contains(" = "))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(examples.lines().count() >= 25, "{examples}");
        let config = MirrorConfig::parse(&examples).unwrap_or_else(|e| panic!("{e}\n{examples}"));
        config.resolve().unwrap();
    }

    #[test]
    fn errors_name_the_field_and_accepted_values() {
        let err = MirrorConfig::parse("input = \"camera:x\"").unwrap_err();
        assert!(err.contains("accepted: camera:"), "{err}");
        let err = MirrorConfig::parse("treads = 2").unwrap_err();
        assert!(err.contains("unknown field `treads`") && err.contains("threads"), "{err}");
        let err = MirrorConfig::parse("\nmodel_size = \"big\"").unwrap_err();
        assert!(err.starts_with("line 2") && err.contains("WIDTHxHEIGHT"), "{err}");
        let err = MirrorConfig { model_size: Some(Size::new(321, 240)), ..Default::default() }
            .resolve()
            .unwrap_err();
        assert!(
            err.to_string().starts_with("model_size:") && err.to_string().contains("multiples of 8"),
            "{err}"
        );
        let err = MirrorConfig { threads: Some(0), ..Default::default() }.resolve().unwrap_err();
        assert!(err.to_string().contains("1..=64"), "{err}");
        let err = MirrorConfig::parse("precision = \"f64\"").unwrap_err();
        assert!(err.contains("`f32`") && err.contains("`f16`"), "{err}");
    }

    #[test]
    fn precision_defaults_to_f32() {
        assert_eq!(MirrorConfig::default().resolve().unwrap().precision, Precision::F32);
        let file = MirrorConfig::parse("precision = \"f16\"").unwrap();
        assert_eq!(file.resolve().unwrap().precision, Precision::F16);
    }

    #[test]
    fn command_line_overrides_file() {
        let file = MirrorConfig::parse("threads = 2\nfps = 10\ninput = \"test-pattern:\"").unwrap();
        let cli = MirrorConfig { threads: Some(4), ..Default::default() };
        let s = file.merged(cli).resolve().unwrap();
        assert_eq!((s.threads, s.fps, s.input), (4, 10.0, Some(SourceSpec::TestPattern)));
        assert!(s.output.is_empty(), "no output named: chosen at start from the devices");
        assert_eq!((s.output_size, s.fit, s.rotate), (None, Fit::Cover, Rotation::R0));
    }

    #[test]
    fn presence_settings() {
        let s = MirrorConfig::default().resolve().unwrap();
        assert_eq!(
            (s.stylize, &s.background, s.presence),
            (Stylize::Person, &Background::Dim, PresenceFrom::Camera)
        );
        assert_eq!(s.attendance.attract_after, Some(std::time::Duration::from_secs(30)));
        let s = MirrorConfig::parse(
            "stylize = \"background\"\nbackground = \"style:udnie\"\npresence = \"off\"\nattract_after = 0\n\
             sleep_after = 90\nhours = [\"mon-fri 09:00-19:00\"]\nrotate_styles = 20",
        )
        .unwrap()
        .resolve()
        .unwrap();
        assert_eq!(s.background, Background::Style("udnie".into()));
        assert_eq!((s.stylize, s.presence), (Stylize::Background, PresenceFrom::Off));
        assert_eq!(s.attendance.attract_after, None);
        assert_eq!(s.attendance.sleep_after, Some(std::time::Duration::from_secs(90)));
        assert!(s.attendance.hours.is_some() && s.attendance.rotate_styles.is_some());
        let err = MirrorConfig::parse("hours = [\"someday 9-5\"]").unwrap().resolve().unwrap_err();
        assert!(err.to_string().starts_with("hours:"), "{err}");
        let err = MirrorConfig::parse("sleep_after = -1").unwrap().resolve().unwrap_err();
        assert!(err.to_string().contains("0 (never)"), "{err}");
        assert!(MirrorConfig::parse("background = \"sepia\"").unwrap_err().contains("style:NAME"));
        let err = MirrorConfig::parse("presence = \"pir\"").unwrap().resolve().unwrap_err();
        assert!(err.to_string().contains("gpiochip0:17"), "{err}");
        let s = MirrorConfig::parse("presence = \"both\"\npir = \"gpiochip2:5:active-low\"")
            .unwrap()
            .resolve()
            .unwrap();
        assert_eq!(s.pir.unwrap().to_string(), "/dev/gpiochip2:5:active-low");
    }

    #[test]
    fn one_or_several_outputs() {
        let s = MirrorConfig::parse("output = \"drm:\"").unwrap().resolve().unwrap();
        assert_eq!(s.output.len(), 1);
        let s = MirrorConfig::parse(
            "output = [\"fb:/dev/fb0\", \"mjpeg://127.0.0.1:8080\"]\nrotate = 90\nfit = \"fit\"",
        )
        .unwrap()
        .resolve()
        .unwrap();
        assert_eq!(s.output.len(), 2);
        assert_eq!((s.rotate, s.fit), (Rotation::R90, Fit::Contain));
        let twice = MirrorConfig::parse("output = [\"null:\", \"null:\"]").unwrap().resolve().unwrap_err();
        assert!(twice.to_string().contains("listed twice"), "{twice}");
        assert!(MirrorConfig::parse("rotate = 45").unwrap_err().contains("0, 90, 180, 270"));
    }

    #[test]
    fn a_broken_file_falls_back_to_the_last_good_copy_if_there_is_one() {
        let dir = tempfile::tempdir().unwrap();
        let (file, keep) = (dir.path().join("mirror.toml"), dir.path().join("last-good.toml"));
        let flags = MirrorConfig { frames: Some(3), ..Default::default() };
        // No copy yet and a broken file: the error, naming the file and the line.
        std::fs::write(&file, "fps = 10\nthreads = \"two\"\n").unwrap();
        let err =
            MirrorConfig::load_with_fallback(&file, flags.clone(), Some(&keep)).unwrap_err().to_string();
        assert!(err.contains("mirror.toml") && err.contains("line 2"), "{err}");
        assert!(!keep.exists());
        // A good file is used and kept.
        std::fs::write(&file, "fps = 10\n").unwrap();
        let (s, problem) = MirrorConfig::load_with_fallback(&file, flags.clone(), Some(&keep)).unwrap();
        assert_eq!((s.fps, s.frames, problem), (10.0, Some(3), None));
        assert_eq!(std::fs::read_to_string(&keep).unwrap(), "fps = 10\n");
        // Broken again (a value out of range): the kept copy, under the same flags.
        std::fs::write(&file, "fps = 10000\n").unwrap();
        let (s, problem) = MirrorConfig::load_with_fallback(&file, flags, Some(&keep)).unwrap();
        let problem = problem.unwrap();
        assert!(problem.starts_with(&format!("config {}: fps", file.display())), "{problem}");
        assert!(problem.contains("using the last good config"), "{problem}");
        assert_eq!((s.fps, s.frames), (10.0, Some(3)));
        assert_eq!(s.api_closed, None, "same token (none) in both: the API stays open");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&keep).unwrap().permissions().mode() & 0o777, 0o600);
    }

    /// A rotated token with a mistake beside it must not leave the old token working.
    #[test]
    fn a_fallback_never_keeps_a_token_the_new_file_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let (file, keep) = (dir.path().join("mirror.toml"), dir.path().join("last-good.toml"));
        let old = "api_token = \"0123456789abcdef-old\"\n";
        std::fs::write(&file, old).unwrap();
        let (s, _) = MirrorConfig::load_with_fallback(&file, MirrorConfig::default(), Some(&keep)).unwrap();
        assert_eq!(s.api_token.as_deref(), Some("0123456789abcdef-old"));
        // The adversarial test's case: the new token is invalid (9 two-byte characters).
        std::fs::write(&file, format!("api_token = \"{}\"\n", "é".repeat(9))).unwrap();
        let (s, problem) =
            MirrorConfig::load_with_fallback(&file, MirrorConfig::default(), Some(&keep)).unwrap();
        let problem = problem.unwrap();
        assert!(problem.contains("api_token") && problem.contains("stay closed"), "{problem}");
        assert_eq!(s.api_closed.as_deref(), Some(problem.as_str()));
        // A new valid token with a mistake elsewhere: closed too.
        std::fs::write(&file, "api_token = \"0123456789abcdef-new\"\nfps = -1\n").unwrap();
        let (s, _) = MirrorConfig::load_with_fallback(&file, MirrorConfig::default(), Some(&keep)).unwrap();
        assert!(s.api_closed.is_some());
        // A file that does not parse says nothing about its token: closed.
        std::fs::write(&file, "api_token = ").unwrap();
        let (s, _) = MirrorConfig::load_with_fallback(&file, MirrorConfig::default(), Some(&keep)).unwrap();
        assert!(s.api_closed.is_some());
        // The same token with a mistake elsewhere: the picture falls back, the API stays open.
        std::fs::write(&file, format!("{old}fps = -1\n")).unwrap();
        let (s, _) = MirrorConfig::load_with_fallback(&file, MirrorConfig::default(), Some(&keep)).unwrap();
        assert_eq!((s.api_closed, s.api_token.as_deref()), (None, Some("0123456789abcdef-old")));
        // A token given on the command line (or ATELIER_API_TOKEN) is the same for both files.
        std::fs::write(&file, "api_token = 5\n").unwrap();
        let flags = MirrorConfig { api_token: Some("0123456789abcdef-flag".into()), ..Default::default() };
        let (s, _) = MirrorConfig::load_with_fallback(&file, flags, Some(&keep)).unwrap();
        assert_eq!(s.api_closed, None);
    }

    #[test]
    fn tokens_are_measured_in_characters_of_visible_ascii() {
        assert!(check_token(&"é".repeat(9)).is_err(), "18 bytes but 9 characters");
        assert!(check_token(&"é".repeat(16)).is_err(), "not sendable in a header");
        assert!(check_token("0123456789abcdef").is_ok());
        assert!(check_token("0123456789abcde").is_err());
        assert!(check_token("0123456789 abcdef").is_err());
        assert!(check_token(&"a".repeat(257)).is_err());
        let err =
            MirrorConfig { api_token: Some("short".into()), ..Default::default() }.resolve().unwrap_err();
        assert!(err.to_string().starts_with("api_token:"), "{err}");
    }
}
