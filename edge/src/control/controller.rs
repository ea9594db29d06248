//! Answers [`Request`]s: reads the pipeline's status, sends it [`Command`]s, and keeps models and
//! the chosen style in the [`ModelStore`]. Shared by every control channel (`Arc<Controller>`).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use super::checker::Checker;
use super::error::ControlError;
use super::request::{Identity, ModelSummary, Models, Request, Response, UploadState};
use super::store::{Begun, ModelStore, Progress, Slot, sha256_hex};
use crate::engine::{Engine, EngineOptions};
use crate::frame::Size;
use crate::pipeline::{Command, Remote, Status};
use crate::style::StyleMix;

/// The model the mirror was started with: the one compiled in, or `--model FILE`.
#[derive(Debug, Clone)]
pub enum Factory {
    Builtin { bytes: &'static [u8], name: String },
    File(PathBuf),
}

impl Factory {
    /// Loads it; the factory model was checked at start, so this fails only if its file changed.
    pub fn load(&self, options: EngineOptions) -> Result<Engine, ControlError> {
        match self {
            Factory::Builtin { bytes, name } => Engine::from_bytes(bytes, name, options),
            Factory::File(path) => Engine::load(path, options),
        }
        .map_err(|e| ControlError::invalid_model(e.to_string()))
    }

    fn sha256(&self) -> String {
        match self {
            Factory::Builtin { bytes, .. } => sha256_hex(bytes),
            Factory::File(path) => std::fs::read(path).map(|b| sha256_hex(&b)).unwrap_or_default(),
        }
    }
}

/// How the controller was set up.
#[derive(Debug, Clone)]
pub struct ControllerOptions {
    pub factory: Factory,
    /// Options for models loaded over control, as for the factory model.
    pub engine: EngineOptions,
    /// The pipeline's model size: uploads are prepared and test-run at it before activation.
    pub model_size: Size,
    pub device_id: String,
    /// Where uploads are test-run: a process of their own in the mirror.
    pub checker: Checker,
}

/// The command set's one implementation.
pub struct Controller {
    remote: Remote,
    options: ControllerOptions,
    store: Option<Mutex<ModelStore>>,
    /// Held through every change of the running model (upload completion, activation, rollback),
    /// so the pipeline and `state.json` change together, one change at a time.
    changes: Mutex<()>,
    /// The active model's summary and the previous one's (for `MODEL?` without re-reading files).
    active: Mutex<(ModelSummary, Option<ModelSummary>)>,
    /// The latest verified upload, already prepared, so activation is a swap.
    staged: Mutex<Option<(String, Engine)>>,
    factory_sha: String,
    /// A second copy of the active model for style thumbnails, with the pictures made so far.
    thumbs: Mutex<Thumbnails>,
}

#[derive(Default)]
struct Thumbnails {
    sha256: String,
    engine: Option<Engine>,
    jpegs: std::collections::HashMap<String, Vec<u8>>,
}

/// Size of the style thumbnails on the control page.
const THUMBNAIL: Size = Size::new(96, 72);

impl Controller {
    /// `active` is the slot the pipeline was started with and `styles` its model's styles.
    pub fn new(
        remote: Remote,
        options: ControllerOptions,
        store: Option<ModelStore>,
        active: &Slot,
        styles: Vec<String>,
    ) -> Controller {
        let factory_sha = options.factory.sha256();
        let mut controller = Controller {
            remote,
            store: store.map(Mutex::new),
            changes: Mutex::new(()),
            active: Mutex::new((placeholder(), None)),
            staged: Mutex::new(None),
            factory_sha,
            thumbs: Mutex::new(Thumbnails::default()),
            options,
        };
        let current = controller.summary(active, styles);
        let previous = controller
            .store()
            .ok()
            .and_then(|s| s.state().previous.clone())
            .and_then(|slot| controller.describe(&slot).ok());
        controller.active = Mutex::new((current, previous));
        controller.recover();
        controller
    }

    /// Uploads found complete at start but never checked (the mirror stopped during the check)
    /// are checked now: kept as the verified upload, or thrown away.
    fn recover(&self) {
        let parts = match self.store() {
            Ok(mut store) => store.take_recovered(),
            Err(_) => return,
        };
        for part in parts {
            let sha256 = part.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
            match self.complete(&part, &sha256) {
                Ok(_) => {
                    tracing::info!("upload {sha256}, complete when the mirror stopped, checked and kept")
                }
                Err(e) => tracing::warn!("upload {sha256}, complete when the mirror stopped, refused: {e}"),
            }
        }
    }

    /// Answers one request.
    pub fn execute(&self, request: Request) -> Result<Response, ControlError> {
        match request {
            Request::Identify => Ok(Response::Identity(self.identity())),
            Request::Help => Ok(Response::Help(super::line::HELP.to_vec())),
            Request::Status => Ok(Response::Status(Box::new(self.running()?))),
            Request::Styles => Ok(Response::Styles(self.running()?.styles)),
            Request::Style => {
                let s = self.running()?;
                Ok(Response::Style { style: s.style_spec, label: s.style })
            }
            Request::SetStyle(mix) => self.set_style(mix),
            Request::StepStyle(step) => {
                let s = self.running()?;
                // A blend steps to the first style.
                let at = match s.styles.iter().position(|x| *x == s.style_spec) {
                    Some(i) => (i as i32 + step).rem_euclid(s.styles.len() as i32) as usize,
                    None => 0,
                };
                self.set_style(StyleMix::single(&s.styles[at]))
            }
            Request::Strength => Ok(Response::Strength { strength: self.running()?.strength }),
            Request::SetStrength(strength) => {
                let strength = super::request::check_strength(strength)?;
                self.remote.send(Command::SetStrength(strength))?;
                Ok(Response::Strength { strength })
            }
            Request::Mirror => Ok(Response::Mirror { mirror: self.running()?.mirror }),
            Request::SetMirror(on) => {
                self.remote.send(Command::SetMirror(on))?;
                Ok(Response::Mirror { mirror: on })
            }
            Request::Display => Ok(Response::Display { display_on: self.running()?.display_on }),
            Request::SetDisplay(on) => {
                self.remote.send(Command::SetDisplay(on))?;
                Ok(Response::Display { display_on: on })
            }
            Request::Model => Ok(Response::Model(self.models())),
            Request::Upload { size, sha256 } => self.upload(size, &sha256),
            Request::Chunk { offset, crc32, data } => self.chunk(offset, crc32, &data),
            Request::Activate(sha) => self.activate(sha),
            Request::Rollback => self.rollback(),
            Request::Events(on) => Ok(Response::Events { events: on }),
        }
    }

    /// The pipeline's status (`running` is false once it has stopped).
    pub fn status(&self) -> Status {
        self.remote.status()
    }

    pub fn identity(&self) -> Identity {
        Identity {
            maker: "Atelier",
            product: "atelier-mirror",
            device_id: self.options.device_id.clone(),
            version: env!("CARGO_PKG_VERSION"),
            protocol: super::PROTOCOL_VERSION,
        }
    }

    /// A small JPEG of a bundled demo portrait in one of the active model's styles, for the
    /// control page's style buttons. Made with a separate engine, never from camera frames.
    pub fn thumbnail(&self, style: &str) -> Result<Vec<u8>, ControlError> {
        let active = lock(&self.active).0.clone();
        if !active.styles.iter().any(|s| s == style) {
            return Err(ControlError::not_found(format!("no style `{style}` in the active model")));
        }
        let mut thumbs = lock(&self.thumbs);
        if thumbs.sha256 != active.sha256 {
            *thumbs = Thumbnails { sha256: active.sha256.clone(), ..Thumbnails::default() };
        }
        if let Some(jpeg) = thumbs.jpegs.get(style) {
            return Ok(jpeg.clone());
        }
        if thumbs.engine.is_none() {
            let slot = match active.origin {
                "deployed" => Slot::Deployed(active.sha256.clone()),
                _ => Slot::Factory,
            };
            let options = EngineOptions { threads: 1, ..self.options.engine };
            let engine = match slot {
                Slot::Factory => self.options.factory.load(options)?,
                Slot::Deployed(sha) => Engine::load(&self.store()?.model_path(&sha), options)
                    .map_err(|e| ControlError::internal(e.to_string()))?,
            };
            thumbs.engine = Some(engine);
        }
        let engine = thumbs.engine.as_mut().expect("loaded above");
        let internal = |e: crate::engine::EngineError| ControlError::internal(e.to_string());
        engine.set_style(style).map_err(internal)?;
        let picture = crate::sources::demo::sample(THUMBNAIL);
        let out = engine.stylize(&picture).map_err(internal)?;
        let jpeg = super::http::encode_jpeg(&out).map_err(ControlError::internal)?;
        thumbs.jpegs.insert(style.to_string(), jpeg.clone());
        Ok(jpeg)
    }

    fn running(&self) -> Result<Status, ControlError> {
        let status = self.remote.status();
        if !status.running {
            return Err(ControlError::unavailable("the mirror pipeline is not running"));
        }
        Ok(status)
    }

    fn set_style(&self, mix: StyleMix) -> Result<Response, ControlError> {
        let styles = lock(&self.active).0.styles.clone();
        mix.weights(&styles).map_err(ControlError::not_found)?;
        self.remote.send(Command::SetStyle(mix.clone()))?;
        if let Ok(mut store) = self.store() {
            // The picture changed; failing to remember it for the next start is worth a warning,
            // not an error.
            if let Err(e) = store.set_style(&mix.to_string()) {
                tracing::warn!("{e}");
            }
        }
        Ok(Response::Style { style: mix.to_string(), label: mix.label() })
    }

    fn store(&self) -> Result<MutexGuard<'_, ModelStore>, ControlError> {
        self.store.as_ref().map(lock).ok_or_else(|| {
            ControlError::unavailable(
                "this mirror has no usable state directory, so it cannot take uploads; start it \
                 with --state-dir DIR",
            )
        })
    }

    fn models(&self) -> Models {
        let (active, previous) = lock(&self.active).clone();
        Models { active, previous }
    }

    fn upload(&self, size: u64, sha256: &str) -> Result<Response, ControlError> {
        let _changes = lock(&self.changes);
        let begun = self.store()?.begin(size, sha256)?;
        let sha256 = sha256.to_ascii_lowercase();
        let verified = match begun {
            Begun::At(offset) => {
                return Ok(Response::Upload(UploadState { sha256, size, offset, verified: None }));
            }
            Begun::Complete(part) => self.complete(&part, &sha256)?,
            Begun::Have => {
                let mut store = self.store()?;
                // (Not `describe`: it locks the store, which this guard holds.)
                let path = store.model_path(&sha256);
                let summary = self.summary(&Slot::Deployed(sha256.clone()), styles_of(&path)?);
                if store.state().verified.as_deref() != Some(&sha256) {
                    // Uploaded before and kept: make it the one `ACTIVATE` means.
                    store.accept(&path, &sha256)?;
                }
                summary
            }
        };
        Ok(Response::Upload(UploadState { sha256, size, offset: size, verified: Some(verified) }))
    }

    fn chunk(&self, offset: u64, crc32: u32, data: &[u8]) -> Result<Response, ControlError> {
        let _changes = lock(&self.changes);
        let end = offset + data.len() as u64;
        let progress = self.store()?.chunk(offset, crc32, data)?;
        let part = match progress {
            Progress::Partial(next) => {
                let (sha256, size) = self.store()?.pending().unwrap_or_default();
                return Ok(Response::Upload(UploadState { sha256, size, offset: next, verified: None }));
            }
            Progress::Complete(part) => part,
        };
        let sha256 = part.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        let summary = self.complete(&part, &sha256)?;
        Ok(Response::Upload(UploadState { sha256, size: end, offset: end, verified: Some(summary) }))
    }

    /// A whole upload, hash verified: test-run it (in a process of its own), then keep it as the
    /// verified upload and stage its engine, or throw it away. Called with `changes` held.
    fn complete(&self, part: &Path, sha256: &str) -> Result<ModelSummary, ControlError> {
        match self.check(part, sha256) {
            Ok(engine) => {
                let path = self.store()?.accept(part, sha256)?;
                tracing::info!("upload {} verified and test-run; ready to activate", path.display());
                let summary = ModelSummary {
                    origin: "deployed",
                    name: short(sha256),
                    sha256: sha256.to_string(),
                    styles: engine.styles().to_vec(),
                };
                *lock(&self.staged) = Some((sha256.to_string(), engine));
                Ok(summary)
            }
            Err(e) => {
                self.store()?.reject(part);
                Err(e)
            }
        }
    }

    /// Loads a model file, checks the contract, prepares it at the pipeline's size and runs it
    /// once on a test picture: only a model that passes may become active.
    fn check(&self, path: &Path, sha256: &str) -> Result<Engine, ControlError> {
        self.options.checker.check(path, &deployed_name(sha256), self.options.engine, self.options.model_size)
    }

    /// An engine for a slot, ready for the pipeline.
    fn engine_for(&self, slot: &Slot) -> Result<Engine, ControlError> {
        let mut engine = match slot {
            Slot::Factory => self.options.factory.load(self.options.engine)?,
            Slot::Deployed(sha) => {
                let staged = {
                    let mut staged = lock(&self.staged);
                    match staged.as_ref() {
                        Some((s, _)) if s == sha => staged.take().map(|(_, engine)| engine),
                        _ => None,
                    }
                };
                if let Some(engine) = staged {
                    return Ok(engine);
                }
                let path = self.store()?.model_path(sha);
                if !path.exists() {
                    return Err(ControlError::not_found(format!("no verified model {sha} on this mirror")));
                }
                self.check(&path, sha)?
            }
        };
        engine.prepare(self.options.model_size).map_err(|e| ControlError::internal(e.to_string()))?;
        Ok(engine)
    }

    fn activate(&self, sha: Option<String>) -> Result<Response, ControlError> {
        let _changes = lock(&self.changes);
        let slot = match sha.as_deref() {
            Some("factory") => Slot::Factory,
            Some(sha) if super::store::is_sha256(sha) => Slot::Deployed(sha.to_ascii_lowercase()),
            Some(_) => {
                return Err(ControlError::bad_request(
                    "ACTIVATE takes a SHA-256 (64 hex digits) or `factory`",
                ));
            }
            None => match self.store()?.state().verified.clone() {
                Some(sha) => Slot::Deployed(sha),
                None => {
                    return Err(ControlError::not_found("no verified upload to activate; UPLOAD one first"));
                }
            },
        };
        let engine = self.engine_for(&slot)?;
        // Saved first: when state.json cannot be written the running model does not change.
        let before = match self.store() {
            Ok(mut store) => {
                let before = store.state().clone();
                store.activate(slot.clone())?;
                Some(before)
            }
            Err(_) => None,
        };
        self.swap_or_restore(engine, &slot, before)?;
        Ok(Response::Model(self.models()))
    }

    fn rollback(&self) -> Result<Response, ControlError> {
        let _changes = lock(&self.changes);
        let previous = self
            .store()?
            .state()
            .previous
            .clone()
            .ok_or_else(|| ControlError::not_found("no previous model to roll back to"))?;
        let engine = self.engine_for(&previous)?;
        let before = {
            let mut store = self.store()?;
            let before = store.state().clone();
            store.rollback()?;
            before
        };
        self.swap_or_restore(engine, &previous, Some(before))?;
        Ok(Response::Model(self.models()))
    }

    /// Swaps the saved choice in; if the pipeline cannot take it (it stopped), the saved state
    /// goes back to what it was, so a restart runs what was running.
    fn swap_or_restore(
        &self,
        engine: Engine,
        slot: &Slot,
        before: Option<super::store::State>,
    ) -> Result<(), ControlError> {
        let swapped = self.swap(engine, slot);
        if swapped.is_err()
            && let (Some(before), Ok(mut store)) = (before, self.store())
            && let Err(e) = store.restore(before)
        {
            tracing::error!("{e}");
        }
        swapped
    }

    /// Hands a ready engine to the pipeline, keeping the style when the new model has it.
    fn swap(&self, engine: Engine, slot: &Slot) -> Result<(), ControlError> {
        let current = self.remote.status().style_spec;
        let style = match current.parse::<StyleMix>() {
            Ok(mix) if mix.weights(engine.styles()).is_ok() => mix,
            _ => StyleMix::single(&engine.styles()[0]),
        };
        let summary = self.summary(slot, engine.styles().to_vec());
        self.remote.send(Command::SwapModel { engine: Box::new(engine), style })?;
        let mut active = lock(&self.active);
        if active.0.sha256 != summary.sha256 {
            let old = std::mem::replace(&mut active.0, summary);
            active.1 = Some(old);
        }
        tracing::info!("model {} ({}) activated", active.0.name, active.0.origin);
        Ok(())
    }

    fn summary(&self, slot: &Slot, styles: Vec<String>) -> ModelSummary {
        match slot {
            Slot::Factory => ModelSummary {
                origin: "factory",
                name: match &self.options.factory {
                    Factory::Builtin { name, .. } => name.clone(),
                    Factory::File(path) => path.display().to_string(),
                },
                sha256: self.factory_sha.clone(),
                styles,
            },
            Slot::Deployed(sha) => {
                ModelSummary { origin: "deployed", name: short(sha), sha256: sha.clone(), styles }
            }
        }
    }

    /// A slot's summary from its file's metadata (no tract load).
    fn describe(&self, slot: &Slot) -> Result<ModelSummary, ControlError> {
        let path = match slot {
            Slot::Deployed(sha) => self.store()?.model_path(sha),
            Slot::Factory => {
                return match &self.options.factory {
                    Factory::Builtin { bytes, .. } => crate::contract::decode(bytes)
                        .and_then(|p| crate::contract::validate(&p))
                        .map(|info| self.summary(slot, info.styles))
                        .map_err(|e| ControlError::internal(e.to_string())),
                    Factory::File(path) => Ok(self.summary(slot, styles_of(path)?)),
                };
            }
        };
        Ok(self.summary(slot, styles_of(&path)?))
    }
}

fn styles_of(path: &Path) -> Result<Vec<String>, ControlError> {
    crate::contract::read(path)
        .and_then(|p| crate::contract::validate(&p))
        .map(|info| info.styles)
        .map_err(|e| ControlError::invalid_model(format!("{}: {e}", path.display())))
}

fn placeholder() -> ModelSummary {
    ModelSummary { origin: "factory", name: String::new(), sha256: String::new(), styles: vec![] }
}

/// How a deployed model is named in the status and logs, whether activated now or at start.
pub fn deployed_name(sha256: &str) -> String {
    format!("deployed {}", short(sha256))
}

/// The first 12 hex digits, enough to tell models apart in a status line.
fn short(sha: &str) -> String {
    sha.chars().take(12).collect()
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A stable id for this device that does not reveal the machine id itself.
pub fn device_id() -> String {
    let raw = std::fs::read_to_string("/etc/machine-id")
        .or_else(|_| std::fs::read_to_string("/proc/sys/kernel/hostname"))
        .unwrap_or_default();
    short(&sha256_hex(format!("atelier:{}", raw.trim()).as_bytes()))
}
