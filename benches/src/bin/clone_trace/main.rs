//! `clone-trace FILE...`: clone detection on a few files, step by step, for reading why a
//! copy is or is not found: each file's tokens and fingerprints, the pairs detection makes
//! (k-gram ranges, kind, similarity) and the classes with exact ranges after refinement.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{Context, Result};
use codesaged::health::detect::{self, FileIn};
use codesaged::health::fingerprint::Fingerprints;
use codesaged::health::refine;
use codesaged::indexer::language;
use codesaged::symbols;

/// The similarity asked of clones (the tool's default).
const MIN_SIMILARITY: f32 = 0.8;

fn main() -> Result<()> {
    let min_lines: u32 = std::env::var("MIN_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let mut files = Vec::new();
    let mut names = HashMap::new();
    for (doc, path) in std::env::args().skip(1).enumerate() {
        let content = std::fs::read(&path).with_context(|| format!("read {path}"))?;
        let language = language::detect(&path, &content);
        let parsed = symbols::extract(language.name, &content)
            .with_context(|| format!("no structure for {path}"))?;
        let prints: Fingerprints = parsed.fingerprints.clone();
        println!(
            "file {doc}: {path} ({}) tokens {} fingerprints {} periodic {}",
            language.name,
            prints.tokens,
            prints.prints.len(),
            prints.prints.iter().filter(|p| p.periodic).count()
        );
        names.insert(doc as u32, path);
        files.push(FileIn {
            doc: doc as u32,
            prints: Arc::new(prints),
        });
    }
    let pairs = detect::pairs(&files, min_lines, MIN_SIMILARITY);
    println!("{} pairs", pairs.len());
    for pair in &pairs {
        println!(
            "  pair {:?} sim {:.2}: {}:{}-{} (tokens {}-{})  {}:{}-{} (tokens {}-{})",
            pair.kind,
            pair.similarity,
            pair.a.doc,
            pair.a.start_line,
            pair.a.end_line,
            pair.a.start,
            pair.a.end,
            pair.b.doc,
            pair.b.start_line,
            pair.b.end_line,
            pair.b.start,
            pair.b.end,
        );
    }
    let by_doc: HashMap<u32, Arc<Fingerprints>> = files
        .iter()
        .map(|file| (file.doc, Arc::clone(&file.prints)))
        .collect();
    for class in detect::classes(pairs) {
        let refined = refine::refine(
            &class,
            &|doc| by_doc.get(&doc).map(|p| &**p),
            MIN_SIMILARITY,
        );
        println!("class {:?} ({} regions)", refined.kind, class.regions.len());
        for ((region, range), (tokens, verbatim)) in class
            .regions
            .iter()
            .zip(&refined.ranges)
            .zip(refined.tokens.iter().zip(&refined.verbatim))
        {
            println!(
                "  {}:{}-{} -> {}-{} tokens {tokens} verbatim {verbatim}",
                region.doc, region.start_line, region.end_line, range.start_line, range.end_line
            );
        }
    }
    Ok(())
}
