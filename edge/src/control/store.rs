//! The state directory: uploads in progress, verified models, and which model and style are
//! active, kept so they survive a restart.
//!
//! ```text
//!  STATE_DIR/state.json            {"active": "factory"|SHA, "previous": ..., "style": ...}
//!  STATE_DIR/uploads/SHA.part      the one upload in progress (resumable: its length is the offset)
//!  STATE_DIR/models/SHA.onnx       verified models: the active one, the previous, the latest upload
//!  STATE_DIR/lock                  held by the mirror using the directory (its pid inside)
//! ```
//!
//! Every write that matters is made durable before it is acknowledged: chunks are fsynced before
//! the file is hashed, and `state.json` is replaced atomically (temporary file, fsync, rename,
//! fsync of the directory), so a power cut leaves the old state or the new one, never half. A
//! change of state is written before it is kept in memory: when the write fails, nothing changed.
//! Checking a model (contract, test run) is the controller's job; the store only keeps bytes.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::error::ControlError;
use super::request::MAX_MODEL_BYTES;

/// Space left free for everything else on the card (logs, the system) when an upload starts.
pub const RESERVE_BYTES: u64 = 16 << 20;

/// A model slot: the one named at start (built in or `--model`), or a deployed upload.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Slot {
    #[default]
    Factory,
    Deployed(String),
}

impl serde::Serialize for Slot {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Slot::Factory => s.serialize_str("factory"),
            Slot::Deployed(sha) => s.serialize_str(sha),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Slot {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Slot, D::Error> {
        let s = String::deserialize(d)?;
        match s.as_str() {
            "factory" => Ok(Slot::Factory),
            sha if is_sha256(sha) => Ok(Slot::Deployed(sha.to_string())),
            other => Err(serde::de::Error::custom(format!("`{other}` is neither `factory` nor a SHA-256"))),
        }
    }
}

/// What `state.json` holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct State {
    pub active: Slot,
    pub previous: Option<Slot>,
    /// The style last chosen, in `--style` form; ignored if the model has no such style.
    pub style: Option<String>,
    /// The latest verified upload, what `ACTIVATE` with no hash means.
    pub verified: Option<String>,
}

/// An upload in progress.
#[derive(Debug)]
struct Upload {
    sha256: String,
    size: u64,
    offset: u64,
    file: File,
    path: PathBuf,
}

/// Where an upload stands when it is started or resumed.
#[derive(Debug, PartialEq, Eq)]
pub enum Begun {
    /// A verified model with this hash is already kept: nothing to send.
    Have,
    /// Send from this offset.
    At(u64),
    /// Every byte is in and hashes right, but the model was never checked (the mirror stopped
    /// during the check): check it, then [`ModelStore::accept`] or [`ModelStore::reject`] it.
    Complete(PathBuf),
}

/// What a chunk did.
#[derive(Debug, PartialEq, Eq)]
pub enum Progress {
    /// More bytes are wanted, from this offset.
    Partial(u64),
    /// The whole file is in and its hash matches: check it, then [`ModelStore::accept`] or
    /// [`ModelStore::reject`] it.
    Complete(PathBuf),
}

/// The state directory. Not thread-safe by itself: the controller keeps it behind a mutex.
#[derive(Debug)]
pub struct ModelStore {
    dir: PathBuf,
    state: State,
    upload: Option<Upload>,
    reserve: u64,
    /// Uploads found complete at start whose check never finished.
    recovered: Vec<PathBuf>,
    /// Held open for the store's life: its lock keeps a second mirror off the directory.
    _lock: File,
}

impl ModelStore {
    /// Opens (creating) the state directory. A damaged `state.json` is set aside as
    /// `state.json.bad` and the factory model is used, so a bad file cannot stop the mirror.
    pub fn open(dir: &Path) -> Result<ModelStore, ControlError> {
        let io = |what: &str, e: std::io::Error| {
            ControlError::unavailable(format!(
                "state directory {}: cannot {what}: {e}; check it exists and is writable, or choose \
                 another with --state-dir",
                dir.display()
            ))
        };
        for sub in ["models", "uploads"] {
            fs::create_dir_all(dir.join(sub)).map_err(|e| io("create it", e))?;
        }
        let probe = dir.join(".write-test");
        File::create(&probe).and_then(|_| fs::remove_file(&probe)).map_err(|e| io("write to it", e))?;
        let lock = lock_dir(dir)?;
        let path = dir.join("state.json");
        let state = match fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<State>(&bytes) {
                Ok(state) => state,
                Err(e) => {
                    tracing::warn!(
                        "{}: unreadable ({e}); set aside as state.json.bad, using the factory model",
                        path.display()
                    );
                    let _ = fs::rename(&path, dir.join("state.json.bad"));
                    State::default()
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
            Err(e) => return Err(io("read state.json", e)),
        };
        let recovered = complete_parts(&dir.join("uploads"));
        Ok(ModelStore {
            dir: dir.to_path_buf(),
            state,
            upload: None,
            reserve: RESERVE_BYTES,
            recovered,
            _lock: lock,
        })
    }

    /// Uploads that were complete when the mirror last stopped but never checked; each is to be
    /// checked, then accepted or rejected. Empties the list.
    pub fn take_recovered(&mut self) -> Vec<PathBuf> {
        std::mem::take(&mut self.recovered)
    }

    /// Space to leave free on the file system when uploading (default [`RESERVE_BYTES`]).
    pub fn set_reserve(&mut self, bytes: u64) {
        self.reserve = bytes;
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    /// The upload in progress: its hash and declared size.
    pub fn pending(&self) -> Option<(String, u64)> {
        self.upload.as_ref().map(|u| (u.sha256.clone(), u.size))
    }

    /// Where a verified model lives.
    pub fn model_path(&self, sha256: &str) -> PathBuf {
        self.dir.join("models").join(format!("{sha256}.onnx"))
    }

    /// Starts an upload, or resumes the one with this hash.
    pub fn begin(&mut self, size: u64, sha256: &str) -> Result<Begun, ControlError> {
        let sha256 = sha256.to_ascii_lowercase();
        if !is_sha256(&sha256) {
            return Err(ControlError::bad_request("the SHA-256 must be 64 hexadecimal digits"));
        }
        if size == 0 {
            return Err(ControlError::bad_request("an upload needs a size of at least one byte"));
        }
        if size > MAX_MODEL_BYTES {
            return Err(ControlError::too_large(format!(
                "a model may have at most {MAX_MODEL_BYTES} bytes; {size} declared"
            )));
        }
        if self.model_path(&sha256).exists() {
            self.upload = None;
            return Ok(Begun::Have);
        }
        if let Some(up) = &self.upload
            && up.sha256 == sha256
            && up.size == size
        {
            return Ok(Begun::At(up.offset));
        }
        self.discard_partials(Some(&sha256));
        let path = self.dir.join("uploads").join(format!("{sha256}.part"));
        let io = |e: std::io::Error| ControlError::internal(format!("{}: {e}", path.display()));
        let mut file =
            OpenOptions::new().create(true).read(true).write(true).truncate(false).open(&path).map_err(io)?;
        let mut offset = file.metadata().map_err(io)?.len();
        if offset == size {
            // Whole, but its check never finished (the mirror stopped): check it now, unless
            // what is there is not what was declared.
            drop(file);
            if sha256_file(&path).map_err(io)? == sha256 {
                return Ok(Begun::Complete(path));
            }
            let _ = fs::remove_file(&path);
            return self.begin(size, &sha256);
        }
        if offset > size {
            file.set_len(0).map_err(io)?;
            offset = 0;
        }
        let free = free_bytes(&self.dir).map_err(io)?;
        let needed = size - offset + self.reserve;
        if free < needed {
            drop(file);
            let _ = fs::remove_file(&path);
            return Err(ControlError::insufficient_storage(format!(
                "not enough space in {} for a {size}-byte model: {} MB free, {} MB needed with the \
                 {} MB kept free; delete old files there or give the mirror a larger state directory",
                self.dir.display(),
                free >> 20,
                needed.div_ceil(1 << 20),
                self.reserve >> 20
            )));
        }
        file.seek(SeekFrom::Start(offset)).map_err(io)?;
        self.upload = Some(Upload { sha256, size, offset, file, path });
        Ok(Begun::At(offset))
    }

    /// Writes a chunk at `offset`, which must be where the upload stands.
    pub fn chunk(&mut self, offset: u64, crc32: u32, data: &[u8]) -> Result<Progress, ControlError> {
        let up = self
            .upload
            .as_mut()
            .ok_or_else(|| ControlError::conflict("no upload in progress; send UPLOAD SIZE SHA256 first"))?;
        if offset != up.offset {
            return Err(ControlError::conflict(format!("expected offset {}, got {offset}", up.offset)));
        }
        if data.is_empty() {
            return Err(ControlError::bad_request("empty chunk"));
        }
        if crc32fast::hash(data) != crc32 {
            return Err(ControlError::bad_request(format!(
                "chunk at offset {offset}: CRC-32 mismatch; resend it"
            )));
        }
        if offset + data.len() as u64 > up.size {
            return Err(ControlError::bad_request(format!(
                "chunk at offset {offset} ends past the declared size {}",
                up.size
            )));
        }
        if let Err(e) = up.file.write_all(data) {
            // Leave the file as it was before this chunk so the upload can resume after space is freed.
            let _ = up.file.set_len(up.offset);
            let _ = up.file.seek(SeekFrom::Start(up.offset));
            let full = e.raw_os_error() == Some(libc::ENOSPC);
            let message = format!("writing {}: {e}", up.path.display());
            return Err(if full {
                ControlError::insufficient_storage(format!("{message}; free space and resend from {offset}"))
            } else {
                ControlError::internal(message)
            });
        }
        up.offset += data.len() as u64;
        if up.offset < up.size {
            return Ok(Progress::Partial(up.offset));
        }
        let up = self.upload.take().expect("checked above");
        let io = |e: std::io::Error| ControlError::internal(format!("{}: {e}", up.path.display()));
        up.file.sync_all().map_err(io)?;
        let actual = sha256_file(&up.path).map_err(io)?;
        if actual != up.sha256 {
            let _ = fs::remove_file(&up.path);
            return Err(ControlError::invalid_model(format!(
                "the file received hashes to {actual}, not the declared {}; upload it again",
                up.sha256
            )));
        }
        Ok(Progress::Complete(up.path))
    }

    /// Keeps a complete upload that passed the checks as a verified model, the one `ACTIVATE`
    /// with no hash means; the verified upload it replaces goes unless it is active or previous.
    pub fn accept(&mut self, part: &Path, sha256: &str) -> Result<PathBuf, ControlError> {
        let dest = self.model_path(sha256);
        fs::rename(part, &dest)
            .and_then(|()| sync_dir(&self.dir.join("models")))
            .map_err(|e| ControlError::internal(format!("{}: {e}", dest.display())))?;
        self.commit(State { verified: Some(sha256.to_string()), ..self.state.clone() })?;
        self.prune();
        Ok(dest)
    }

    /// Throws away a complete upload that failed the checks.
    pub fn reject(&mut self, part: &Path) {
        let _ = fs::remove_file(part);
    }

    /// Records `slot` as active and the current one as previous.
    pub fn activate(&mut self, slot: Slot) -> Result<(), ControlError> {
        let mut next = self.state.clone();
        if next.active != slot {
            next.previous = Some(std::mem::replace(&mut next.active, slot));
        }
        self.commit(next)?;
        self.prune();
        Ok(())
    }

    /// Swaps active and previous; `None` when there is nothing to go back to.
    pub fn rollback(&mut self) -> Result<Option<Slot>, ControlError> {
        let Some(previous) = self.state.previous.clone() else { return Ok(None) };
        let next = State {
            active: previous.clone(),
            previous: Some(self.state.active.clone()),
            ..self.state.clone()
        };
        self.commit(next)?;
        Ok(Some(previous))
    }

    /// Puts back a state saved before (an activation the pipeline then refused).
    pub fn restore(&mut self, state: State) -> Result<(), ControlError> {
        self.commit(state)
    }

    /// Remembers the style shown, for the next start.
    pub fn set_style(&mut self, style: &str) -> Result<(), ControlError> {
        if self.state.style.as_deref() != Some(style) {
            self.commit(State { style: Some(style.to_string()), ..self.state.clone() })?;
        }
        Ok(())
    }

    /// Forgets a deployed slot that can no longer be loaded (deleted or damaged file).
    pub fn forget(&mut self, slot: &Slot) -> Result<(), ControlError> {
        let mut next = self.state.clone();
        if next.active == *slot {
            next.active = Slot::Factory;
        }
        if next.previous.as_ref() == Some(slot) {
            next.previous = None;
        }
        self.commit(next)
    }

    /// Writes `next` durably, then makes it the state; when the write fails nothing changes and
    /// the error says why (a full card, a read-only directory).
    fn commit(&mut self, next: State) -> Result<(), ControlError> {
        let json = serde_json::to_vec_pretty(&next).expect("state serialises");
        write_atomic(&self.dir.join("state.json"), &json).map_err(|e| {
            let why = format!("{}: cannot save state.json: {e}", self.dir.display());
            if e.raw_os_error() == Some(libc::ENOSPC) {
                ControlError::insufficient_storage(format!("{why}; nothing was changed: free space there"))
            } else {
                ControlError::internal(format!("{why}; nothing was changed"))
            }
        })?;
        self.state = next;
        Ok(())
    }

    /// Deletes models that are neither active, previous nor the latest verified upload.
    fn prune(&self) {
        let keep: Vec<&str> = [Some(&self.state.active), self.state.previous.as_ref()]
            .into_iter()
            .flatten()
            .filter_map(|s| match s {
                Slot::Deployed(sha) => Some(sha.as_str()),
                Slot::Factory => None,
            })
            .chain(self.state.verified.as_deref())
            .collect();
        let Ok(entries) = fs::read_dir(self.dir.join("models")) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
            if !keep.contains(&stem) {
                let _ = fs::remove_file(&path);
            }
        }
    }

    fn discard_partials(&mut self, except: Option<&str>) {
        self.upload = None;
        let Ok(entries) = fs::read_dir(self.dir.join("uploads")) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.file_stem().and_then(|s| s.to_str()) != except {
                let _ = fs::remove_file(&path);
            }
        }
    }
}

/// Takes the directory's lock (a second mirror on the same state directory would keep its own
/// idea of what is active and overwrite the first one's) and writes this process's id into it.
fn lock_dir(dir: &Path) -> Result<File, ControlError> {
    let path = dir.join("lock");
    let io = |e: std::io::Error| ControlError::unavailable(format!("{}: {e}", path.display()));
    let mut file =
        OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            return Err(ControlError::conflict(format!(
                "state directory {} is in use by another atelier-mirror (pid {}); stop it, or give \
                 this one its own --state-dir",
                dir.display(),
                holder.trim()
            )));
        }
        Err(fs::TryLockError::Error(e)) => return Err(io(e)),
    }
    file.set_len(0).and_then(|()| file.write_all(std::process::id().to_string().as_bytes())).map_err(io)?;
    Ok(file)
}

/// The `SHA.part` files in `uploads` whose content hashes to their name: complete uploads.
fn complete_parts(uploads: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(uploads) else { return vec![] };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|path| {
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
            path.extension().is_some_and(|e| e == "part")
                && is_sha256(stem)
                && path.metadata().is_ok_and(|m| m.len() <= MAX_MODEL_BYTES)
                && sha256_file(path).is_ok_and(|actual| actual == stem)
        })
        .collect()
}

pub fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Lower-case hex SHA-256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(format!("{:x}", hasher.finalize()))
}

/// Writes a file so that after a crash it holds the old content or the new, never a mix.
/// Readable by its owner only: the kept copy of a config holds the API token.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    // A leftover from a crash keeps its old mode through `create`.
    let _ = fs::remove_file(&tmp);
    {
        let mut file = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Bytes available to this (unprivileged) process on the file system holding `dir`.
fn free_bytes(dir: &Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is a valid NUL-terminated string and `st` a properly sized out-parameter.
    if unsafe { libc::statvfs(path.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(st.f_bavail as u64 * st.f_frsize as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload(store: &mut ModelStore, bytes: &[u8], chunk: usize) -> Result<Progress, ControlError> {
        let Begun::At(offset) = store.begin(bytes.len() as u64, &sha256_hex(bytes))? else { panic!() };
        let mut offset = offset as usize;
        loop {
            let end = (offset + chunk).min(bytes.len());
            let data = &bytes[offset..end];
            match store.chunk(offset as u64, crc32fast::hash(data), data)? {
                Progress::Partial(next) => offset = next as usize,
                done => return Ok(done),
            }
        }
    }

    #[test]
    fn upload_resumes_and_checks_every_chunk() {
        let dir = tempfile::tempdir().unwrap();
        let bytes: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let sha = sha256_hex(&bytes);
        let mut store = ModelStore::open(dir.path()).unwrap();
        assert_eq!(store.begin(bytes.len() as u64, &sha).unwrap(), Begun::At(0));
        assert!(matches!(
            store.chunk(0, crc32fast::hash(&bytes[..100]), &bytes[..100]),
            Ok(Progress::Partial(100))
        ));
        // A corrupted chunk and a wrong offset are refused and change nothing.
        let err = store.chunk(100, crc32fast::hash(&bytes[100..200]), &bytes[101..201]).unwrap_err();
        assert_eq!(err.code, 400, "{err}");
        assert_eq!(store.chunk(0, 0, b"x").unwrap_err().code, 409);
        // A restarted mirror resumes from what was written.
        drop(store);
        let mut store = ModelStore::open(dir.path()).unwrap();
        assert_eq!(store.begin(bytes.len() as u64, &sha).unwrap(), Begun::At(100));
        let Progress::Complete(part) = upload(&mut store, &bytes, 999).unwrap() else { panic!() };
        let path = store.accept(&part, &sha).unwrap();
        assert_eq!(fs::read(&path).unwrap(), bytes);
        assert_eq!(store.begin(bytes.len() as u64, &sha).unwrap(), Begun::Have, "already have it");
        store.activate(Slot::Deployed(sha.clone())).unwrap();
        drop(store);
        let reopened = ModelStore::open(dir.path()).unwrap();
        assert_eq!(reopened.state().active, Slot::Deployed(sha));
        assert_eq!(reopened.state().previous, Some(Slot::Factory));
    }

    #[test]
    fn wrong_hash_is_refused_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = ModelStore::open(dir.path()).unwrap();
        let bytes = vec![1u8; 500];
        store.begin(500, &sha256_hex(b"something else")).unwrap();
        let err = store.chunk(0, crc32fast::hash(&bytes), &bytes).unwrap_err();
        assert_eq!(err.code, 422, "{err}");
        assert_eq!(fs::read_dir(dir.path().join("uploads")).unwrap().count(), 0);
    }

    #[test]
    fn too_little_space_is_refused_before_writing() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = ModelStore::open(dir.path()).unwrap();
        let free = free_bytes(dir.path()).unwrap();
        store.set_reserve(free.saturating_sub(1000));
        let err = store.begin(5000, &sha256_hex(b"x")).unwrap_err();
        assert_eq!(err.code, 507, "{err}");
        assert!(err.message.contains("not enough space"), "{err}");
        assert_eq!(fs::read_dir(dir.path().join("uploads")).unwrap().count(), 0);
        assert_eq!(store.begin(MAX_MODEL_BYTES + 1, &sha256_hex(b"x")).unwrap_err().code, 413);
    }

    #[test]
    fn damaged_state_is_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("state.json"), b"{\"active\": 12").unwrap();
        let store = ModelStore::open(dir.path()).unwrap();
        assert_eq!(store.state(), &State::default());
        assert!(dir.path().join("state.json.bad").exists());
    }

    #[test]
    fn a_second_mirror_cannot_share_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let store = ModelStore::open(dir.path()).unwrap();
        let err = ModelStore::open(dir.path()).unwrap_err();
        assert_eq!(err.code, 409, "{err}");
        assert!(
            err.message.contains(&format!("in use by another atelier-mirror (pid {})", std::process::id()))
        );
        drop(store);
        ModelStore::open(dir.path()).unwrap();
    }

    /// The adversarial test's kill -9 during the final check: the whole file is in uploads/, its
    /// check never ran. It is found at start, and a new UPLOAD of it is checked, not refused.
    #[test]
    fn an_upload_complete_but_unchecked_is_recovered() {
        let dir = tempfile::tempdir().unwrap();
        let bytes: Vec<u8> = (0..5000u32).map(|i| (i % 253) as u8).collect();
        let sha = sha256_hex(&bytes);
        fs::create_dir_all(dir.path().join("uploads")).unwrap();
        let part = dir.path().join("uploads").join(format!("{sha}.part"));
        fs::write(&part, &bytes).unwrap();
        // And a partial one, and one whose bytes are not what its name says.
        fs::write(dir.path().join("uploads").join(format!("{}.part", sha256_hex(b"other"))), b"oth").unwrap();
        let mut store = ModelStore::open(dir.path()).unwrap();
        assert_eq!(store.take_recovered(), vec![part.clone()]);
        assert_eq!(store.begin(bytes.len() as u64, &sha).unwrap(), Begun::Complete(part.clone()));
        // A complete file that does not hash right starts over.
        fs::write(&part, vec![0u8; bytes.len()]).unwrap();
        assert_eq!(store.begin(bytes.len() as u64, &sha).unwrap(), Begun::At(0));
    }

    /// ACTIVATE on a directory where state.json cannot be written: an error, and nothing changed
    /// (in memory, on disk, after a restart).
    #[test]
    fn a_state_that_cannot_be_saved_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = ModelStore::open(dir.path()).unwrap();
        let bytes = vec![7u8; 300];
        let sha = sha256_hex(&bytes);
        let Progress::Complete(part) = upload(&mut store, &bytes, 100).unwrap() else { panic!() };
        store.accept(&part, &sha).unwrap();
        let before = store.state().clone();
        // The temporary file's name taken by a directory: the write fails even for root.
        fs::create_dir_all(dir.path().join("state.tmp/x")).unwrap();
        let err = store.activate(Slot::Deployed(sha.clone())).unwrap_err();
        assert!(
            err.message.contains("cannot save state.json") && err.message.contains("nothing was changed")
        );
        assert_eq!(store.state(), &before);
        assert!(store.rollback().unwrap().is_none());
        drop(store);
        assert_eq!(ModelStore::open(dir.path()).unwrap().state(), &before);
    }

    #[test]
    fn rollback_swaps_and_prune_keeps_what_is_needed() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = ModelStore::open(dir.path()).unwrap();
        let mut shas = vec![];
        for n in 0..3u8 {
            let bytes = vec![n; 100 + n as usize];
            let sha = sha256_hex(&bytes);
            let Progress::Complete(part) = upload(&mut store, &bytes, 64).unwrap() else { panic!() };
            store.accept(&part, &sha).unwrap();
            store.activate(Slot::Deployed(sha.clone())).unwrap();
            shas.push(sha);
        }
        let left = fs::read_dir(dir.path().join("models")).unwrap().count();
        assert_eq!(left, 2, "the first model is neither active nor previous");
        // Verified uploads never activated do not pile up: each one replaces the last.
        for n in 10..14u8 {
            let bytes = vec![n; 50];
            let Progress::Complete(part) = upload(&mut store, &bytes, 64).unwrap() else { panic!() };
            store.accept(&part, &sha256_hex(&bytes)).unwrap();
        }
        let left = fs::read_dir(dir.path().join("models")).unwrap().count();
        assert_eq!(left, 3, "active, previous and the latest verified upload");
        assert_eq!(store.rollback().unwrap(), Some(Slot::Deployed(shas[1].clone())));
        assert_eq!(store.state().previous, Some(Slot::Deployed(shas[2].clone())));
    }
}
