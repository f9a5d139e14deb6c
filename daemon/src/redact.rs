//! Secrets in what answers show of files. Unless `security.serve_secrets` is set, the lines
//! `read_code_file`, searches and references show have their secrets replaced by `«secret»`:
//!
//! * in `.env`-style files (`.env`, `.env.*`, `*.env`), the value of every `KEY=value` line,
//!   whatever it looks like (a database password has no recognisable shape);
//! * in every file, what the log masker recognises ([`crate::logging::mask_secrets`]: the
//!   configured keys and tokens, and strings shaped like API keys — `sk-…`, `gsk_…`, `AIza…`,
//!   `ghp_…`, `xox?-…`, `Bearer …`), so there is one list of what a secret looks like for
//!   logs and answers alike.
//!
//! A `.env` file is searched as it is shown, so no pattern can find a value by what it
//! matches. Elsewhere a matching line whose shown form no longer matches is left out rather
//! than shown masked. What redaction does not prevent is inference at the scale of files:
//! searches pick candidate files with the trigram index of the real contents. Keep secrets
//! out of indexed roots (`.codesageignore`) when that matters.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

/// What a withheld value is shown as (the log masker's marker too).
pub const MARKER: &str = "«secret»";

/// A `KEY=value` line of a `.env` file: the part kept (optional `export`, the key, `=`) and
/// the value.
static ENV_ASSIGNMENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(\s*(?:export\s+)?[A-Za-z_][A-Za-z0-9_.\-]*\s*=\s*)(\S.*?)\s*$")
        .expect("the .env assignment pattern is valid")
});

/// Whether `path` (relative, `/`-separated) names a `.env`-style file.
pub fn is_env_file(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name == ".env" || name.starts_with(".env.") || (name.len() > 4 && name.ends_with(".env"))
}

/// How the lines of one file are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redactor {
    env_file: bool,
}

impl Redactor {
    /// The redactor for the file at `path` (relative to its root), or `None` when the
    /// configuration serves secrets as they are.
    pub fn for_file(path: &str, serve_secrets: bool) -> Option<Redactor> {
        (!serve_secrets).then(|| Redactor {
            env_file: is_env_file(path),
        })
    }

    /// Whether the file is a `.env`-style file (every value withheld).
    pub fn env_file(&self) -> bool {
        self.env_file
    }

    /// `line` (without its line break) as it may be shown.
    pub fn line<'a>(&self, line: &'a str) -> Cow<'a, str> {
        let assigned = self
            .env_file
            .then(|| ENV_ASSIGNMENT.captures(line))
            .flatten()
            .filter(|found| !matches!(&found[2], "\"\"" | "''"))
            .map(|found| format!("{}{MARKER}", &found[1]));
        match assigned {
            Some(kept) => Cow::Owned(crate::logging::mask_secrets(&kept).into_owned()),
            None => crate::logging::mask_secrets(line),
        }
    }

    /// `content` as it may be shown, line by line (line breaks kept), for searching what is
    /// shown; borrowed when nothing is withheld.
    pub fn content<'a>(&self, content: &'a [u8]) -> Cow<'a, [u8]> {
        let mut shown: Option<Vec<u8>> = None;
        let mut start = 0;
        for piece in content.split_inclusive(|&byte| byte == b'\n') {
            let body = piece.strip_suffix(b"\n").unwrap_or(piece);
            let body = body.strip_suffix(b"\r").unwrap_or(body);
            let text = String::from_utf8_lossy(body);
            if let Cow::Owned(redacted) = self.line(&text) {
                let out = shown.get_or_insert_with(|| content[..start].to_vec());
                out.extend_from_slice(redacted.as_bytes());
                out.extend_from_slice(&piece[body.len()..]);
            } else if let Some(out) = &mut shown {
                out.extend_from_slice(piece);
            }
            start += piece.len();
        }
        match shown {
            Some(shown) => Cow::Owned(shown),
            None => Cow::Borrowed(content),
        }
    }
}

/// Whether a line as shown had something withheld.
pub fn withheld(shown: &str) -> bool {
    shown.contains(MARKER)
}

/// `text`, some lines of the file at `path` (a snippet, a reference's line), as it may be
/// shown, with how many of its lines had something withheld.
pub fn shown_text<'a>(path: &str, text: &'a str, serve_secrets: bool) -> (Cow<'a, str>, u64) {
    let Some(redactor) = Redactor::for_file(path, serve_secrets) else {
        return (Cow::Borrowed(text), 0);
    };
    let mut withheld_lines = 0;
    let mut changed = false;
    let lines: Vec<Cow<'_, str>> = text
        .split('\n')
        .map(|line| {
            let shown = redactor.line(line);
            changed |= matches!(shown, Cow::Owned(_));
            withheld_lines += u64::from(withheld(&shown));
            shown
        })
        .collect();
    if changed {
        (Cow::Owned(lines.join("\n")), withheld_lines)
    } else {
        (Cow::Borrowed(text), withheld_lines)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_files_are_recognised_by_name() {
        for path in [
            ".env",
            "app/.env",
            ".env.local",
            "deploy/.env.production",
            "prod.env",
        ] {
            assert!(is_env_file(path), "{path}");
        }
        for path in [
            "env",
            "src/environment.rs",
            ".envrc",
            "a/.env/x.rs",
            ".env-notes",
        ] {
            assert!(!is_env_file(path), "{path}");
        }
    }

    #[test]
    fn env_values_and_key_shapes_are_withheld() {
        let env = Redactor::for_file(".env", false).unwrap();
        assert_eq!(env.line("DB_PASSWORD=hunter2"), "DB_PASSWORD=«secret»");
        assert_eq!(
            env.line("  export API_TOKEN = \"quoted value\"  "),
            "  export API_TOKEN = «secret»"
        );
        assert_eq!(env.line("EMPTY="), "EMPTY=");
        assert_eq!(env.line("QUOTED_EMPTY=\"\""), "QUOTED_EMPTY=\"\"");
        assert_eq!(
            env.line("# comment about DB_PASSWORD"),
            "# comment about DB_PASSWORD"
        );
        assert!(matches!(env.line("# plain comment"), Cow::Borrowed(_)));

        let source = Redactor::for_file("src/config.py", false).unwrap();
        let key = "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB";
        let line = format!("TOKEN = \"{key}\"  # keep this comment");
        let shown = source.line(&line);
        assert_eq!(shown, "TOKEN = \"«secret»\"  # keep this comment");
        assert!(withheld(&shown));
        assert!(matches!(
            source.line("DB_PASSWORD=hunter2"),
            Cow::Borrowed(_)
        ));
        assert_eq!(Redactor::for_file(".env", true), None, "served as they are");
    }

    #[test]
    fn snippets_count_what_they_withhold() {
        let (shown, lines) = shown_text("a/.env", "A=1\n# note\nB=2", false);
        assert_eq!(shown, "A=«secret»\n# note\nB=«secret»");
        assert_eq!(lines, 2);
        let (shown, lines) = shown_text("a/.env", "A=1", true);
        assert_eq!((shown.as_ref(), lines), ("A=1", 0));
        assert!(matches!(
            shown_text("x.rs", "fn a() {}", false).0,
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn contents_keep_their_line_structure() {
        let env = Redactor::for_file(".env", false).unwrap();
        let content = b"# settings\r\nA=1\r\nB=two\nC=\n";
        let shown = env.content(content);
        assert_eq!(
            &*shown,
            "# settings\r\nA=«secret»\r\nB=«secret»\nC=\n".as_bytes()
        );
        assert!(matches!(env.content(b"# nothing\nX=\n"), Cow::Borrowed(_)));
        assert_eq!(
            &*env.content(b"K=v"),
            "K=«secret»".as_bytes(),
            "no final newline"
        );
    }
}
