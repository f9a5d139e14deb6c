//! Bounded answers: `max_results` (one meaning in every tool), `max_tokens` (a budget for the
//! answer's text) and `cursor` (the next page).
//!
//! A query produces its results in a fixed order, at least up to the end of the requested
//! page; the [`Pager`] cuts the page out of them: from the cursor's offset, at most
//! `max_results` results, and only as many as fit `max_tokens` together with the rest of the
//! answer. Tokens are estimated from the JSON text ([`estimate_tokens`]); the whole answer is
//! measured again before it is returned, so no page exceeds its budget.
//!
//! A cursor names the query, a hash of its other arguments, the daemon's run and the index
//! generation it was issued at, and the offset of the next result; it is refused with a clear
//! message when any of those no longer holds, so pages fetched with cursors always
//! concatenate to the answer a single unbounded call would give.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use codesage_shared::words::Words;

use super::answer::{Answer, Truncated};
use super::{Ctx, QueryError, QueryResult};

/// The smallest token budget accepted; smaller requests are raised to it (with a note).
pub const MIN_TOKENS: usize = 1000;

/// Tokens of a page's budget kept for the answer's other fields when one result is cut to fit
/// ([`Pager::item_budget`]).
const ITEM_HEADROOM: usize = 1000;

/// Letters per token in [`estimate_tokens`].
const LETTERS_PER_TOKEN: usize = 5;
/// Spaces per token, for runs of spaces, in [`estimate_tokens`].
const SPACES_PER_TOKEN: usize = 8;

/// An estimate of how many tokens a language model's tokenizer makes of `text`, on the high
/// side: a run of ASCII letters counts one token per five letters (at least one), every
/// digit, punctuation mark and control character one, every byte of a non-ASCII character one
/// (a byte-level tokenizer never needs more; CJK text often needs two or three), a run of spaces
/// one per eight after the first (a single space joins the next word). On CodeSage's own
/// answers over a real corpus this counts more tokens than the cl100k, o200k and Anthropic
/// tokenizers do, by about a third at the median (BENCHMARKS.md, "Answer sizes").
pub fn estimate_tokens(text: &[u8]) -> usize {
    let mut counter = TokenCounter::default();
    text.iter().for_each(|&byte| counter.push(byte));
    counter.tokens
}

/// [`estimate_tokens`] over text written to it piece by piece (serializers write JSON in
/// small pieces), so an answer is measured without being built.
#[derive(Debug, Default)]
struct TokenCounter {
    tokens: usize,
    /// Letters in the current run of letters.
    letters: usize,
    /// Spaces in the current run of spaces.
    spaces: usize,
}

impl TokenCounter {
    fn push(&mut self, byte: u8) {
        if byte.is_ascii_alphabetic() {
            self.spaces = 0;
            if self.letters.is_multiple_of(LETTERS_PER_TOKEN) {
                self.tokens += 1;
            }
            self.letters += 1;
            return;
        }
        self.letters = 0;
        if byte == b' ' {
            // The first space of a run joins the next word; then one per eight.
            if self.spaces > 0 && (self.spaces - 1).is_multiple_of(SPACES_PER_TOKEN) {
                self.tokens += 1;
            }
            self.spaces += 1;
            return;
        }
        self.spaces = 0;
        self.tokens += 1;
    }
}

impl std::io::Write for TokenCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        buf.iter().for_each(|&byte| self.push(byte));
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Estimated tokens of `value`'s JSON text plus a separator.
pub fn json_tokens<T: Serialize>(value: &T) -> usize {
    let mut counter = TokenCounter::default();
    match serde_json::to_writer(&mut counter, value) {
        Ok(()) => counter.tokens + 1,
        Err(_) => 0,
    }
}

/// Cuts `item` down until its JSON text takes at most `max_tokens`: `cut` removes a part
/// (and marks the item as cut) and returns false when nothing is left to remove. Returns
/// whether anything was cut.
pub fn shrink_to<I: Serialize>(
    item: &mut I,
    max_tokens: usize,
    mut cut: impl FnMut(&mut I) -> bool,
) -> bool {
    let mut cut_any = false;
    while json_tokens(item) > max_tokens {
        if !cut(item) {
            break;
        }
        cut_any = true;
    }
    cut_any
}

/// How many results a query lists: its default and its maximum per answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// What one result is, for messages and parameter docs (`matching lines`).
    pub unit: &'static str,
    /// Results per answer when `max_results` is not given.
    pub default: usize,
    /// Most results per answer (`max_results: 0` asks for this many).
    pub max: usize,
}

/// The paging arguments every query takes.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct PageArgs {
    /// Most results to return (each tool's description gives its unit, default and
    /// maximum); 0 asks for the maximum. A negative number is an error.
    #[serde(default, deserialize_with = "lenient_integer")]
    pub max_results: Option<i64>,
    /// Budget for the answer's text in tokens (estimated on the high side; default 8000, or
    /// the server's maximum when max_results is given). Results that do not fit are left
    /// out and `truncated` says how many; 0 asks for the server's maximum.
    #[serde(default, deserialize_with = "lenient_integer")]
    pub max_tokens: Option<i64>,
    /// The `cursor` of a previous answer, to get its next page. Give the same other
    /// arguments as that call (max_results and max_tokens may change).
    #[serde(default)]
    pub cursor: Option<String>,
}

/// Accepts a number or a string holding one (some clients send numbers as strings).
pub(crate) fn lenient_number<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<f64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Number {
        Value(f64),
        Text(String),
    }
    match Option::<Number>::deserialize(deserializer)? {
        None => Ok(None),
        Some(Number::Value(value)) => Ok(Some(value)),
        Some(Number::Text(text)) => text
            .trim()
            .parse::<f64>()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("expected a number, got {text:?}"))),
    }
}

/// Accepts an integer, a whole number written as a float (`1e3`, `10.0`), or a string holding
/// one (some clients send numbers as strings); values past `i64` saturate (and are then
/// clamped to the maximum like any other large number).
pub(crate) fn lenient_integer<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Integer {
        Number(i64),
        Large(u64),
        Float(f64),
        Text(String),
    }
    let whole = |value: f64| (value.is_finite() && value.fract() == 0.0).then_some(value as i64);
    match Option::<Integer>::deserialize(deserializer)? {
        None => Ok(None),
        Some(Integer::Number(number)) => Ok(Some(number)),
        Some(Integer::Large(value)) => Ok(Some(i64::try_from(value).unwrap_or(i64::MAX))),
        Some(Integer::Float(value)) => whole(value).map(Some).ok_or_else(|| {
            serde::de::Error::custom(format!("expected a whole number, got {value}"))
        }),
        Some(Integer::Text(text)) => {
            let trimmed = text.trim();
            trimmed
                .parse::<i64>()
                .ok()
                .or_else(|| trimmed.parse::<f64>().ok().and_then(whole))
                .map(Some)
                .ok_or_else(|| {
                    serde::de::Error::custom(format!("expected a whole number, got {text:?}"))
                })
        }
    }
}

/// Names of the arguments that only choose a page, not the answer.
const PAGING_ARGUMENTS: [&str; 3] = ["max_results", "max_tokens", "cursor"];

/// A stable hash of query `name` with `arguments` minus the paging ones.
pub fn fingerprint(name: &str, arguments: &Map<String, Value>) -> u64 {
    // BTreeMap: key order does not change the hash.
    let defining: BTreeMap<&String, &Value> = arguments
        .iter()
        .filter(|(key, value)| !PAGING_ARGUMENTS.contains(&key.as_str()) && !value.is_null())
        .collect();
    let text = serde_json::to_string(&defining).unwrap_or_default();
    fnv1a(name.as_bytes()) ^ fnv1a(text.as_bytes()).rotate_left(17)
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// What a cursor says.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cursor {
    name: String,
    fingerprint: u64,
    epoch: u64,
    generation: Option<u64>,
    offset: usize,
}

impl Cursor {
    fn encode(&self) -> String {
        let generation = self
            .generation
            .map_or_else(|| "-".to_string(), |generation| generation.to_string());
        format!(
            "{}.{:x}.{:x}.{generation}.{}",
            self.name, self.fingerprint, self.epoch, self.offset
        )
    }

    fn decode(text: &str) -> Option<Cursor> {
        let mut parts = text.trim().rsplitn(5, '.');
        let offset = parts.next()?.parse().ok()?;
        let generation = match parts.next()? {
            "-" => None,
            number => Some(number.parse().ok()?),
        };
        let epoch = u64::from_str_radix(parts.next()?, 16).ok()?;
        let fingerprint = u64::from_str_radix(parts.next()?, 16).ok()?;
        let name = parts.next()?.to_string();
        Some(Cursor {
            name,
            fingerprint,
            epoch,
            generation,
            offset,
        })
    }
}

/// How far a query's results go beyond the ones it handed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extent {
    /// The results handed over are all there are.
    Complete,
    /// There are this many in all (more than handed over, or as many).
    Counted(usize),
    /// There is at least one more beyond those handed over; how many is unknown.
    More,
}

/// Cuts one page out of a query's results; see the module documentation.
#[derive(Debug)]
pub struct Pager {
    name: &'static str,
    fingerprint: u64,
    epoch: u64,
    cursor: Option<Cursor>,
    offset: usize,
    limit: usize,
    limits: Limits,
    /// Token budget for the answer text (`None`: unlimited).
    budget: Option<usize>,
    /// The token budget asked for, for messages.
    max_tokens: Option<usize>,
    notes: Vec<String>,
    words: Words,
    hint: Option<&'static str>,
}

/// Where the results a query computed sit in the whole list.
#[derive(Debug, Clone, Copy)]
struct Window {
    /// Position of the first computed result.
    first: usize,
    /// Index (into the computed results) of the page's first result.
    start: usize,
    /// What lies beyond the computed results.
    extent: Extent,
    /// Results computed.
    len: usize,
}

impl Ctx {
    /// The pager for `args` under `limits`, or a clear error for invalid paging arguments.
    pub fn pager(&self, args: &PageArgs, limits: Limits) -> Result<Pager, QueryError> {
        let words = self.words();
        let bounded = self.caller.bounded;
        let mut notes = Vec::new();
        let limit = match args.max_results {
            None => limits.default,
            Some(n) if n < 0 => {
                return Err(QueryError::Failed(format!(
                    "{} must be 0 (for the maximum, {}) or a positive number of {}; got {n}",
                    words.param("max_results"),
                    if bounded {
                        limits.max.to_string()
                    } else {
                        "everything".to_string()
                    },
                    limits.unit
                )));
            }
            Some(0) if bounded => limits.max,
            Some(0) => usize::MAX,
            Some(n) => {
                let n = usize::try_from(n).unwrap_or(usize::MAX);
                if bounded && n > limits.max {
                    notes.push(format!(
                        "{} {n} is over the maximum of {} {} per answer; at most {} are shown \
                         (use cursor for more)",
                        words.param("max_results"),
                        limits.max,
                        limits.unit,
                        limits.max
                    ));
                    limits.max
                } else {
                    n
                }
            }
        };
        let server = &self.engine.config().server;
        let max_tokens = match args.max_tokens {
            // A caller that chose how many results it wants gets them, up to the server's
            // budget; one that chose nothing gets an answer that fits a context window.
            None if bounded && args.max_results.is_some() => Some(server.answer_tokens_limit),
            None if bounded => Some(server.answer_tokens),
            None => None,
            Some(n) if n < 0 => {
                return Err(QueryError::Failed(format!(
                    "{} must be 0 (for the maximum) or a positive number of tokens; got {n}",
                    words.param("max_tokens")
                )));
            }
            Some(0) if bounded => Some(server.answer_tokens_limit),
            Some(0) => None,
            Some(n) => {
                let n = usize::try_from(n).unwrap_or(usize::MAX);
                if n < MIN_TOKENS {
                    notes.push(format!(
                        "{} {n} is below the minimum of {MIN_TOKENS}; using {MIN_TOKENS}",
                        words.param("max_tokens")
                    ));
                    Some(MIN_TOKENS)
                } else if bounded && n > server.answer_tokens_limit {
                    notes.push(format!(
                        "{} {n} is over the server's maximum of {}; using {}",
                        words.param("max_tokens"),
                        server.answer_tokens_limit,
                        server.answer_tokens_limit
                    ));
                    Some(server.answer_tokens_limit)
                } else {
                    Some(n)
                }
            }
        };
        let cursor = match args.cursor.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(self.check_cursor(text)?),
        };
        Ok(Pager {
            name: self.name,
            fingerprint: self.fingerprint,
            epoch: self.engine.epoch(),
            offset: cursor.as_ref().map_or(0, |cursor| cursor.offset),
            cursor,
            limit,
            limits,
            budget: max_tokens,
            max_tokens,
            notes,
            words,
            hint: None,
        })
    }

    fn check_cursor(&self, text: &str) -> Result<Cursor, QueryError> {
        let words = self.words();
        let again = format!("repeat the call without {}", words.param("cursor"));
        let cursor = Cursor::decode(text).ok_or_else(|| {
            // Quoted in part: a forged cursor may be megabytes long.
            let shown: String = text.chars().take(64).collect();
            let ellipsis = if shown.len() < text.len() { "…" } else { "" };
            QueryError::Failed(format!(
                "{} \"{}{ellipsis}\" is not one this server issued; {again} to start from the \
                 first page",
                words.param("cursor"),
                shown.escape_debug()
            ))
        })?;
        if cursor.name != self.name {
            return Err(QueryError::Failed(format!(
                "this {} belongs to {}, not {}; {again}",
                words.param("cursor"),
                words.tool(&cursor.name),
                words.tool(self.name)
            )));
        }
        if cursor.epoch != self.engine.epoch() {
            return Err(QueryError::Failed(format!(
                "the daemon restarted since this {} was issued; {again} to start over",
                words.param("cursor")
            )));
        }
        if cursor.fingerprint != self.fingerprint {
            return Err(QueryError::Failed(format!(
                "this {} was issued for different arguments; repeat the call that returned it \
                 with the same arguments (only {} and {} may change), or {again}",
                words.param("cursor"),
                words.param("max_results"),
                words.param("max_tokens")
            )));
        }
        Ok(cursor)
    }
}

impl Pager {
    /// Index of the first result of the page.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Results the query must produce (from the first) so the page can be cut and it is
    /// known whether more follow: the page's end plus one.
    pub fn needed(&self) -> usize {
        self.offset.saturating_add(self.limit).saturating_add(1)
    }

    /// Results per page (`usize::MAX`: no limit).
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The most tokens one result may take so that it fits a page with the answer's other
    /// fields (`None`: no budget). Queries whose single results can grow large (a function
    /// with hundreds of calls, a symbol with hundreds of callers) cut them to this with
    /// [`shrink_to`], saying so in the result, rather than refuse the answer.
    pub fn item_budget(&self) -> Option<usize> {
        self.budget
            .map(|budget| budget.saturating_sub(ITEM_HEADROOM).max(budget / 2))
    }

    /// Notes about clamped arguments.
    pub fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }

    /// Refuses a cursor issued at another index generation ([`Pager::answer`] checks it; a
    /// query may check earlier to save work).
    pub fn check_generation(&self, generation: Option<u64>) -> Result<(), QueryError> {
        let words = self.words;
        match &self.cursor {
            Some(cursor) if cursor.generation != generation => Err(QueryError::Failed(format!(
                "the index changed since this {} was issued (generation {} → {}): results may \
                 have moved; repeat the call without {} to start over",
                words.param("cursor"),
                cursor
                    .generation
                    .map_or_else(|| "none".to_string(), |generation| generation.to_string()),
                generation.map_or_else(|| "none".to_string(), |generation| generation.to_string()),
                words.param("cursor")
            ))),
            _ => Ok(()),
        }
    }

    /// The answer holding one page of `items` (every result from the first, in order, at
    /// least up to [`Pager::needed`] where that many exist), with `extent` saying whether
    /// more exist beyond them. `build` makes the payload from the page's results; it is
    /// called again with fewer if the answer would exceed the token budget.
    pub fn answer<I, T>(
        self,
        base: Answer<()>,
        items: Vec<I>,
        extent: Extent,
        build: impl Fn(Vec<I>) -> T,
    ) -> QueryResult<T>
    where
        I: Serialize + Clone,
        T: Serialize,
    {
        self.answer_from(base, 0, items, extent, build)
    }

    /// Like [`Pager::answer`] for a query that computed only the results from number
    /// `first` on (`first` ≤ [`Pager::offset`]); `extent` counts from the first result.
    pub fn answer_from<I, T>(
        self,
        mut base: Answer<()>,
        first: usize,
        items: Vec<I>,
        extent: Extent,
        build: impl Fn(Vec<I>) -> T,
    ) -> QueryResult<T>
    where
        I: Serialize + Clone,
        T: Serialize,
    {
        self.check_generation(base.index_generation)?;
        let start = self.offset.saturating_sub(first).min(items.len());
        let end = start.saturating_add(self.limit).min(items.len());
        let mut notes = self.notes.clone();
        notes.append(&mut base.notes);
        base.notes = notes;
        let window = Window {
            first,
            start,
            extent,
            len: items.len(),
        };
        let Some(budget) = self.budget else {
            // No budget: the page is everything up to the limit, built once.
            return Ok(self.assemble(&base, items, &window, end - start, &build));
        };

        // The answer's other fields, with room for the longest truncation figures, cursor
        // and the note that says why results were left out.
        let header = {
            let probe = Answer {
                body: build(Vec::new()),
                notes: base.notes.clone(),
                truncated: Some(Truncated {
                    shown: u64::MAX,
                    total: Some(u64::MAX),
                    omitted_tokens: Some(u64::MAX),
                }),
                cursor: Some(self.cursor_at(usize::MAX, base.index_generation)),
                index_generation: base.index_generation,
                partial: base.partial,
            };
            json_tokens(&probe) + 100
        };
        let mut used = header;
        let mut shown = items[start..end]
            .iter()
            .take_while(|item| {
                used += json_tokens(*item);
                used <= budget
            })
            .count();
        if shown == 0 && end > start {
            return Err(self.too_small(header + json_tokens(&items[start])));
        }
        loop {
            let answer = self.assemble(&base, items.clone(), &window, shown, &build);
            let tokens = json_tokens(&answer);
            if tokens <= budget {
                return Ok(answer);
            }
            if shown <= 1 {
                return Err(self.too_small(tokens));
            }
            shown -= 1;
        }
    }

    fn assemble<I: Serialize, T>(
        &self,
        base: &Answer<()>,
        items: Vec<I>,
        window: &Window,
        shown: usize,
        build: &impl Fn(Vec<I>) -> T,
    ) -> Answer<T> {
        let Window {
            first,
            start,
            extent,
            len,
        } = *window;
        // Positions within the whole result list.
        let page_start = first + start;
        let next = page_start + shown;
        let computed_end = first + len;
        let total = match extent {
            Extent::Complete => Some(computed_end),
            Extent::Counted(total) => Some(total.max(computed_end)),
            Extent::More => None,
        };
        let more = total.is_none_or(|total| next < total);
        let mut notes = base.notes.clone();
        if shown == 0 && page_start > 0 && !more {
            notes.push(format!(
                "this {} is past the last result ({} in all)",
                self.words.param("cursor"),
                total.unwrap_or(computed_end)
            ));
        }
        let mut page: Vec<I> = items;
        let rest: Vec<I> = page.split_off((start + shown).min(page.len()));
        page.drain(..start.min(page.len()));
        let (truncated, cursor) = if more {
            let omitted: usize = rest.iter().map(json_tokens).sum();
            let omitted_tokens = match total {
                Some(total) if total == computed_end => Some(omitted as u64),
                Some(total) if shown > 0 => {
                    // Results not computed are estimated at the shown ones' average size.
                    let average = page.iter().map(json_tokens).sum::<usize>() / shown;
                    Some((omitted + (total - computed_end) * average) as u64)
                }
                _ => None,
            };
            let words = self.words;
            let by_budget = self.budget.is_some() && shown < self.limit.min(len - start);
            let reason = if by_budget {
                format!(
                    "{} {} reached",
                    words.param("max_tokens"),
                    self.max_tokens.unwrap_or_default()
                )
            } else if self.limit == self.limits.max {
                format!("at most {} per answer", self.limits.max)
            } else {
                format!("{} {}", words.param("max_results"), self.limit)
            };
            let of_total = total.map_or_else(String::new, |total| format!(" of {total}"));
            let hint = self
                .hint
                .map_or_else(String::new, |hint| format!(", or {hint}"));
            notes.push(format!(
                "results truncated: showing {shown} {}{of_total} (numbers {}–{next}; {reason}); \
                 pass {} to get the next page{hint}",
                self.limits.unit,
                page_start + 1,
                words.param("cursor")
            ));
            (
                Some(Truncated {
                    shown: shown as u64,
                    total: total.map(|total| total as u64),
                    omitted_tokens,
                }),
                Some(self.cursor_at(next, base.index_generation)),
            )
        } else {
            (None, None)
        };
        Answer {
            body: build(page),
            notes,
            truncated,
            cursor,
            index_generation: base.index_generation,
            partial: base.partial,
        }
    }

    /// Adds query-specific advice to the note on truncated answers ("narrow the pattern").
    pub fn hint(mut self, hint: &'static str) -> Pager {
        self.hint = Some(hint);
        self
    }

    fn cursor_at(&self, offset: usize, generation: Option<u64>) -> String {
        Cursor {
            name: self.name.to_string(),
            fingerprint: self.fingerprint,
            epoch: self.epoch,
            generation,
            offset,
        }
        .encode()
    }

    fn too_small(&self, needed_tokens: usize) -> QueryError {
        let param = self.words.param("max_tokens");
        QueryError::Failed(format!(
            "{param} {} is too small for the next result: the answer with it needs about {} \
             tokens; raise {param} to at least that",
            self.max_tokens.unwrap_or_default(),
            needed_tokens
        ))
    }
}

/// The paging arguments with this query's figures in their descriptions, for its input
/// schema.
pub fn describe_limits(schema: &mut Map<String, Value>, limits: Limits, default_tokens: usize) {
    let Some(Value::Object(properties)) = schema.get_mut("properties") else {
        return;
    };
    if let Some(Value::Object(max_results)) = properties.get_mut("max_results") {
        max_results.insert(
            "description".into(),
            format!(
                "Most {} to return (default {}, at most {}); 0 asks for the maximum. A negative \
                 number is an error.",
                limits.unit, limits.default, limits.max
            )
            .into(),
        );
    }
    if let Some(Value::Object(max_tokens)) = properties.get_mut("max_tokens") {
        max_tokens.insert(
            "description".into(),
            format!(
                "Budget for the answer's text in tokens (estimated on the high side; default \
                 {default_tokens}, or the server's maximum when max_results is given; at least \
                 {MIN_TOKENS}). Results that do not fit are left out and `truncated` says how \
                 many; 0 asks for the server's maximum."
            )
            .into(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let cursor = Cursor {
            name: "search_codebase".into(),
            fingerprint: 0xdead_beef,
            epoch: 42,
            generation: Some(7),
            offset: 200,
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor.clone()));
        let without = Cursor {
            generation: None,
            ..cursor
        };
        assert_eq!(Cursor::decode(&without.encode()), Some(without));
        for garbage in ["", "x", "a.b.c.d.e", "search.zz.1.2.3", "a.1.2.3.-1"] {
            assert_eq!(Cursor::decode(garbage), None, "{garbage}");
        }
    }

    #[test]
    fn counts_may_come_as_floats_or_strings() {
        let parse = |value: Value| {
            serde_json::from_value::<PageArgs>(serde_json::json!({ "max_results": value }))
                .map(|args| args.max_results)
        };
        assert_eq!(parse(serde_json::json!(5)).unwrap(), Some(5));
        assert_eq!(parse(serde_json::json!(1e3)).unwrap(), Some(1000));
        assert_eq!(parse(serde_json::json!("12")).unwrap(), Some(12));
        assert_eq!(parse(serde_json::json!(" 7.0 ")).unwrap(), Some(7));
        assert_eq!(parse(serde_json::json!(-3)).unwrap(), Some(-3));
        assert_eq!(parse(serde_json::json!(u64::MAX)).unwrap(), Some(i64::MAX));
        assert!(parse(serde_json::json!(2.5)).is_err());
        assert!(parse(serde_json::json!("many")).is_err());
        assert!(parse(serde_json::json!(true)).is_err());
    }

    #[test]
    fn fingerprints_ignore_paging_and_key_order() {
        let args = |value: Value| value.as_object().cloned().unwrap();
        let a = fingerprint(
            "q",
            &args(serde_json::json!({"pattern": "x", "case_sensitive": true})),
        );
        let b = fingerprint(
            "q",
            &args(
                serde_json::json!({"case_sensitive": true, "pattern": "x", "max_results": 5, "cursor": "c"}),
            ),
        );
        assert_eq!(a, b);
        assert_ne!(
            a,
            fingerprint("q", &args(serde_json::json!({"pattern": "y"})))
        );
        assert_ne!(
            a,
            fingerprint(
                "r",
                &args(serde_json::json!({"pattern": "x", "case_sensitive": true}))
            )
        );
    }

    #[test]
    fn tokens_are_estimated_from_words_digits_and_marks() {
        assert_eq!(estimate_tokens(b""), 0);
        assert_eq!(estimate_tokens(b"hello"), 1);
        assert_eq!(
            estimate_tokens(b"helloworld1"),
            3,
            "two letter tokens and a digit"
        );
        assert_eq!(
            estimate_tokens(b"a b"),
            2,
            "a single space joins the next word"
        );
        assert_eq!(
            estimate_tokens(b"         x"),
            2,
            "indentation: one per eight spaces"
        );
        assert_eq!(estimate_tokens(b"{\"x\":12}"), 8);
        assert_eq!(
            estimate_tokens("héé".as_bytes()),
            5,
            "one per byte of a non-ASCII character"
        );
        assert_eq!(estimate_tokens("代码".as_bytes()), 6);
        let long = "a".repeat(1000);
        assert_eq!(estimate_tokens(long.as_bytes()), 200);
        assert_eq!(
            estimate_tokens(b"  a  b"),
            4,
            "a run of two spaces costs one"
        );
        // Measuring a value while serializing it counts the same as measuring its text.
        let value =
            serde_json::json!({"path": "src/a.rs", "line": 120, "text": "  let x = \"é\";"});
        let text = serde_json::to_vec(&value).unwrap();
        assert_eq!(json_tokens(&value), estimate_tokens(&text) + 1);
    }
}
