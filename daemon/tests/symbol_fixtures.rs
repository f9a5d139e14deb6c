//! Per-language symbol extraction, checked against hand-reviewed expectations: for each
//! fixture in `tests/fixtures/symbols/` (one real-looking file per supported language, with
//! every kind of definition the language has, documented and not, and its imports), the
//! detected language, the exact outline (kinds, names, line ranges, nesting, documented
//! flags) and the imports must equal `<fixture>.expected`.
//!
//! After a deliberate change to extraction, `CODESAGE_UPDATE_FIXTURES=1 cargo test -p
//! codesaged --test symbol_fixtures` rewrites the expectations; review the diff line by line
//! against the fixture before committing it (and bump `symbols::EXTRACTOR_VERSION`).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use codesaged::indexer::language;
use codesaged::symbols::{self, grammars};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/symbols")
}

fn fixtures() -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures directory")
        .map(|entry| entry.expect("fixture entry").path())
        .filter(|path| path.extension().is_none_or(|ext| ext != "expected"))
        .collect();
    found.sort();
    found
}

/// What the test compares: language, outline, imports, and whether the parse had errors.
fn describe(path: &Path) -> (String, String) {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .expect("file name");
    let source = std::fs::read(path).expect("fixture");
    let language = language::detect(name, &source[..source.len().min(1024)]).name;
    let symbols = symbols::extract(language, &source)
        .unwrap_or_else(|| panic!("{name}: no grammar for {language}"));
    let mut text = format!("language: {language}\nsymbols:\n");
    for line in symbols.outline().lines() {
        writeln!(text, "  {line}").unwrap();
    }
    text.push_str("imports:\n");
    for import in &symbols.imports {
        writeln!(text, "  {} {}", import.start_line, import.module).unwrap();
    }
    writeln!(text, "syntax errors: {}", symbols.has_errors).unwrap();
    (language.to_string(), text)
}

#[test]
fn every_fixture_gives_exactly_its_expected_outline_and_imports() {
    let update = std::env::var_os("CODESAGE_UPDATE_FIXTURES").is_some();
    let mut failures = Vec::new();
    for path in fixtures() {
        let (_, actual) = describe(&path);
        let expected_path = PathBuf::from(format!("{}.expected", path.display()));
        if update {
            std::fs::write(&expected_path, &actual).expect("write expectation");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_else(|err| {
            panic!(
                "{}: {err}; write the expectation (see this file's docs)",
                expected_path.display()
            )
        });
        if expected != actual {
            failures.push(format!(
                "{}\n--- expected\n{expected}--- actual\n{actual}",
                path.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_supported_language_has_a_fixture() {
    let covered: BTreeSet<String> = fixtures().iter().map(|path| describe(path).0).collect();
    let supported: BTreeSet<String> = grammars::supported().map(str::to_string).collect();
    assert_eq!(covered, supported);
    // The list, so a grammar cannot silently drop out of `supported`.
    for language in [
        "Python",
        "Rust",
        "JavaScript",
        "TypeScript",
        "TSX",
        "Go",
        "Java",
        "C",
        "C++",
        "C#",
        "Ruby",
        "PHP",
        "Shell",
    ] {
        assert!(supported.contains(language), "{language} is not supported");
    }
}
