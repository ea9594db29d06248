//! Training checkpoints: a directory with the generator's and critic's weights and a JSON state.
//!
//! Adam's moment estimates are not saved (tch's `VarStore::save` does not cover optimizer state),
//! so a resumed run re-warms them over its first few dozen steps; the weights, step count and
//! configuration are exact.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use tch::nn::VarStore;

use crate::generator::GeneratorConfig;

/// What a checkpoint records besides the weights.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CheckpointState {
    pub step: usize,
    pub seed: u64,
    pub size: u32,
    pub styles: Vec<String>,
    pub style_sources: Vec<String>,
    pub generator: GeneratorConfig,
    /// Wall-clock seconds of training so far, over all resumed runs.
    pub seconds: f64,
    /// The command line of each run that trained these weights, oldest first, so that a model
    /// trained in stages records every stage. (Checkpoints written before it existed have none.)
    #[serde(default)]
    pub commands: Vec<String>,
}

const GENERATOR_FILE: &str = "generator.safetensors";
const CRITIC_FILE: &str = "critic.safetensors";
const STATE_FILE: &str = "state.json";

/// Writes a checkpoint atomically: a new directory is filled, then swapped in for the old one.
pub fn save(dir: &Path, state: &CheckpointState, generator: &VarStore, critic: &VarStore) -> Result<()> {
    let tmp = dir.with_extension("ckpt.part");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).with_context(|| format!("cannot clear {}", tmp.display()))?;
    }
    std::fs::create_dir_all(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    generator.save(tmp.join(GENERATOR_FILE)).context("cannot save the generator weights")?;
    critic.save(tmp.join(CRITIC_FILE)).context("cannot save the critic weights")?;
    std::fs::write(tmp.join(STATE_FILE), serde_json::to_string_pretty(state)?)?;
    let old = dir.with_extension("ckpt.old");
    if dir.exists() {
        let _ = std::fs::remove_dir_all(&old);
        std::fs::rename(dir, &old).with_context(|| format!("cannot replace {}", dir.display()))?;
    }
    std::fs::rename(&tmp, dir).with_context(|| format!("cannot write {}", dir.display()))?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(())
}

/// Reads a checkpoint's state.
pub fn read_state(dir: &Path) -> Result<CheckpointState> {
    let path = dir.join(STATE_FILE);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!("checkpoint {}: cannot read {STATE_FILE}; is this a checkpoint directory?", dir.display())
    })?;
    serde_json::from_str(&text)
        .with_context(|| format!("checkpoint {}: {STATE_FILE} is corrupt", path.display()))
}

/// Loads weights into existing variable stores after checking the checkpoint fits the run.
pub fn load(
    dir: &Path,
    expected: &CheckpointState,
    generator: &mut VarStore,
    critic: &mut VarStore,
) -> Result<CheckpointState> {
    let state = read_state(dir)?;
    if state.styles != expected.styles || state.generator != expected.generator {
        bail!(
            "checkpoint {} was trained with styles {:?} and generator {:?}; this run has {:?} and {:?}",
            dir.display(),
            state.styles,
            state.generator,
            expected.styles,
            expected.generator
        );
    }
    generator
        .load(dir.join(GENERATOR_FILE))
        .with_context(|| format!("checkpoint {}: generator weights", dir.display()))?;
    critic
        .load(dir.join(CRITIC_FILE))
        .with_context(|| format!("checkpoint {}: critic weights", dir.display()))?;
    Ok(state)
}

/// Files written beside the model `out.onnx`.
pub struct Outputs {
    pub model: PathBuf,
    pub checkpoint: PathBuf,
    pub preview: PathBuf,
    pub losses: PathBuf,
}

impl Outputs {
    pub fn beside(model: &Path) -> Outputs {
        Outputs {
            model: model.to_path_buf(),
            checkpoint: model.with_extension("ckpt"),
            preview: model.with_extension("preview.png"),
            losses: model.with_extension("losses.csv"),
        }
    }
}
