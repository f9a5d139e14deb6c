//! The words a lexical retriever matches on: identifier sub-tokens (`snake_case`,
//! `camelCase`, `HTTPServer`, digits split off), lower-cased and lightly stemmed, so that the
//! question "retrying failed requests" meets `retry_failed_request` and `RequestRetrier`.

/// Calls `emit` with each sub-token of `text`, lower-cased and stemmed, skipping one-letter
/// tokens.
pub fn for_each_term(text: &str, mut emit: impl FnMut(&str)) {
    let mut word = String::new();
    let mut flush = |word: &mut String| {
        if word.chars().count() >= 2 {
            emit(stem(word));
        }
        word.clear();
    };
    let chars: Vec<char> = text.chars().collect();
    for (index, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            flush(&mut word);
            continue;
        }
        if let Some(&previous) = index.checked_sub(1).and_then(|at| chars.get(at)) {
            let next = chars.get(index + 1).copied();
            let boundary = (previous.is_lowercase() && c.is_uppercase())
                || (previous.is_alphabetic() && c.is_numeric())
                || (previous.is_numeric() && c.is_alphabetic())
                // `HTTPServer`: the `S` starts a word when a lower-case letter follows.
                || (previous.is_uppercase()
                    && c.is_uppercase()
                    && next.is_some_and(char::is_lowercase));
            if boundary && previous.is_alphanumeric() {
                flush(&mut word);
            }
        }
        word.extend(c.to_lowercase());
    }
    flush(&mut word);
}

/// All terms of `text`, in order.
pub fn terms(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for_each_term(text, |term| out.push(term.to_string()));
    out
}

/// A light suffix stripper (plurals, `-ing`, `-ed`, `-ies`, a final `e` or `y`), enough to
/// meet a question's words with a code's identifiers without a dictionary: `retries`,
/// `retrying` and `retry` all become `retr`; `caches` and `cache` become `cach`. Short words
/// are left alone.
pub fn stem(word: &str) -> &str {
    let mut stem = word;
    let cut = |stem: &str, suffix: &str, keep: usize| -> Option<usize> {
        stem.strip_suffix(suffix)
            .filter(|rest| rest.len() >= keep)
            .map(str::len)
    };
    if let Some(len) = cut(stem, "ies", 2) {
        return &word[..len];
    }
    if !(stem.ends_with("ss") || stem.ends_with("us") || stem.ends_with("is"))
        && let Some(len) = cut(stem, "s", 3)
    {
        stem = &word[..len];
    }
    if let Some(len) = cut(stem, "ing", 3).or_else(|| cut(stem, "ed", 3)) {
        stem = &word[..len];
    }
    if stem.len() > 3 && (stem.ends_with('e') || stem.ends_with('y')) {
        stem = &word[..stem.len() - 1];
    }
    stem
}

/// A stable 64-bit key of a term (FNV-1a).
pub fn term_key(term: &str) -> u64 {
    term.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_split_into_words() {
        assert_eq!(terms("retry_failed_request"), ["retr", "fail", "request"]);
        assert_eq!(terms("RequestRetrier"), ["request", "retrier"]);
        assert_eq!(terms("HTTPServer2Handler"), ["http", "server", "handler"]);
        assert_eq!(terms("parseJSONValue v2"), ["pars", "json", "valu"]);
        assert_eq!(
            terms("x = a + b"),
            Vec::<String>::new(),
            "one-letter tokens are skipped"
        );
        assert_eq!(terms("sha256sum"), ["sha", "256", "sum"]);
        assert_eq!(terms("Größe über"), ["größ", "über"]);
    }

    #[test]
    fn a_question_meets_the_code() {
        // The words of a question and of an identifier reduce to the same terms.
        assert_eq!(terms("retries"), terms("retry"));
        assert_eq!(terms("retrying"), terms("retry"));
        assert_eq!(terms("requests"), terms("request"));
        assert_eq!(terms("failed"), terms("fail"));
        assert_eq!(terms("caches"), terms("cache"));
        assert_eq!(terms("classes"), terms("class"));
        assert_eq!(terms("parsing"), terms("parse"));
        assert_eq!(terms("parsed"), terms("parse"));
        assert_eq!(terms("status"), ["status"]);
        assert_eq!(term_key("retr"), term_key(stem("retry")));
    }
}
