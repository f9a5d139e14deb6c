//! Exact (regex) search over a root's stored contents.
//!
//! A [`Query`] is compiled once from [`SearchParams`]: the regex, its trigram query, file
//! filters and limits. It runs on a consistent [`View`] of a root: the trigram index picks
//! candidate documents (all of them when the pattern has no usable trigram), the filters
//! narrow them, and the candidates are verified with the real regex in path order, in
//! parallel chunks, until the result limit is reached — so answers are exact and
//! deterministic. With redaction on, lines are shown with their secrets withheld and `.env`
//! files are matched as they are shown ([`crate::redact`]). This module reads the store but
//! never changes it.

pub mod matcher;
pub mod prefilter;

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};

use codesage_shared::config::SearchConfig;
use codesage_shared::protocol::{FileMatches, LineMatch, SearchParams};
use globset::GlobSet;
use rayon::prelude::*;
use regex::bytes::{Regex, RegexBuilder};

use crate::indexer::language;
use crate::store::{StoreError, View};
use crate::trigram::TrigramQuery;
use crate::trigram::index::Doc;
use codesage_shared::words::{Explain, Words};
use prefilter::LinePrefilter;

/// Files scanned in parallel in the first round; a round's results are merged in path order.
/// Each later round is twice as large, so a common pattern stops after a few small rounds
/// while a selective one does not wait on many round barriers.
const FIRST_ROUND: usize = 64;
/// Largest round.
const MAX_ROUND: usize = 4096;

/// Compiled regexes larger than this are refused (protects the daemon's memory: each search
/// thread also gets a lazy DFA cache of up to this size). A few hundred Unicode word
/// characters (`\w{300}`) still compile; a million-state expansion built to exhaust memory
/// (`(a{1000}){1000}`, about 30 MiB) does not.
const REGEX_SIZE_LIMIT: usize = 16 * 1024 * 1024;

/// Longest pattern accepted, in bytes. Matches never span lines, and a line of code is far
/// shorter; a longer pattern is a mistake or an attack, and answers echo their pattern.
pub const MAX_PATTERN_BYTES: usize = 8 * 1024;

/// Error messages longer than this are shortened: the regex parser quotes the whole pattern
/// with a caret under the fault, which helps with a short pattern and buries the reason
/// under a long one.
const MAX_REGEX_ERROR_CHARS: usize = 400;

/// A search request that cannot run.
#[derive(Debug, PartialEq)]
pub enum SearchError {
    /// The pattern is empty.
    EmptyPattern,
    /// The pattern is longer than [`MAX_PATTERN_BYTES`] (its length).
    PatternTooLong(usize),
    /// The pattern is not a valid regular expression.
    InvalidRegex(String),
    /// An exclude pattern is not a valid glob.
    InvalidGlob(String),
}

impl Explain for SearchError {
    fn explain(&self, words: Words) -> String {
        match self {
            SearchError::EmptyPattern => {
                "the search pattern is empty; give a regular expression or a literal to find"
                    .to_string()
            }
            SearchError::PatternTooLong(length) => format!(
                "the search pattern is {length} bytes long, longer than the \
                 {MAX_PATTERN_BYTES} bytes accepted; matches never span lines, so search for \
                 a distinctive part of one line"
            ),
            SearchError::InvalidRegex(reason) => format!(
                "invalid regular expression: {reason}\n(Rust regex syntax; lookaround and \
                 backreferences are not supported; pass {} to search for the text literally)",
                words.param("fixed_strings=true")
            ),
            SearchError::InvalidGlob(reason) => format!("invalid exclude pattern: {reason}"),
        }
    }
}

impl std::fmt::Display for SearchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        codesage_shared::words::display(self, f)
    }
}

impl std::error::Error for SearchError {}

/// A compiled search.
#[derive(Debug)]
pub struct Query {
    regex: Regex,
    /// Finds the few lines worth running `regex` on, when its best literal is not a prefix.
    line_prefilter: Option<LinePrefilter>,
    trigrams: TrigramQuery,
    filter: FileFilter,
    context_lines: usize,
    /// Most matching lines to return; `usize::MAX` for all.
    limit: usize,
    max_line_chars: usize,
    /// Name each match's enclosing definition (from the in-memory definitions).
    symbols: bool,
    /// Show lines with their secrets withheld (see [`crate::redact`]).
    redact: bool,
    /// Lines shown (matches and context) that had something withheld.
    redacted: AtomicU64,
}

/// Which files a search looks at: a directory prefix, file types (extensions or language
/// names) and exclude globs.
#[derive(Debug, Default)]
pub struct FileFilter {
    /// Lower-case extensions without dot.
    extensions: HashSet<String>,
    /// Language names.
    languages: HashSet<&'static str>,
    excludes: Option<GlobSet>,
    /// Only paths under this `/`-terminated prefix.
    prefix: Option<String>,
}

impl FileFilter {
    /// The filter of a search under `prefix` (a directory relative to the root, `""` for
    /// all) with `file_types` and `exclude_patterns` as `search_codebase` takes them.
    pub fn new(
        prefix: &str,
        file_types: &[String],
        exclude_patterns: &[String],
    ) -> Result<FileFilter, SearchError> {
        let mut filter = FileFilter {
            prefix: (!prefix.is_empty()).then(|| format!("{}/", prefix.trim_end_matches('/'))),
            ..FileFilter::default()
        };
        for file_type in file_types {
            let normalized = file_type
                .trim()
                .trim_start_matches("*.")
                .trim_start_matches('.')
                .to_ascii_lowercase();
            if normalized.is_empty() {
                continue;
            }
            if let Some(language) = language::by_name_or_extension(&normalized)
                && language.name.eq_ignore_ascii_case(&normalized)
            {
                filter.languages.insert(language.name);
            } else {
                filter.extensions.insert(normalized);
            }
        }
        if !exclude_patterns.is_empty() {
            filter.excludes = Some(exclude_globs(exclude_patterns)?);
        }
        Ok(filter)
    }

    /// Whether the filter lets every file through.
    pub fn accepts_all(&self) -> bool {
        self.prefix.is_none()
            && self.extensions.is_empty()
            && self.languages.is_empty()
            && self.excludes.is_none()
    }

    /// Whether the file at `path` (relative to the root) in `language` is searched.
    pub fn accepts(&self, path: &str, language: &str) -> bool {
        if let Some(prefix) = &self.prefix
            && !path.starts_with(prefix.as_str())
        {
            return false;
        }
        if !(self.extensions.is_empty() && self.languages.is_empty()) {
            let extension = path
                .rsplit('/')
                .next()
                .and_then(|name| name.rsplit_once('.'))
                .map(|(_, extension)| extension.to_ascii_lowercase());
            let by_extension = extension.is_some_and(|ext| self.extensions.contains(&ext));
            if !by_extension && !self.languages.contains(language) {
                return false;
            }
        }
        !self
            .excludes
            .as_ref()
            .is_some_and(|excludes| excludes.is_match(path))
    }
}

/// Refuses a pattern longer than [`MAX_PATTERN_BYTES`].
pub fn check_pattern_length(pattern: &str) -> Result<(), SearchError> {
    if pattern.len() > MAX_PATTERN_BYTES {
        return Err(SearchError::PatternTooLong(pattern.len()));
    }
    Ok(())
}

/// A regex compilation error fit for a message: as the regex crate words it when short, else
/// just the reason (the last `error:` line), without the quoted pattern.
pub fn describe_regex_error(err: &regex::Error) -> String {
    let text = err.to_string();
    if text.chars().count() <= MAX_REGEX_ERROR_CHARS {
        return text;
    }
    let reason = text
        .lines()
        .rev()
        .find_map(|line| line.trim_start().strip_prefix("error:"))
        .map(str::trim);
    match reason {
        Some(reason) => format!("regex parse error: {reason}"),
        None => {
            let cut: String = text.chars().take(MAX_REGEX_ERROR_CHARS).collect();
            format!("{cut}…")
        }
    }
}

/// Builds the glob set for user exclude patterns: a pattern matches the relative path, and a
/// pattern without `/` also matches any single path component (`tests` excludes `a/tests/x`).
fn exclude_globs(patterns: &[String]) -> Result<GlobSet, SearchError> {
    let mut builder = globset::GlobSetBuilder::new();
    for pattern in patterns.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        let pattern = pattern.trim_start_matches("./").trim_end_matches('/');
        let mut add = |glob: String| -> Result<(), SearchError> {
            let glob = globset::GlobBuilder::new(&glob)
                .literal_separator(false)
                .build()
                .map_err(|err| SearchError::InvalidGlob(format!("{pattern:?}: {err}")))?;
            builder.add(glob);
            Ok(())
        };
        add(pattern.to_string())?;
        add(format!("{pattern}/**"))?;
        if !pattern.starts_with('/') {
            add(format!("**/{pattern}"))?;
            add(format!("**/{pattern}/**"))?;
        }
    }
    builder
        .build()
        .map_err(|err| SearchError::InvalidGlob(err.to_string()))
}

impl Query {
    /// Compiles `params` under the daemon's search limits. `prefix` restricts the search to a
    /// directory inside the root (relative, `/`-separated).
    pub fn compile(
        params: &SearchParams,
        prefix: Option<String>,
        config: &SearchConfig,
    ) -> Result<Query, SearchError> {
        if params.pattern.is_empty() {
            return Err(SearchError::EmptyPattern);
        }
        check_pattern_length(&params.pattern)?;
        let pattern = if params.fixed_strings {
            regex::escape(&params.pattern)
        } else {
            params.pattern.clone()
        };
        let regex = RegexBuilder::new(&pattern)
            .multi_line(true)
            .case_insensitive(!params.case_sensitive)
            .size_limit(REGEX_SIZE_LIMIT)
            .dfa_size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|err| SearchError::InvalidRegex(describe_regex_error(&err)))?;
        // Parsed with the same flags as the regex; a pattern the analysis cannot handle
        // simply selects every document.
        let trigrams =
            TrigramQuery::from_regex(&pattern, !params.case_sensitive).unwrap_or(TrigramQuery::All);
        let line_prefilter = LinePrefilter::new(&pattern, !params.case_sensitive);

        let filter = FileFilter::new(
            prefix.as_deref().unwrap_or(""),
            &params.file_types,
            &params.exclude_patterns,
        )?;
        let limit = match (params.max_results, params.unbounded) {
            (Some(0), true) => usize::MAX,
            (Some(n), true) => n,
            (Some(0), false) => config.max_results_limit,
            (Some(n), false) => n.min(config.max_results_limit),
            (None, _) => config.default_max_results,
        };
        Ok(Query {
            regex,
            line_prefilter,
            trigrams,
            filter,
            context_lines: params.context_lines.min(config.max_context_lines),
            limit,
            max_line_chars: config.max_line_chars,
            symbols: false,
            redact: false,
            redacted: AtomicU64::new(0),
        })
    }

    /// Shows lines with their secrets withheld, and matches `.env` files as they are shown
    /// (see [`crate::redact`]).
    pub fn with_redaction(mut self) -> Query {
        self.redact = true;
        self
    }

    /// Also names, for each match, the innermost definition holding it (a symbol id).
    pub fn with_symbols(mut self) -> Query {
        self.symbols = true;
        self
    }

    /// The compiled regex.
    pub fn regex(&self) -> &Regex {
        &self.regex
    }

    /// Whether lines are preselected by a required literal that is not the regex's prefix.
    pub fn has_line_prefilter(&self) -> bool {
        self.line_prefilter.is_some()
    }

    /// The trigram query candidates are selected with.
    pub fn trigram_query(&self) -> &TrigramQuery {
        &self.trigrams
    }

    /// Runs the query on a consistent view of a root.
    pub fn run(&self, view: &View) -> Result<Outcome, StoreError> {
        let candidates = if view.trigram_index {
            view.index.candidates(&self.trigrams)
        } else {
            None
        };
        let strategy = if candidates.is_some() {
            "trigram"
        } else {
            "scan"
        };
        let mut docs: Vec<&Doc> = match &candidates {
            Some(ids) => ids
                .iter()
                .filter_map(|&id| view.index.docs.get(id))
                .collect(),
            None => view.index.docs.iter().map(|(_, doc)| doc).collect(),
        };
        docs.retain(|doc| self.filter.accepts(&doc.path, &doc.language));
        docs.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        let mut outcome = Outcome {
            files_searched: docs.len() as u64,
            strategy,
            ..Outcome::default()
        };
        self.redacted.store(0, Ordering::Relaxed);
        let mut round = FIRST_ROUND;
        let mut rest = docs.as_slice();
        while !rest.is_empty() {
            let (chunk, later) = rest.split_at(round.min(rest.len()));
            rest = later;
            round = (round * 2).min(MAX_ROUND);
            let results: Vec<Result<Option<FileMatches>, StoreError>> = chunk
                .par_iter()
                .map(|doc| {
                    let Some(content) = view.content_of(doc)? else {
                        return Err(StoreError::Corrupt(format!(
                            "content of {} is missing from the store",
                            doc.path
                        )));
                    };
                    let mut found = self.search_content(&doc.path, &content);
                    if self.symbols
                        && let (Some(found), Some(definitions)) = (&mut found, &doc.definitions)
                    {
                        let lines: Vec<u32> = found
                            .matches
                            .iter()
                            .map(|hit| hit.line_number as u32)
                            .collect();
                        let ids =
                            crate::symbols::ids::enclosing_each(&doc.path, definitions, &lines);
                        for (hit, id) in found.matches.iter_mut().zip(ids) {
                            hit.symbol = id;
                        }
                    }
                    Ok(found)
                })
                .collect();
            for result in results {
                let Some(mut file) = result? else { continue };
                let room = self.limit - outcome.total_matches as usize;
                if file.matches.len() > room {
                    file.matches.truncate(room);
                    outcome.truncated = true;
                }
                outcome.total_matches += file.matches.len() as u64;
                if !file.matches.is_empty() {
                    outcome.files.push(file);
                }
                // Once the limit is reached, later files are still searched until one matches:
                // only then is the answer known to be truncated.
                if outcome.truncated {
                    outcome.redacted_lines = self.redacted.load(Ordering::Relaxed);
                    return Ok(outcome);
                }
            }
        }
        outcome.redacted_lines = self.redacted.load(Ordering::Relaxed);
        Ok(outcome)
    }

    /// The matches in one file's content, at most `limit + 1` of them.
    pub fn search_content(&self, path: &str, content: &[u8]) -> Option<FileMatches> {
        let redactor = crate::redact::Redactor::for_file(path, !self.redact);
        // A `.env` file is searched as it is shown: no pattern can find a value it withholds.
        let shown_content;
        let content = match redactor.filter(|redactor| redactor.env_file()) {
            Some(redactor) => {
                shown_content = redactor.content(content);
                &*shown_content
            }
            None => content,
        };
        let mut matched = Vec::new();
        let cap = self.limit.saturating_add(1);
        let collect = |line: matcher::MatchedLine| {
            // Elsewhere, a line that matches only through a secret it will not show is left
            // out rather than shown without what matched.
            if let Some(redactor) = redactor.filter(|redactor| !redactor.env_file()) {
                let text = String::from_utf8_lossy(&content[line.start..line.end]);
                if let Cow::Owned(shown) = redactor.line(&text)
                    && !self.regex.is_match(shown.as_bytes())
                {
                    return true;
                }
            }
            matched.push(line);
            matched.len() < cap
        };
        match &self.line_prefilter {
            Some(prefilter) => prefilter.for_each_matching_line(&self.regex, content, collect),
            None => matcher::for_each_matching_line(&self.regex, content, collect),
        }
        if matched.is_empty() {
            return None;
        }
        let ranges = (self.context_lines > 0).then(|| matcher::line_ranges(content));
        let text =
            |start: usize, end: usize| self.display_line(&content[start..end], redactor.as_ref());
        let matches = matched
            .into_iter()
            .map(|line| {
                let mut found = LineMatch {
                    line_number: line.number,
                    line_content: text(line.start, line.end),
                    ..LineMatch::default()
                };
                if let Some(ranges) = &ranges {
                    let index = (line.number - 1) as usize;
                    let before = index.saturating_sub(self.context_lines);
                    let after = (index + 1 + self.context_lines).min(ranges.len());
                    found.context_before = ranges[before..index]
                        .iter()
                        .map(|&(start, end)| text(start, end))
                        .collect();
                    found.context_after = ranges[(index + 1).min(after)..after]
                        .iter()
                        .map(|&(start, end)| text(start, end))
                        .collect();
                }
                found
            })
            .collect();
        Some(FileMatches {
            file_path: path.to_string(),
            matches,
        })
    }

    fn display_line(&self, bytes: &[u8], redactor: Option<&crate::redact::Redactor>) -> String {
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        let mut text = String::from_utf8_lossy(bytes);
        // Before shortening, so that no cut leaves half a key unrecognised.
        if let Some(redactor) = redactor {
            if let Cow::Owned(shown) = redactor.line(&text) {
                text = Cow::Owned(shown);
            }
            if crate::redact::withheld(&text) {
                self.redacted.fetch_add(1, Ordering::Relaxed);
            }
        }
        if text.chars().count() <= self.max_line_chars {
            return text.into_owned();
        }
        let mut shortened: String = text.chars().take(self.max_line_chars).collect();
        shortened.push_str(" …[line truncated]");
        shortened
    }
}

/// What a search found.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Matches grouped by file, in path order.
    pub files: Vec<FileMatches>,
    /// Matching lines returned.
    pub total_matches: u64,
    /// Whether more matches exist than were returned.
    pub truncated: bool,
    /// Candidate files that passed the filters (each verified until the limit was reached).
    pub files_searched: u64,
    /// `trigram` when the index chose the candidates, `scan` when the pattern has no usable
    /// trigram and every file is a candidate.
    pub strategy: &'static str,
    /// Lines returned (matches and context) shown with a secret withheld.
    pub redacted_lines: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use codesage_shared::config::Config;

    fn query(params: SearchParams) -> Result<Query, SearchError> {
        Query::compile(&params, None, &Config::default().search)
    }

    #[test]
    fn bad_patterns_are_explained() {
        let err = query(SearchParams {
            pattern: "fn (".into(),
            case_sensitive: true,
            ..SearchParams::default()
        })
        .unwrap_err();
        assert!(matches!(err, SearchError::InvalidRegex(_)));
        assert!(err.to_string().contains("fixed_strings"), "{err}");
        assert_eq!(
            query(SearchParams::default()).unwrap_err(),
            SearchError::EmptyPattern
        );
        let err = query(SearchParams {
            pattern: "x".into(),
            exclude_patterns: vec!["a[".into()],
            ..SearchParams::default()
        })
        .unwrap_err();
        assert!(matches!(err, SearchError::InvalidGlob(_)), "{err}");
    }

    #[test]
    fn patterns_built_to_blow_up_are_refused_briefly() {
        let compile = |pattern: String| {
            query(SearchParams {
                pattern,
                case_sensitive: true,
                ..SearchParams::default()
            })
        };
        let err = compile("(a{1000}){1000}".into()).unwrap_err();
        assert!(matches!(err, SearchError::InvalidRegex(_)), "{err}");
        let nested = format!("{}a{}", "(".repeat(1000), ")".repeat(1000));
        let err = compile(nested).unwrap_err().to_string();
        assert!(err.contains("nested parentheses"), "{err}");
        assert!(err.len() < 1000, "the pattern is not quoted: {err}");
        let long = "a".repeat(MAX_PATTERN_BYTES + 1);
        assert_eq!(
            compile(long).unwrap_err(),
            SearchError::PatternTooLong(MAX_PATTERN_BYTES + 1)
        );
        assert!(
            compile("\\w{300}".into()).is_ok(),
            "a long Unicode class compiles"
        );
    }

    #[test]
    fn context_and_limits() {
        let q = query(SearchParams {
            pattern: "needle".into(),
            case_sensitive: true,
            context_lines: 1,
            max_results: Some(2),
            ..SearchParams::default()
        })
        .unwrap();
        let found = q
            .search_content("a.rs", b"one\nneedle 1\ntwo\nneedle 2\nneedle 3\n")
            .unwrap();
        assert_eq!(
            found.matches.len(),
            3,
            "limit + 1 kept to detect truncation"
        );
        assert_eq!(found.matches[0].line_number, 2);
        assert_eq!(found.matches[0].context_before, ["one"]);
        assert_eq!(found.matches[0].context_after, ["two"]);
        assert_eq!(found.matches[2].context_after, Vec::<String>::new());
    }

    #[test]
    fn filters_by_type_language_and_exclude() {
        let q = query(SearchParams {
            pattern: "x".into(),
            file_types: vec![".rs".into(), "python".into()],
            exclude_patterns: vec!["vendor".into(), "*.gen.rs".into()],
            ..SearchParams::default()
        })
        .unwrap();
        assert!(q.filter.accepts("src/a.rs", "Rust"));
        assert!(q.filter.accepts("tool", "Python"), "by language");
        assert!(!q.filter.accepts("src/a.go", "Go"));
        assert!(!q.filter.accepts("vendor/a.rs", "Rust"));
        assert!(!q.filter.accepts("x/vendor/a.rs", "Rust"));
        assert!(!q.filter.accepts("src/a.gen.rs", "Rust"));
    }
}
