//! The model loader under mutated and random input (proptest, a fixed number of cases so the
//! test command's time stays bounded): every byte string is decoded or refused with a reason,
//! without a panic, within a bound of time; and through the mirror's isolated test run, every
//! mutated upload is accepted or refused with a 422, never anything else.

use std::cell::Cell;
use std::time::{Duration, Instant};

use atelier_edge::EngineOptions;
use atelier_edge::contract;
use atelier_edge::control::checker::{CHECK_MEMORY, Checker};
use atelier_edge::frame::Size;
use proptest::prelude::*;

fn seed_model() -> &'static [u8] {
    static SEED: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    SEED.get_or_init(|| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/classics6-int8w.onnx");
        std::fs::read(path).unwrap()
    })
}

/// One change to a valid model's bytes.
#[derive(Debug, Clone)]
enum Mutation {
    /// XOR a byte (positions are fractions of the length, so they land anywhere).
    Flip(f64, u8),
    Truncate(f64),
    Insert(f64, Vec<u8>),
    /// Copy a run of the file over another place (repeats fields and messages).
    Splice(f64, f64, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (0.0..1.0f64, 1..=255u8).prop_map(|(at, x)| Mutation::Flip(at, x)),
        (0.0..1.0f64).prop_map(Mutation::Truncate),
        (0.0..1.0f64, proptest::collection::vec(any::<u8>(), 1..64))
            .prop_map(|(at, b)| Mutation::Insert(at, b)),
        (0.0..1.0f64, 0.0..1.0f64, 1..4096usize).prop_map(|(a, b, n)| Mutation::Splice(a, b, n)),
    ]
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let at = |f: f64, len: usize| ((f * len as f64) as usize).min(len.saturating_sub(1));
        match m {
            Mutation::Flip(f, x) if !bytes.is_empty() => {
                let i = at(*f, bytes.len());
                bytes[i] ^= x;
            }
            Mutation::Truncate(f) => bytes.truncate(at(*f, bytes.len())),
            Mutation::Insert(f, new) => {
                let i = at(*f, bytes.len() + 1);
                bytes.splice(i..i, new.iter().copied());
            }
            Mutation::Splice(from, to, n) if !bytes.is_empty() => {
                let (from, to) = (at(*from, bytes.len()), at(*to, bytes.len()));
                let run: Vec<u8> = bytes[from..(from + n).min(bytes.len())].to_vec();
                bytes.splice(to..to, run);
            }
            _ => {}
        }
    }
    bytes
}

/// What the mirror does with untrusted bytes before any test run: decode within bounds, check
/// the contract. A panic here would take down a control thread; a slow one would stall it.
fn decode_and_validate(bytes: &[u8]) -> Result<bool, TestCaseError> {
    let t = Instant::now();
    let valid = contract::decode(bytes).is_ok_and(|proto| contract::validate(&proto).is_ok());
    prop_assert!(t.elapsed() < Duration::from_secs(5), "{} bytes took {:?}", bytes.len(), t.elapsed());
    Ok(valid)
}

fn runner(cases: u32) -> proptest::test_runner::TestRunner {
    proptest::test_runner::TestRunner::new(ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    })
}

#[test]
fn mutated_and_random_models_are_decoded_or_refused() {
    let (tried, valid) = (Cell::new(0u32), Cell::new(0u32));
    let count = |ok: bool| {
        tried.set(tried.get() + 1);
        valid.set(valid.get() + ok as u32);
    };
    runner(10_000)
        .run(&proptest::collection::vec(mutation(), 1..6), |mutations| {
            count(decode_and_validate(&mutate(seed_model().to_vec(), &mutations))?);
            Ok(())
        })
        .unwrap();
    runner(5_000)
        .run(&proptest::collection::vec(any::<u8>(), 0..8192), |bytes| {
            count(decode_and_validate(&bytes)?);
            Ok(())
        })
        .unwrap();
    eprintln!(
        "fuzz_model: {} byte strings, {} decoded and within the contract, the rest refused; 0 panics",
        tried.get(),
        valid.get()
    );
}

/// The upload path itself: mutated models through the isolated test run (the mirror's binary
/// with its memory budget) give a loaded model or a 422, nothing else.
#[test]
fn mutated_uploads_through_the_isolated_test_run_are_accepted_or_refused() {
    let checker = Checker::Process {
        exe: env!("CARGO_BIN_EXE_atelier-mirror").into(),
        memory: CHECK_MEMORY,
        time: Duration::from_secs(60),
    };
    let dir = tempfile::tempdir().unwrap();
    let (accepted, refused) = (Cell::new(0u32), Cell::new(0u32));
    runner(60)
        .run(&proptest::collection::vec(mutation(), 1..4), |mutations| {
            let bytes = mutate(seed_model().to_vec(), &mutations);
            let path = dir.path().join("upload.onnx");
            std::fs::write(&path, &bytes).unwrap();
            match checker.check(&path, "fuzz", EngineOptions::default(), Size::new(64, 48)) {
                Ok(_) => accepted.set(accepted.get() + 1),
                Err(e) => {
                    prop_assert_eq!(e.code, 422, "{}", e.message);
                    refused.set(refused.get() + 1);
                }
            }
            Ok(())
        })
        .unwrap();
    eprintln!(
        "fuzz_model: isolated test runs: {} accepted, {} refused (422), nothing else",
        accepted.get(),
        refused.get()
    );
}
