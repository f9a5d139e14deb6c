//! The `health` benchmark: clone detection next to jscpd (recall of its pairs, a random
//! sample of ours it lacks with the verdicts written by hand in `benches/health_verdicts.tsv`,
//! wall time, time after one edit), cyclomatic complexity next to lizard, line counts next to
//! scc, and the latency of `find_duplicate_code` and `analyze_codebase_improvements` through
//! the shim on the whole corpus. The baselines are installed by `benches/run.sh` into
//! `benches/.cache`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use codesaged::indexer::language;
use codesaged::symbols::{self, grammars};
use rayon::prelude::*;
use serde_json::{Value, json};

use super::{Args, Env, Restore, Session, all_files, corpus_size, machine, mib, percentile};

/// A duration for a table cell, with its unit.
fn ms(duration: Duration) -> String {
    let millis = duration.as_secs_f64() * 1000.0;
    if millis >= 10_000.0 {
        format!("{:.1} s", millis / 1000.0)
    } else {
        format!("{millis:.0} ms")
    }
}

/// Shortest clone compared, in lines (jscpd's `--min-lines`, our `min_lines`).
const MIN_LINES: u32 = 10;
/// jscpd's minimum tokens (its default is 50; ours is the same bar).
const MIN_TOKENS: u32 = 50;
/// Largest file compared: files past it have no parsed structure by default
/// (`index.symbols_max_file_size`), so jscpd is told the same.
const MAX_FILE: u64 = 1 << 20;
/// Classes of ours jscpd lacks, judged by hand.
const SAMPLE: usize = 30;
/// Files per language given to lizard.
const LIZARD_FILES: usize = 400;
/// Timed calls per tool.
const CALLS: usize = 20;

fn cache() -> PathBuf {
    super::repo_root().join("benches/.cache")
}

/// A range of lines in a file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Range {
    path: String,
    start: u32,
    end: u32,
}

impl Range {
    fn overlaps(&self, other: &Range) -> bool {
        self.path == other.path && self.start <= other.end && other.start <= self.end
    }
}

/// One of our classes, as the answer gives it.
struct Class {
    kind: String,
    lines: u32,
    places: Vec<Range>,
    snippet: String,
}

/// Whether CodeSage parses `path` (so both tools can see its clones).
fn parsed_language(path: &str) -> Option<&'static str> {
    let language = language::detect(path, b"");
    grammars::has_grammar(language.name).then_some(language.name)
}

/// What one jscpd run gave: its clone pairs among parsed files, wall time, peak memory.
struct JscpdRun {
    pairs: Vec<(Range, Range)>,
    /// Each side's whole lines: jscpd's range counts the lines its first and last token
    /// are on, and a match often begins with the last token of a line (the `)` closing a
    /// call whose name differs) or ends with the first of one; those lines are not copied.
    whole: HashMap<Range, Range>,
    wall: Duration,
    peak_bytes: u64,
}

/// Runs jscpd over the corpus.
fn run_jscpd(corpus: &Path) -> Result<JscpdRun> {
    let jscpd = cache().join("health/node_modules/.bin/jscpd");
    if !jscpd.exists() {
        bail!("no jscpd at {}; run benches/run.sh health", jscpd.display());
    }
    let out = tempfile::tempdir()?;
    let started = Instant::now();
    let output = Command::new("/usr/bin/time")
        .args(["-f", "%M"])
        .arg(&jscpd)
        .args([
            "--min-lines",
            &MIN_LINES.to_string(),
            "--min-tokens",
            &MIN_TOKENS.to_string(),
            "--max-size",
            "1mb",
            "--max-lines",
            "10000000",
            "--reporters",
            "json",
            "--silent",
            "--output",
        ])
        .arg(out.path())
        .arg(".")
        .current_dir(corpus)
        .env("NODE_OPTIONS", "--max-old-space-size=16384")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()?;
    let wall = started.elapsed();
    let peak_kib: u64 = String::from_utf8_lossy(&output.stderr)
        .lines()
        .last()
        .and_then(|line| line.trim().parse().ok())
        .unwrap_or(0);
    let report: Value = serde_json::from_slice(
        &std::fs::read(out.path().join("jscpd-report.json")).context("jscpd's report")?,
    )?;
    let side = |file: &Value| Range {
        path: file["name"]
            .as_str()
            .unwrap_or_default()
            .trim_start_matches("./")
            .to_string(),
        start: file["start"].as_u64().unwrap_or(0) as u32,
        end: file["end"].as_u64().unwrap_or(0) as u32,
    };
    let mut texts: HashMap<String, Vec<String>> = HashMap::new();
    let mut whole = HashMap::new();
    let mut pairs = Vec::new();
    for pair in report["duplicates"].as_array().into_iter().flatten() {
        let (a, b) = (side(&pair["firstFile"]), side(&pair["secondFile"]));
        if parsed_language(&a.path).is_none() || parsed_language(&b.path).is_none() {
            continue;
        }
        for (range, file) in [(&a, &pair["firstFile"]), (&b, &pair["secondFile"])] {
            let lines = texts.entry(range.path.clone()).or_insert_with(|| {
                String::from_utf8_lossy(
                    &std::fs::read(corpus.join(&range.path)).unwrap_or_default(),
                )
                .lines()
                .map(str::to_string)
                .collect()
            });
            let column = |at: &str| file[at]["column"].as_u64().unwrap_or(0) as usize;
            whole.insert(
                range.clone(),
                whole_lines(range, lines, column("startLoc"), column("endLoc")),
            );
        }
        pairs.push((a, b));
    }
    Ok(JscpdRun {
        pairs,
        whole,
        wall,
        peak_bytes: peak_kib * 1024,
    })
}

/// The lines of `range` copied whole, given where its first token starts and its last ends
/// (0-based columns, end exclusive): its first line when only blanks come before that
/// token, its last when only blanks or a comment follow.
fn whole_lines(range: &Range, lines: &[String], start_column: usize, end_column: usize) -> Range {
    let text = |line: u32| -> &str {
        line.checked_sub(1)
            .and_then(|at| lines.get(at as usize))
            .map_or("", String::as_str)
    };
    let before = text(range.start).get(..start_column).unwrap_or("");
    let after = text(range.end).get(end_column..).unwrap_or("").trim_start();
    let after_is_nothing =
        after.is_empty() || ["#", "//", "/*"].iter().any(|c| after.starts_with(c));
    Range {
        path: range.path.clone(),
        start: range.start + u32::from(!before.trim().is_empty()),
        end: range.end - u32::from(!after_is_nothing),
    }
}

/// Every class of ours, paging through the answer.
fn all_classes(session: &mut Session, corpus: &str) -> Result<Vec<Class>> {
    let mut classes = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut arguments = json!({
            "codebase_path": corpus, "min_lines": MIN_LINES, "include_generated": true,
            "max_results": 500, "max_tokens": 0, "max_copies": 0,
        });
        if let Some(cursor) = &cursor {
            arguments["cursor"] = json!(cursor);
        }
        let answer = session.call("find_duplicate_code", arguments)?;
        for class in answer["clone_classes"].as_array().into_iter().flatten() {
            classes.push(Class {
                kind: class["kind"].as_str().unwrap_or_default().to_string(),
                lines: class["lines"].as_u64().unwrap_or(0) as u32,
                places: class["locations"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|at| Range {
                        path: at["file_path"].as_str().unwrap_or_default().to_string(),
                        start: at["start_line"].as_u64().unwrap_or(0) as u32,
                        end: at["end_line"].as_u64().unwrap_or(0) as u32,
                    })
                    .collect(),
                snippet: class["snippet"].as_str().unwrap_or_default().to_string(),
            });
        }
        match answer["cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return Ok(classes),
        }
    }
}

/// Places by file: (range, class, position in the class).
fn places_by_file(classes: &[Class]) -> HashMap<&str, Vec<(&Range, usize, usize)>> {
    let mut by_file: HashMap<&str, Vec<(&Range, usize, usize)>> = HashMap::new();
    for (class_at, class) in classes.iter().enumerate() {
        for (place_at, place) in class.places.iter().enumerate() {
            by_file
                .entry(place.path.as_str())
                .or_default()
                .push((place, class_at, place_at));
        }
    }
    by_file
}

/// The places of ours (class, place in it) overlapping `side`.
fn places_hit(
    by_file: &HashMap<&str, Vec<(&Range, usize, usize)>>,
    side: &Range,
) -> Vec<(usize, usize)> {
    by_file
        .get(side.path.as_str())
        .into_iter()
        .flatten()
        .filter(|(range, _, _)| range.overlaps(side))
        .map(|(_, class, place)| (*class, *place))
        .collect()
}

/// Whether two different places of one class overlap `a` and `b`.
fn pair_found(by_file: &HashMap<&str, Vec<(&Range, usize, usize)>>, a: &Range, b: &Range) -> bool {
    let of_a = places_hit(by_file, a);
    places_hit(by_file, b).iter().any(|(class_b, place_b)| {
        of_a.iter()
            .any(|(class_a, place_a)| class_a == class_b && place_a != place_b)
    })
}

/// Why a jscpd pair is missed, as far as the dumps tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Miss {
    /// A side holds fewer than [`MIN_TOKENS`] code tokens, or its code spans fewer than
    /// [`MIN_LINES`] lines, once comments, docstrings and imports are left out (jscpd counts
    /// those): under the minimum both tools were given.
    UnderMinimum,
    /// Neither side overlaps any place of ours.
    Neither,
    /// One side only overlaps a place of ours.
    OneSide,
    /// Both sides overlap one place of one class (a repetition inside a longer copy).
    OnePlace,
    /// Both sides overlap places, of different classes.
    OtherClasses,
}

impl Miss {
    fn describe(self) -> &'static str {
        match self {
            Miss::UnderMinimum => {
                "a side's whole lines hold fewer than 50 tokens of code, or their code spans \
                 fewer than 10 lines, by our tokenizer: under the minimum both tools were \
                 given, once comments, docstrings and imports (which jscpd counts) are left \
                 out, and lines jscpd's match only starts or ends in (which its line count \
                 includes) are not counted; jscpd also reports sides shorter than its own \
                 line minimum"
            }
            Miss::Neither => "neither side in any class of ours",
            Miss::OneSide => "one side in a class of ours, the other in none",
            Miss::OnePlace => {
                "both sides inside one place of one class (a repetition nested in a longer copy)"
            }
            Miss::OtherClasses => "both sides in classes of ours, but different ones",
        }
    }
}

/// Code tokens (comments, docstrings and imports left out) on each line of corpus files,
/// read and parsed once per file.
#[derive(Default)]
struct CodeTokens {
    lines: HashMap<String, Vec<u16>>,
}

impl CodeTokens {
    /// Code tokens on each line of `range`'s file (none for a file that does not parse).
    fn lines_of(&mut self, corpus: &Path, range: &Range) -> &[u16] {
        self.lines.entry(range.path.clone()).or_insert_with(|| {
            let content = std::fs::read(corpus.join(&range.path)).unwrap_or_default();
            let language = language::detect(&range.path, &content);
            symbols::extract(language.name, &content)
                .map(|parsed| {
                    parsed
                        .fingerprints
                        .lines
                        .iter()
                        .map(|line| line.tokens)
                        .collect()
                })
                .unwrap_or_default()
        })
    }

    /// Whether `range` holds at least [`MIN_TOKENS`] tokens of code spanning at least
    /// [`MIN_LINES`] lines (first to last line with code in it): the minimum both tools were
    /// given, measured on code only.
    fn meets_minimum(&mut self, corpus: &Path, range: &Range) -> bool {
        let lines = self.lines_of(corpus, range);
        let with_code: Vec<(u32, u32)> = (range.start..=range.end)
            .filter_map(|line| {
                let tokens = *lines.get(line.checked_sub(1)? as usize)?;
                (tokens > 0).then_some((line, u32::from(tokens)))
            })
            .collect();
        let tokens: u32 = with_code.iter().map(|(_, tokens)| tokens).sum();
        let span = match (with_code.first(), with_code.last()) {
            (Some((first, _)), Some((last, _))) => last - first + 1,
            _ => 0,
        };
        tokens >= MIN_TOKENS && span >= MIN_LINES
    }
}

/// Why `(a, b)`, a pair we miss, is missed.
fn why_missed(
    by_file: &HashMap<&str, Vec<(&Range, usize, usize)>>,
    tokens: &mut CodeTokens,
    corpus: &Path,
    whole: &HashMap<Range, Range>,
    (a, b): &(Range, Range),
) -> Miss {
    let whole_a = whole.get(a).unwrap_or(a);
    let whole_b = whole.get(b).unwrap_or(b);
    if !tokens.meets_minimum(corpus, whole_a) || !tokens.meets_minimum(corpus, whole_b) {
        return Miss::UnderMinimum;
    }
    let (of_a, of_b) = (places_hit(by_file, a), places_hit(by_file, b));
    match (of_a.is_empty(), of_b.is_empty()) {
        (true, true) => Miss::Neither,
        (true, false) | (false, true) => Miss::OneSide,
        _ if of_a.iter().any(|hit| of_b.contains(hit)) => Miss::OnePlace,
        _ => Miss::OtherClasses,
    }
}

/// A small deterministic generator for the sample.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, bound: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % bound.max(1) as u64) as usize
    }
}

/// Hand verdicts: first occurrence (`path:start-end`) → (verdict, why).
fn verdicts() -> HashMap<String, (String, String)> {
    let text = std::fs::read_to_string(super::repo_root().join("benches/health_verdicts.tsv"))
        .unwrap_or_default();
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let mut fields = line.splitn(3, '\t');
            Some((
                fields.next()?.to_string(),
                (
                    fields.next()?.to_string(),
                    fields.next().unwrap_or("").to_string(),
                ),
            ))
        })
        .collect()
}

/// Timed calls of one tool: (first, p50, p95). The first call may start background work
/// (the semantic index of the root, for `similar` clones): the daemon `pid` is let go idle
/// before the timed ones.
fn latency(
    session: &mut Session,
    pid: u32,
    tool: &str,
    arguments: &Value,
) -> Result<[Duration; 3]> {
    let started = Instant::now();
    session.call(tool, arguments.clone())?;
    let first = started.elapsed();
    wait_idle(pid, Duration::from_secs(900));
    let mut samples = Vec::new();
    for _ in 0..CALLS {
        let started = Instant::now();
        session.call(tool, arguments.clone())?;
        samples.push(started.elapsed());
    }
    samples.sort();
    Ok([first, percentile(&samples, 0.5), percentile(&samples, 0.95)])
}

/// Splits one CSV line (lizard quotes fields that hold commas).
fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    fields.push(field);
    fields
}

/// One function's complexity by both tools.
struct Compared {
    ours: u32,
    theirs: u32,
    file: String,
    name: String,
    line: u32,
    /// A Rust function whose header has a `where` clause (lizard counts one decision for it).
    where_clause: bool,
}

/// Whether the function header starting at line `start` (1-based) of `text` has a `where`
/// clause: its text up to the body's `{` (or a declaration's `;`).
fn header_has_where(text: &str, start: u32) -> bool {
    let header: String = text
        .lines()
        .skip(start.saturating_sub(1) as usize)
        .take(30)
        .collect::<Vec<_>>()
        .join("\n");
    let header = header.split(['{', ';']).next().unwrap_or("");
    header
        .split(|c: char| !c.is_alphanumeric() && c != '_')
        .any(|word| word == "where")
}

/// lizard's functions of `files` matched to ours (by file and first line): per pair, the
/// two complexities; plus lizard's functions we have no definition for.
fn compare_lizard(
    root: &Path,
    files: &[PathBuf],
    language_name: &'static str,
) -> Result<(Vec<Compared>, usize)> {
    let lizard = cache().join("venv/bin/lizard");
    let output = Command::new(&lizard)
        .arg("--csv")
        .args(files)
        .stderr(Stdio::null())
        .output()
        .with_context(|| format!("run {}", lizard.display()))?;
    let mut theirs: HashMap<String, Vec<(u32, u32, String)>> = HashMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let fields = csv_fields(line);
        if fields.len() < 11 {
            continue;
        }
        let (Ok(ccn), Ok(start)) = (fields[1].parse::<u32>(), fields[9].parse::<u32>()) else {
            continue;
        };
        theirs
            .entry(fields[6].clone())
            .or_default()
            .push((start, ccn, fields[7].clone()));
    }
    let per_file: Vec<(Vec<Compared>, usize)> = files
        .par_iter()
        .map(|file| {
            let key = file.display().to_string();
            let Some(functions) = theirs.get(&key) else {
                return (Vec::new(), 0);
            };
            let content = std::fs::read(file).unwrap_or_default();
            let text = String::from_utf8_lossy(&content);
            let ours = symbols::extract(language_name, &content)
                .map(|parsed| parsed.symbols)
                .unwrap_or_default();
            let relative = file
                .strip_prefix(root)
                .unwrap_or(file)
                .display()
                .to_string();
            let mut compared = Vec::new();
            let mut unmatched = 0;
            for (start, ccn, name) in functions {
                // Several functions may start on one line (minified files, one-line
                // callbacks): the one of lizard's name then, and none when that is ambiguous
                // (comparing another function's complexity would measure the matching).
                let on_line: Vec<&symbols::Symbol> = ours
                    .iter()
                    .filter(|symbol| {
                        symbol.kind.is_callable()
                            && (symbol.name_line == *start || symbol.start_line == *start)
                    })
                    .collect();
                let found = match on_line.as_slice() {
                    [one] => Some(*one),
                    _ => {
                        let short = name.rsplit(['.', ':']).next().unwrap_or(name);
                        let named: Vec<&&symbols::Symbol> = on_line
                            .iter()
                            .filter(|symbol| symbol.name == short)
                            .collect();
                        match named.as_slice() {
                            [one] => Some(**one),
                            _ => None,
                        }
                    }
                };
                match found {
                    Some(symbol) => compared.push(Compared {
                        ours: symbol.cyclomatic(),
                        theirs: *ccn,
                        file: relative.clone(),
                        name: name.clone(),
                        line: *start,
                        where_clause: language_name == "Rust"
                            && header_has_where(&text, symbol.start_line.min(*start)),
                    }),
                    None => unmatched += 1,
                }
            }
            (compared, unmatched)
        })
        .collect();
    let unmatched = per_file.iter().map(|(_, unmatched)| unmatched).sum();
    Ok((
        per_file
            .into_iter()
            .flat_map(|(compared, _)| compared)
            .collect(),
        unmatched,
    ))
}

/// Files of each language lizard reads, spread evenly over the corpus (and the Java sources
/// `benches/run.sh` puts in `benches/.cache/java`, the corpus having none).
fn lizard_files(corpus: &Path) -> BTreeMap<&'static str, (PathBuf, Vec<PathBuf>)> {
    let mut by_language: BTreeMap<&'static str, (PathBuf, Vec<PathBuf>)> = BTreeMap::new();
    let java = cache().join("java");
    for root in [corpus.to_path_buf(), java] {
        for file in all_files(&root) {
            let relative = file
                .strip_prefix(&root)
                .unwrap_or(&file)
                .display()
                .to_string();
            let name = language::detect(&relative, b"").name;
            if ["Python", "JavaScript", "C", "Java", "Rust"].contains(&name)
                && file.metadata().is_ok_and(|meta| meta.len() <= MAX_FILE)
            {
                by_language
                    .entry(name)
                    .or_insert_with(|| (root.clone(), Vec::new()))
                    .1
                    .push(file);
            }
        }
    }
    for (_, files) in by_language.values_mut() {
        files.sort();
        let step = files.len().div_ceil(LIZARD_FILES).max(1);
        *files = files.iter().step_by(step).cloned().collect();
    }
    by_language
}

/// Where the bytes of the stored structures go: (with fingerprints, without), in bytes,
/// over every parsed file of the corpus.
fn fingerprint_bytes(corpus: &Path) -> (u64, u64, u64) {
    all_files(corpus)
        .par_iter()
        .filter(|file| file.metadata().is_ok_and(|meta| meta.len() <= MAX_FILE))
        .map(|file| {
            let relative = file
                .strip_prefix(corpus)
                .unwrap_or(file)
                .display()
                .to_string();
            let Ok(content) = std::fs::read(file) else {
                return (0, 0, 0);
            };
            let language = language::detect(&relative, &content);
            let Some(mut parsed) = symbols::extract(language.name, &content) else {
                return (0, 0, 0);
            };
            let with = parsed.encode().len() as u64;
            parsed.fingerprints = Default::default();
            let without = parsed.encode().len() as u64;
            (with, without, 1)
        })
        .reduce(|| (0, 0, 0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2))
}

/// scc's counts per language: (files, code, comment, blank).
fn run_scc(corpus: &Path) -> Result<(BTreeMap<String, [u64; 4]>, Duration)> {
    let scc = cache().join("venv/bin/scc");
    let started = Instant::now();
    let output = Command::new(&scc)
        .args(["--format", "json", "--no-duplicates=false"])
        .arg(corpus)
        .stderr(Stdio::null())
        .output()
        .with_context(|| format!("run {}", scc.display()))?;
    let wall = started.elapsed();
    let languages: Value = serde_json::from_slice(&output.stdout).context("scc's JSON")?;
    let mut out = BTreeMap::new();
    for language in languages.as_array().into_iter().flatten() {
        let field = |name: &str| language[name].as_u64().unwrap_or(0);
        out.insert(
            language["Name"].as_str().unwrap_or("?").to_lowercase(),
            [
                field("Count"),
                field("Code"),
                field("Comment"),
                field("Blank"),
            ],
        );
    }
    Ok((out, wall))
}

/// How much faster `ours` is than `theirs`, worded either way.
fn speedup(theirs: Duration, ours: Duration) -> String {
    let ratio = theirs.as_secs_f64() / ours.as_secs_f64().max(1e-9);
    if ratio >= 1.0 {
        format!("{ratio:.1}× faster")
    } else {
        format!("{:.1}× slower", 1.0 / ratio)
    }
}

fn percent(part: usize, whole: usize) -> String {
    format!("{:.1}%", 100.0 * part as f64 / whole.max(1) as f64)
}

fn deviation(ours: u64, theirs: u64) -> String {
    if theirs == 0 {
        return if ours == 0 { "0".into() } else { "—".into() };
    }
    format!(
        "{:+.2}%",
        100.0 * (ours as f64 - theirs as f64) / theirs as f64
    )
}

/// Cyclomatic complexity next to lizard: the table, with every difference written to
/// `benches/.cache/lizard-differences.tsv` for reading (`corpus-bench lizard` runs it alone).
pub fn lizard_section(args: &Args) -> Result<String> {
    let mut report = String::new();
    report.push_str(
        "### Cyclomatic complexity vs lizard 1.24.3\n\n\
         lizard's functions matched to ours by file and first line (the name's line or the \
         definition's; where several functions start on that line, by name too, and not \
         compared when that is still ambiguous), up to 400 files per language spread over the corpus (Java: the Java \
         sources of the npm package `cordova-android`, the corpus having none).\n\n\
         | language | files | lizard functions | matched | same complexity | share | mean gap where different |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
    );
    let mut differences = String::new();
    let mut under_target: Vec<&str> = Vec::new();
    let mut where_note = String::new();
    for (language_name, (root, files)) in lizard_files(&args.corpus) {
        let (compared, unmatched) = compare_lizard(&root, &files, language_name)?;
        let same = compared.iter().filter(|c| c.ours == c.theirs).count();
        if same * 10 < compared.len() * 9 {
            under_target.push(language_name);
        }
        let differing: Vec<&Compared> = compared.iter().filter(|c| c.ours != c.theirs).collect();
        let mean_gap = differing
            .iter()
            .map(|c| c.ours.abs_diff(c.theirs) as f64)
            .sum::<f64>()
            / differing.len().max(1) as f64;
        report.push_str(&format!(
            "| {language_name} | {} | {} | {} | {same} | **{}** | {mean_gap:.1} |\n",
            files.len(),
            compared.len() + unmatched,
            compared.len(),
            percent(same, compared.len()),
        ));
        if language_name == "Rust" {
            let where_only = differing
                .iter()
                .filter(|c| c.where_clause && c.theirs == c.ours + 1)
                .count();
            where_note = format!(
                "Rust: {where_only} of the {} differences are exactly lizard's one decision \
                 for a `where` clause; with those set aside, {} of {} functions agree ({}).\n",
                differing.len(),
                same + where_only,
                compared.len(),
                percent(same + where_only, compared.len()),
            );
        }
        for c in &differing {
            differences.push_str(&format!(
                "{language_name}\t{}:{}\t{}\tours {}\tlizard {}\n",
                c.file, c.line, c.name, c.ours, c.theirs
            ));
        }
    }
    std::fs::write(cache().join("lizard-differences.tsv"), differences)?;
    report.push_str(&format!("\n{where_note}"));
    report.push_str(LIZARD_DIFFERENCES);
    report.push_str(&if under_target.is_empty() {
        "Every language meets the 90% target.\n".to_string()
    } else {
        format!(
            "Under the 90% target: {} (the conventions above are CodeSage's considered \
             choices, not tuned to lizard).\n",
            under_target.join(", ")
        )
    });

    Ok(report)
}

/// CPU time `pid` has used (user + system), from `/proc`.
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) end with `)`.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// Waits until process `pid` uses under 5% of a core over 3 s (or `limit` passes).
fn wait_idle(pid: u32, limit: Duration) {
    let deadline = Instant::now() + limit;
    let mut last = cpu_time(pid);
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(3));
        let now = cpu_time(pid);
        match (last, now) {
            (Some(before), Some(after))
                if after.saturating_sub(before) < Duration::from_millis(150) =>
            {
                return;
            }
            (_, None) => return,
            _ => last = now,
        }
    }
}

/// Waits until every clone report the daemon keeps for `root` is warm; returns the longest
/// background answer among them.
fn wait_warm(env: &Env, root: &str, limit: Duration) -> Result<Duration> {
    let deadline = Instant::now() + limit;
    loop {
        // The daemon is still loading its store at first: status answers once it listens.
        if let Ok(status) = env.status() {
            let reports: Vec<Value> = status["roots"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|entry| entry["path"].as_str() == Some(root))
                .flat_map(|entry| {
                    entry["clone_reports"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                })
                .collect();
            if !reports.is_empty() && reports.iter().all(|report| report["warm"] == true) {
                let longest = reports
                    .iter()
                    .filter_map(|report| report["last_ms"].as_u64())
                    .max()
                    .unwrap_or(0);
                return Ok(Duration::from_millis(longest));
            }
        }
        if Instant::now() > deadline {
            bail!("the clone reports were not warm {limit:?} after the restart");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The section.
pub fn run(args: &Args) -> Result<String> {
    let (file_count, corpus_bytes) = corpus_size(&args.corpus);
    let corpus = args.corpus.display().to_string();
    let mut report = format!(
        "Measured {}. Corpus: {} files, {} MiB. Release build; warm page cache.\n\n",
        machine(),
        file_count,
        mib(corpus_bytes)
    );

    // The daemon, the index and our side of every comparison. The full report lists every
    // copy of every class (`max_copies: 0`); one class of generated boilerplate can hold
    // thousands, more than the default answer limit lets through in one answer.
    let env = Env::new()?;
    std::fs::write(
        env.dir.path().join("none.toml"),
        "[server]\nanswer_tokens_limit = 4000000\n",
    )?;
    let mut daemon = env.start_daemon()?;
    let started = Instant::now();
    env.codesage(&["index", &corpus, "--json"])?;
    let index_wall = started.elapsed();
    let status = env.settled_status()?;
    let symbols_table = super::table_bytes(&status, "symbols");
    // The semantic worker chunks the root after indexing and builds its lexical index: let
    // the daemon go idle, so that the timings below do not share the cores with it.
    wait_idle(daemon.id(), Duration::from_secs(900));
    let mut session = Session::open(&env)?;
    let default_call = json!({"codebase_path": corpus});
    let dups = latency(
        &mut session,
        daemon.id(),
        "find_duplicate_code",
        &default_call,
    )?;
    let improvements = latency(
        &mut session,
        daemon.id(),
        "analyze_codebase_improvements",
        &default_call,
    )?;
    // One edit: a file gains a copy of one of its own functions; the default question was
    // just asked, the answer after the edit is the same question's, brought up to date (by
    // the daemon in the background once the edit settles, or by the question itself).
    let edited = super::sample_files(&args.corpus, 40)
        .into_iter()
        .find(|path| path.extension().is_some_and(|ext| ext == "py"))
        .context("a Python file to edit")?;
    let mut restore = Restore(Vec::new());
    let original = std::fs::read_to_string(&edited)?;
    let copied: String = original.lines().take(40).collect::<Vec<_>>().join("\n");
    restore.edit(&edited, &format!("\n\n{copied}\n"))?;
    std::thread::sleep(Duration::from_secs(3));
    env.settled_status()?;
    let started = Instant::now();
    session.call("find_duplicate_code", default_call.clone())?;
    let after_edit = started.elapsed();
    // The file put back and that change settled too, so that the timings below are the full
    // report's own (before, the restore's batch could land in the middle of either).
    drop(restore);
    std::thread::sleep(Duration::from_secs(3));
    env.settled_status()?;
    // The full report last: the question the daemon keeps warm across the restart below
    // (`health.kept_detections` = 1 by default: the last question asked of a root).
    let started = Instant::now();
    let classes = all_classes(&mut session, &corpus)?;
    let full_report = started.elapsed();
    let full_again = {
        let started = Instant::now();
        all_classes(&mut session, &corpus)?;
        started.elapsed()
    };
    let loc = session.call(
        "count_lines_of_code",
        json!({"codebase_path": corpus, "max_results": 0}),
    )?;
    let daemon_rss = env.status()?["rss_bytes"].as_u64().unwrap_or(0);
    session.close()?;
    env.stop()?;
    daemon.wait()?;

    // The daemon remembers the clone questions asked of the root and answers them again in
    // the background after a restart (`health.warm_clone_reports`): restarted, nobody
    // asking, it is timed until they are warm, then the full report is asked again.
    let mut daemon = env.start_daemon()?;
    let restarted = Instant::now();
    let warmed = wait_warm(&env, &corpus, Duration::from_secs(900))?;
    let warm_after = restarted.elapsed();
    // After a restart the watches are placed again (until then every question checks the
    // root for changes first) and the semantic worker chunks the root again: timed once both
    // are done, as the first report was.
    let watching = Instant::now() + Duration::from_secs(300);
    while Instant::now() < watching {
        let status = env.status()?;
        let mode = status["roots"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|entry| entry["path"].as_str() == Some(corpus.as_str()))
            .and_then(|entry| entry["watch"]["mode"].as_str().map(str::to_string));
        if mode.as_deref() == Some("watching") {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    wait_idle(daemon.id(), Duration::from_secs(900));
    let mut session = Session::open(&env)?;
    let started = Instant::now();
    let warm_classes = all_classes(&mut session, &corpus)?;
    let full_warm = started.elapsed();
    if warm_classes.len() != classes.len() {
        bail!(
            "the report after the restart has {} classes, the first {}",
            warm_classes.len(),
            classes.len()
        );
    }
    session.close()?;
    env.stop()?;
    daemon.wait()?;

    // jscpd, same files.
    let JscpdRun {
        pairs: jscpd_pairs,
        whole: jscpd_whole,
        wall: jscpd_wall,
        peak_bytes: jscpd_peak,
    } = run_jscpd(&args.corpus)?;
    let by_file = places_by_file(&classes);
    let missed: Vec<&(Range, Range)> = jscpd_pairs
        .iter()
        .filter(|(a, b)| !pair_found(&by_file, a, b))
        .collect();
    let found = jscpd_pairs.len() - missed.len();
    // Every pair missed and every class of ours, for reading the differences afterwards.
    let mut missed_dump = String::new();
    for (a, b) in &missed {
        missed_dump.push_str(&format!(
            "{}:{}-{}\t{}:{}-{}\n",
            a.path, a.start, a.end, b.path, b.start, b.end
        ));
    }
    std::fs::write(cache().join("health-missed.tsv"), missed_dump)?;
    let mut classes_dump = String::new();
    for class in &classes {
        let places: Vec<String> = class
            .places
            .iter()
            .map(|at| format!("{}:{}-{}", at.path, at.start, at.end))
            .collect();
        classes_dump.push_str(&format!("{}\t{}\n", class.kind, places.join("\t")));
    }
    std::fs::write(cache().join("health-classes.tsv"), classes_dump)?;
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    classes
        .iter()
        .for_each(|class| *kinds.entry(&class.kind).or_default() += 1);
    report.push_str(&format!(
        "### Clone detection vs jscpd@5.3.2\n\n\
         Both on every file CodeSage parses (13 languages), at most 1 MiB, {MIN_LINES} lines and \
         {MIN_TOKENS} tokens at least; ours with `include_generated` (jscpd skips nothing \
         either). A jscpd pair counts as found when one of our classes holds two places \
         overlapping its two sides. CodeSage's times are through the shim from the warm index \
         (indexed in {:.0} s).\n\n\
         | measure | CodeSage | jscpd | ratio |\n|---|---:|---:|---:|\n\
         | full report, every class with exact ranges (first, cold detection) | {} | {} | {} |\n\
         | full report again (detection cached) | {} | | {} |\n\
         | full report after a daemon restart, the last question kept warm in the background (warm {} after the restart; the background answer took {}) | {} | | {} |\n\
         | default answer (20 largest classes): first / p50 / p95 | {} / {} / {} | | |\n\
         | after one file edit (a 40-line copy appended to a Python file), next default answer 3 s later (same question as just before; the daemon brings it up to date in the background once the edit settles) | {} | (full rerun) | |\n\
         | memory (daemon RSS after, whole index included / jscpd peak) | {} MiB | {} MiB | |\n\
         | clone classes (ours) / clone pairs (jscpd) | {} | {} | |\n\
         | **recall of jscpd's pairs** | **{}** ({found} of {}) | | |\n\n\
         Our classes by kind: {}.\n\n",
        index_wall.as_secs_f64(),
        ms(full_report),
        ms(jscpd_wall),
        speedup(jscpd_wall, full_report),
        ms(full_again),
        speedup(jscpd_wall, full_again),
        ms(warm_after),
        ms(warmed),
        ms(full_warm),
        speedup(jscpd_wall, full_warm),
        ms(dups[0]),
        ms(dups[1]),
        ms(dups[2]),
        ms(after_edit),
        daemon_rss / (1 << 20),
        jscpd_peak / (1 << 20),
        classes.len(),
        jscpd_pairs.len(),
        percent(found, jscpd_pairs.len()),
        jscpd_pairs.len(),
        kinds
            .iter()
            .map(|(kind, count)| format!("{kind} {count}"))
            .collect::<Vec<_>>()
            .join(", "),
    ));
    if !missed.is_empty() {
        let mut tokens = CodeTokens::default();
        let mut why: BTreeMap<Miss, usize> = BTreeMap::new();
        // The missed pairs again, each with why, for reading them by kind afterwards.
        let mut why_dump = String::new();
        for pair in &missed {
            let reason = why_missed(&by_file, &mut tokens, &args.corpus, &jscpd_whole, pair);
            *why.entry(reason).or_default() += 1;
            let (a, b) = pair;
            why_dump.push_str(&format!(
                "{reason:?}\t{}:{}-{}\t{}:{}-{}\n",
                a.path, a.start, a.end, b.path, b.start, b.end
            ));
        }
        std::fs::write(cache().join("health-missed-why.tsv"), why_dump)?;
        // Recall among the pairs both tools count as long enough.
        // (And counting the lines jscpd's match only begins or ends in, as jscpd does.)
        let (mut eligible, mut eligible_found) = (0, 0);
        let (mut partial, mut partial_found) = (0, 0);
        for (a, b) in &jscpd_pairs {
            let whole = |range: &Range| jscpd_whole.get(range).unwrap_or(range).clone();
            let found = pair_found(&by_file, a, b);
            if tokens.meets_minimum(&args.corpus, &whole(a))
                && tokens.meets_minimum(&args.corpus, &whole(b))
            {
                eligible += 1;
                eligible_found += usize::from(found);
            }
            if tokens.meets_minimum(&args.corpus, a) && tokens.meets_minimum(&args.corpus, b) {
                partial += 1;
                partial_found += usize::from(found);
            }
        }
        report.push_str(&format!(
            "Why the {} missed pairs are missed (from where their sides fall among our \
             classes):\n\n| reason | pairs | share of jscpd's pairs |\n|---|---:|---:|\n",
            missed.len()
        ));
        for (reason, count) in &why {
            report.push_str(&format!(
                "| {} | {count} | {} |\n",
                reason.describe(),
                percent(*count, jscpd_pairs.len())
            ));
        }
        report.push_str(&format!(
            "\nOf the {eligible} pairs with at least {MIN_TOKENS} tokens of code spanning at least \
             {MIN_LINES} lines on each side by our tokenizer, in the lines jscpd's match covers \
             whole (the minimum both tools were given, on code and whole lines, as we count \
             ours), we find {eligible_found}: **{}**. Counting the lines jscpd's match only \
             begins or ends in (as jscpd counts), {partial} pairs meet that minimum and we \
             find {partial_found}: {}.\n\n",
            percent(eligible_found, eligible),
            percent(partial_found, partial)
        ));
        report.push_str(
            "Some of jscpd's pairs we miss:\n\n| first side | second side |\n|---|---|\n",
        );
        let mut rng = Lcg(7);
        for _ in 0..missed.len().min(8) {
            let (a, b) = missed[rng.below(missed.len())];
            report.push_str(&format!(
                "| `{}:{}-{}` | `{}:{}-{}` |\n",
                a.path, a.start, a.end, b.path, b.start, b.end
            ));
        }
        report.push('\n');
    }

    // A random sample of ours jscpd lacks, judged by hand.
    let mut jscpd_by_file: HashMap<&str, Vec<(&Range, usize, usize)>> = HashMap::new();
    for (at, (a, b)) in jscpd_pairs.iter().enumerate() {
        jscpd_by_file
            .entry(a.path.as_str())
            .or_default()
            .push((a, at, 0));
        jscpd_by_file
            .entry(b.path.as_str())
            .or_default()
            .push((b, at, 1));
    }
    let lacked: Vec<&Class> = classes
        .iter()
        .filter(|class| {
            !class.places.iter().enumerate().any(|(i, a)| {
                class.places[i + 1..]
                    .iter()
                    .any(|b| pair_found(&jscpd_by_file, a, b))
            })
        })
        .collect();
    // The judged sample stays fixed once verdicts are written (a re-run finds the same
    // classes by their first place); without verdicts, a fixed-seed sample is drawn and
    // dumped for judging.
    let place_text = |p: &Range| format!("{}:{}-{}", p.path, p.start, p.end);
    let first_of = |class: &Class| class.places.first().map(place_text).unwrap_or_default();
    let judged = verdicts();
    let mut sample: Vec<(String, Option<&Class>)> = judged
        .keys()
        .map(|first| {
            (
                first.clone(),
                lacked
                    .iter()
                    .copied()
                    .find(|class| first_of(class) == *first),
            )
        })
        .collect();
    sample.sort_by(|a, b| a.0.cmp(&b.0));
    if sample.is_empty() {
        let mut rng = Lcg(2026);
        let mut picked: Vec<usize> = Vec::new();
        while picked.len() < SAMPLE.min(lacked.len()) {
            let at = rng.below(lacked.len());
            if !picked.contains(&at) {
                picked.push(at);
            }
        }
        sample = picked
            .iter()
            .map(|&at| (first_of(lacked[at]), Some(lacked[at])))
            .collect();
    }
    let mut sample_dump = String::new();
    let mut rows = String::new();
    let mut correct = 0;
    let mut seen = 0;
    for (number, (first, class)) in sample.iter().enumerate() {
        let (verdict, why) = judged
            .get(first)
            .cloned()
            .unwrap_or_else(|| ("not judged".into(), String::new()));
        // A judged class this run no longer finds (the detector changed) does not count.
        if verdict != "not judged" && class.is_some() {
            seen += 1;
            if verdict == "clone" {
                correct += 1;
            }
        }
        let Some(class) = class else {
            rows.push_str(&format!(
                "| {} | — | — | `{first}` | {verdict} (not among this run's classes) | {why} |\n",
                number + 1
            ));
            continue;
        };
        let places: Vec<String> = class.places.iter().map(place_text).collect();
        sample_dump.push_str(&format!(
            "## {} {} ({} lines, {} copies)\n{}\n```\n{}\n```\n\n",
            number + 1,
            class.kind,
            class.lines,
            class.places.len(),
            places.join("\n"),
            class.snippet
        ));
        rows.push_str(&format!(
            "| {} | {} | {} × {} | `{first}` | {verdict} | {why} |\n",
            number + 1,
            class.kind,
            class.places.len(),
            class.lines,
        ));
    }
    std::fs::create_dir_all(cache())?;
    std::fs::write(cache().join("health-sample.md"), sample_dump)?;
    report.push_str(&format!(
        "### Precision: {SAMPLE} random classes of ours that jscpd lacks, judged by hand\n\n\
         {} of our {} classes have no jscpd pair between any two of their places. A fixed-seed \
         sample of them, each read in full and judged (verdicts kept in \
         `benches/health_verdicts.tsv`; later runs show the same classes, and those a run no \
         longer finds are shown but not counted): **{correct} of {seen} judged and found are \
         real clones**.\n\n\
         | # | kind | copies × lines | first place | verdict | why |\n|---|---|---|---|---|---|\n{rows}\n",
        lacked.len(),
        classes.len(),
    ));

    report.push_str(&lizard_section(args)?);
    // Line counts vs scc.
    let (scc, scc_wall) = run_scc(&args.corpus)?;
    report.push_str(&format!(
        "\n### `count_lines_of_code` vs scc 4.1.0\n\n\
         Languages with 20 files or more on both sides; scc took {} over the corpus, the \
         tool answers from the index.\n\n\
         | language | files (ours / scc) | code | vs scc | comment | vs scc | blank | vs scc |\n\
         |---|---|---:|---:|---:|---:|---:|---:|\n",
        ms(scc_wall)
    ));
    for language in loc["languages"].as_array().into_iter().flatten() {
        let name = language["language"].as_str().unwrap_or("?").to_lowercase();
        let field = |key: &str| language[key].as_u64().unwrap_or(0);
        let scc_name = match name.as_str() {
            "c++" | "cpp" => "c++",
            "c#" | "csharp" => "c#",
            "shell" | "bash" => "shell",
            other => other,
        };
        let Some(theirs) = scc.get(scc_name) else {
            continue;
        };
        if field("files") < 20 || theirs[0] < 20 {
            continue;
        }
        report.push_str(&format!(
            "| {name} | {} / {} | {} | {} | {} | {} | {} | {} |\n",
            field("files"),
            theirs[0],
            field("code"),
            deviation(field("code"), theirs[1]),
            field("comment"),
            deviation(field("comment"), theirs[2]),
            field("blank"),
            deviation(field("blank"), theirs[3]),
        ));
    }
    report.push_str(SCC_DIFFERENCES);

    // Latency and store growth.
    let (with, without, parsed) = fingerprint_bytes(&args.corpus);
    report.push_str(&format!(
        "\n### Latency through the shim and the cost of fingerprints\n\n\
         | measure | value |\n|---|---:|\n\
         | `find_duplicate_code` (defaults), first / p50 / p95 of {CALLS} | {} / {} / {} |\n\
         | `analyze_codebase_improvements`, first / p50 / p95 of {CALLS} | {} / {} / {} |\n\
         | stored structure of {parsed} parsed files, without → with fingerprints (before compression) | {} → {} MiB (+{}) |\n\
         | `symbols` table in the store (structure + fingerprints, compressed) | {} MiB |\n\n\
         Target: p50 ≤ 300 ms from the warm index.\n\n",
        ms(dups[0]),
        ms(dups[1]),
        ms(dups[2]),
        ms(improvements[0]),
        ms(improvements[1]),
        ms(improvements[2]),
        mib(without),
        mib(with),
        percent((with - without) as usize, without as usize),
        mib(symbols_table),
    ));
    Ok(report)
}

/// What the complexity differences come from (read from a sample of them the run leaves in
/// `benches/.cache/lizard-differences.tsv`).
const LIZARD_DIFFERENCES: &str = "\nWhere the two differ (read from the differences, all \
written to `benches/.cache/lizard-differences.tsv`): **Rust** — CodeSage counts the `?` \
operator (an early return), a `match` of N arms as N − 1 decisions and `let … else`, and not \
`loop` (which decides nothing itself), as lizard does. Lizard adds one for a `where` clause \
(generic bounds are not decisions: we do not follow it; that is most of the Rust \
differences, counted above), and its tokens misread a few other functions: the `||` of a \
closure without parameters (`|| async { … }`) counts as a logical or, the `?` of `?Sized` \
as an early return, and some macro bodies differently. **JavaScript** — functions passed \
as arguments (callbacks) count apart from their caller for us as for lizard; the \
differences left are mostly minified and bundled files (`*.min.js`, `*.profiling.min.js`), \
where lizard's tokens and ours split some one-line functions differently, and functions \
lizard sees where we see none (a function returned or wrapped in an IIFE, whose decisions \
count to the enclosing one). **C** — lizard counts preprocessor conditionals (`#if`, \
`#ifdef`) as branches; we count only the code's own decisions. **Python** — lizard counts \
the `for`/`if` of comprehensions, we do not; a few functions lizard misreads (a \
complexity of 1 for a 17-branch function).\n";

/// What the line-count differences come from.
const SCC_DIFFERENCES: &str = "\nWhy the counts differ where they do (checked file by file on \
the largest gaps): **Python** — scc counts docstrings as comments, CodeSage counts them as \
code (so our code is higher and our comments lower; blank lines inside docstrings move with \
them). **JavaScript** — the index leaves out files over `index.max_file_size` (the bundled \
`typescript.js`, `lib/tsserver.js` and similar, several MiB each), which scc counts: those \
21 files hold most of the difference. **TypeScript** and **C** — scc counts `.d.ts` files \
as \"TypeScript Typings\" and `.h` files as \"C Header\", separate languages; we count them as \
TypeScript and C. **TOML** — `Cargo.toml.orig` files are TOML to us, unknown to scc. \
**JSON** — the crates' `.cargo_vcs_info.json` and `.cargo-checksum.json` are hidden files, \
which the index skips like every hidden file. **Assembly** — different comment syntaxes per \
assembler dialect (`;`, `#`, `//`, `@`). Rust (−5% code) comes from the same file-size limit \
(generated binding files over 1 MiB). HTML, reStructuredText, Markdown, Perl and CSS are \
within about 1% on code.\n";
