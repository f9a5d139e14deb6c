//! `clone-timing DIR [ROUNDS]`: times clone detection on a tree, phase by phase, the way the
//! daemon runs it on a root's stored fingerprints (detection, grouping into classes, and
//! the exact measurement of every class), without a daemon, for profiling the detector; with
//! digests of the pairs and of the classes, to check that a change kept its answers.
//! The fingerprints are extracted once and kept in the temporary directory (delete
//! `clone-timing-*.cache` there after changing the extractor).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use codesaged::health::detect::{Detection, FileIn};
use codesaged::health::fingerprint::Fingerprints;
use codesaged::health::refine;
use codesaged::indexer::language;
use codesaged::symbols;
use rayon::prelude::*;

fn extract(dir: &Path) -> Vec<Arc<Fingerprints>> {
    codesage_benches::all_files(dir)
        .par_iter()
        .filter_map(|path| {
            let content = std::fs::read(path).ok()?;
            if content.len() > 1 << 20 {
                return None;
            }
            let language = language::detect(&path.to_string_lossy(), &content);
            let parsed = symbols::extract(language.name, &content)?;
            Some(Arc::new(parsed.fingerprints))
        })
        .collect()
}

fn load(dir: &Path) -> Result<Vec<Arc<Fingerprints>>> {
    let canonical = dir.canonicalize()?;
    let cache = std::env::temp_dir().join(format!(
        "clone-timing-{}.cache",
        &blake3::hash(canonical.to_string_lossy().as_bytes()).to_hex()[..16]
    ));
    if let Ok(bytes) = std::fs::read(&cache) {
        let mut files = Vec::new();
        let mut rest = &bytes[..];
        while rest.len() >= 4 {
            let len = u32::from_le_bytes(rest[..4].try_into()?) as usize;
            let prints = Fingerprints::from_bytes(&rest[4..4 + len]).context("cache")?;
            files.push(Arc::new(prints));
            rest = &rest[4 + len..];
        }
        return Ok(files);
    }
    let files = extract(dir);
    let mut bytes = Vec::new();
    for prints in &files {
        let encoded = prints.to_bytes();
        bytes.extend_from_slice(&(encoded.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&encoded);
    }
    std::fs::write(&cache, bytes)?;
    Ok(files)
}

fn main() -> Result<()> {
    // The detector's own phase timings are debug events: `RUST_LOG=codesaged=debug`.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .context("usage: clone-timing DIR [ROUNDS]")?,
    );
    let rounds: usize = std::env::args()
        .nth(2)
        .and_then(|n| n.parse().ok())
        .unwrap_or(3);
    let started = Instant::now();
    let prints = load(&dir)?;
    println!("{} files in {:.1?}", prints.len(), started.elapsed());
    let files: Vec<FileIn> = prints
        .iter()
        .enumerate()
        .map(|(doc, prints)| FileIn {
            doc: doc as u32,
            prints: Arc::clone(prints),
        })
        .collect();
    let by_doc: HashMap<u32, Arc<Fingerprints>> = files
        .iter()
        .map(|file| (file.doc, Arc::clone(&file.prints)))
        .collect();
    for round in 0..rounds {
        let started = Instant::now();
        let detection = Detection::new(&files, 10, 0.8);
        let detected = started.elapsed();
        let classes = detection.classes();
        let grouped = started.elapsed();
        let refined: usize = classes
            .par_iter()
            .map(|class| {
                refine::refine(class, &|doc| by_doc.get(&doc).map(|p| &**p), 0.8)
                    .ranges
                    .len()
            })
            .sum();
        let measured = started.elapsed() - grouped;
        let pairs = detection.pairs();
        let digest = {
            use std::hash::{Hash, Hasher};
            let mut digest = std::collections::hash_map::DefaultHasher::new();
            format!("{pairs:?}").hash(&mut digest);
            digest.finish()
        };
        let class_digest = {
            use std::hash::{Hash, Hasher};
            let mut digest = std::collections::hash_map::DefaultHasher::new();
            format!("{classes:?}").hash(&mut digest);
            digest.finish()
        };
        let pair_count = pairs.len();
        println!(
            "round {round}: detection {:.2?}, grouping {:.2?}, measuring {:.2?} ({pair_count} pairs, digest {digest:016x}; {} classes, digest {class_digest:016x}; {refined} places)",
            detected,
            grouped - detected,
            measured,
            classes.len()
        );
    }
    Ok(())
}
