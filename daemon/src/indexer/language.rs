//! Language detection (by file name, extension, then shebang) and each language's comment
//! syntax, used for line counts and per-language summaries.

/// A language CodeSage recognises.
#[derive(Debug, PartialEq, Eq)]
pub struct Language {
    /// Display name, e.g. `Rust`.
    pub name: &'static str,
    /// Extensions without the dot, lower case.
    pub extensions: &'static [&'static str],
    /// Exact file names (for extension-less files such as `Makefile`).
    pub file_names: &'static [&'static str],
    /// Interpreter names recognised in a `#!` line.
    pub interpreters: &'static [&'static str],
    /// Tokens starting a comment that runs to the end of the line.
    pub line_comments: &'static [&'static str],
    /// Start and end tokens of block comments.
    pub block_comments: &'static [(&'static str, &'static str)],
}

const C_LINE: &[&str] = &["//"];
const C_BLOCK: &[(&str, &str)] = &[("/*", "*/")];
const HASH: &[&str] = &["#"];
const NONE_LINE: &[&str] = &[];
const NONE_BLOCK: &[(&str, &str)] = &[];
const XML_BLOCK: &[(&str, &str)] = &[("<!--", "-->")];

macro_rules! lang {
    ($name:expr, [$($ext:expr),*], [$($file:expr),*], [$($interp:expr),*], $line:expr, $block:expr) => {
        Language {
            name: $name,
            extensions: &[$($ext),*],
            file_names: &[$($file),*],
            interpreters: &[$($interp),*],
            line_comments: $line,
            block_comments: $block,
        }
    };
}

/// Every recognised language.
pub static LANGUAGES: &[Language] = &[
    lang!("Rust", ["rs"], [], [], C_LINE, C_BLOCK),
    lang!(
        "Python",
        ["py", "pyi", "pyw"],
        [],
        ["python", "python3", "python2"],
        HASH,
        NONE_BLOCK
    ),
    lang!(
        "JavaScript",
        ["js", "mjs", "cjs", "jsx"],
        [],
        ["node", "nodejs", "deno"],
        C_LINE,
        C_BLOCK
    ),
    lang!("TypeScript", ["ts", "mts", "cts"], [], [], C_LINE, C_BLOCK),
    lang!("TSX", ["tsx"], [], [], C_LINE, C_BLOCK),
    lang!("Go", ["go"], [], [], C_LINE, C_BLOCK),
    lang!("Java", ["java"], [], [], C_LINE, C_BLOCK),
    lang!("Kotlin", ["kt", "kts"], [], [], C_LINE, C_BLOCK),
    lang!("Scala", ["scala", "sc"], [], [], C_LINE, C_BLOCK),
    lang!("C", ["c", "h"], [], [], C_LINE, C_BLOCK),
    lang!(
        "C++",
        [
            "cc", "cpp", "cxx", "c++", "hh", "hpp", "hxx", "h++", "ipp", "tpp", "inl"
        ],
        [],
        [],
        C_LINE,
        C_BLOCK
    ),
    lang!("C#", ["cs", "csx"], [], [], C_LINE, C_BLOCK),
    lang!("Objective-C", ["m", "mm"], [], [], C_LINE, C_BLOCK),
    lang!("Swift", ["swift"], [], [], C_LINE, C_BLOCK),
    lang!(
        "Ruby",
        ["rb", "rake", "gemspec"],
        ["Rakefile", "Gemfile"],
        ["ruby"],
        HASH,
        &[("=begin", "=end")]
    ),
    lang!("PHP", ["php", "phtml"], [], ["php"], &["//", "#"], C_BLOCK),
    lang!(
        "Shell",
        ["sh", "bash", "zsh", "ksh"],
        [".bashrc", ".zshrc", ".profile"],
        ["sh", "bash", "zsh", "ksh", "dash"],
        HASH,
        NONE_BLOCK
    ),
    lang!("Perl", ["pl", "pm"], [], ["perl"], HASH, NONE_BLOCK),
    lang!("Lua", ["lua"], [], ["lua"], &["--"], &[("--[[", "]]")]),
    lang!("R", ["r"], [], ["Rscript"], HASH, NONE_BLOCK),
    lang!("Julia", ["jl"], [], ["julia"], HASH, &[("#=", "=#")]),
    lang!(
        "Haskell",
        ["hs", "lhs"],
        [],
        ["runhaskell"],
        &["--"],
        &[("{-", "-}")]
    ),
    lang!("OCaml", ["ml", "mli"], [], [], NONE_LINE, &[("(*", "*)")]),
    lang!("Elixir", ["ex", "exs"], [], ["elixir"], HASH, NONE_BLOCK),
    lang!(
        "Erlang",
        ["erl", "hrl"],
        [],
        ["escript"],
        &["%"],
        NONE_BLOCK
    ),
    lang!(
        "Clojure",
        ["clj", "cljs", "cljc", "edn"],
        [],
        [],
        &[";"],
        NONE_BLOCK
    ),
    lang!("Dart", ["dart"], [], [], C_LINE, C_BLOCK),
    lang!("Zig", ["zig"], [], [], C_LINE, NONE_BLOCK),
    lang!("Nim", ["nim"], [], [], HASH, &[("#[", "]#")]),
    lang!("SQL", ["sql"], [], [], &["--"], C_BLOCK),
    lang!(
        "HTML",
        ["html", "htm", "xhtml"],
        [],
        [],
        NONE_LINE,
        XML_BLOCK
    ),
    lang!(
        "XML",
        ["xml", "xsd", "xsl", "svg", "plist"],
        [],
        [],
        NONE_LINE,
        XML_BLOCK
    ),
    lang!("CSS", ["css"], [], [], NONE_LINE, C_BLOCK),
    lang!("SCSS", ["scss", "sass", "less"], [], [], C_LINE, C_BLOCK),
    lang!(
        "Vue",
        ["vue"],
        [],
        [],
        C_LINE,
        &[("<!--", "-->"), ("/*", "*/")]
    ),
    lang!(
        "Svelte",
        ["svelte"],
        [],
        [],
        C_LINE,
        &[("<!--", "-->"), ("/*", "*/")]
    ),
    lang!(
        "JSON",
        ["json", "jsonc", "json5"],
        [],
        [],
        NONE_LINE,
        NONE_BLOCK
    ),
    lang!("YAML", ["yaml", "yml"], [], [], HASH, NONE_BLOCK),
    lang!(
        "TOML",
        ["toml"],
        ["Cargo.lock", "Pipfile"],
        [],
        HASH,
        NONE_BLOCK
    ),
    lang!(
        "INI",
        ["ini", "cfg", "conf", "properties"],
        [".editorconfig"],
        [],
        &["#", ";"],
        NONE_BLOCK
    ),
    lang!(
        "Markdown",
        ["md", "markdown", "mdx"],
        [],
        [],
        NONE_LINE,
        XML_BLOCK
    ),
    lang!("reStructuredText", ["rst"], [], [], NONE_LINE, NONE_BLOCK),
    lang!(
        "Text",
        ["txt", "text"],
        [
            "LICENSE",
            "README",
            "AUTHORS",
            "NOTICE",
            "COPYING",
            "CHANGELOG"
        ],
        [],
        NONE_LINE,
        NONE_BLOCK
    ),
    lang!(
        "Makefile",
        ["mk", "mak"],
        ["Makefile", "makefile", "GNUmakefile"],
        ["make"],
        HASH,
        NONE_BLOCK
    ),
    lang!("CMake", ["cmake"], ["CMakeLists.txt"], [], HASH, NONE_BLOCK),
    lang!(
        "Dockerfile",
        ["dockerfile"],
        ["Dockerfile", "Containerfile"],
        [],
        HASH,
        NONE_BLOCK
    ),
    lang!("Protobuf", ["proto"], [], [], C_LINE, C_BLOCK),
    lang!("GraphQL", ["graphql", "gql"], [], [], HASH, NONE_BLOCK),
    lang!(
        "Terraform",
        ["tf", "tfvars", "hcl"],
        [],
        [],
        &["#", "//"],
        C_BLOCK
    ),
    lang!("Nix", ["nix"], [], [], HASH, C_BLOCK),
    lang!(
        "PowerShell",
        ["ps1", "psm1", "psd1"],
        [],
        ["pwsh"],
        HASH,
        &[("<#", "#>")]
    ),
    lang!(
        "Batch",
        ["bat", "cmd"],
        [],
        [],
        &["REM", "rem", "::"],
        NONE_BLOCK
    ),
    lang!(
        "Fortran",
        ["f", "f90", "f95", "f03", "for"],
        [],
        [],
        &["!"],
        NONE_BLOCK
    ),
    lang!("Assembly", ["s", "asm"], [], [], &[";", "#"], C_BLOCK),
    lang!("Cython", ["pyx", "pxd", "pxi"], [], [], HASH, NONE_BLOCK),
    lang!(
        "Groovy",
        ["groovy", "gradle"],
        [],
        ["groovy"],
        C_LINE,
        C_BLOCK
    ),
    lang!("Solidity", ["sol"], [], [], C_LINE, C_BLOCK),
    lang!("Visual Basic", ["vb", "vbs"], [], [], &["'"], NONE_BLOCK),
    lang!("F#", ["fs", "fsi", "fsx"], [], [], C_LINE, &[("(*", "*)")]),
    lang!("Tcl", ["tcl"], [], ["tclsh", "wish"], HASH, NONE_BLOCK),
    lang!("CSV", ["csv", "tsv"], [], [], NONE_LINE, NONE_BLOCK),
];

/// The language of files nothing else matched.
pub static OTHER: Language = lang!("Other", [], [], [], NONE_LINE, NONE_BLOCK);

/// Detects the language of `path` (relative or absolute), looking at `head` (the first bytes
/// of the content) for a `#!` line when the name says nothing.
pub fn detect(path: &str, head: &[u8]) -> &'static Language {
    let file_name = path.rsplit('/').next().unwrap_or(path);
    if let Some(language) = LANGUAGES
        .iter()
        .find(|language| language.file_names.contains(&file_name))
    {
        return language;
    }
    if let Some((_, extension)) = file_name.rsplit_once('.')
        && !extension.is_empty()
    {
        let extension = extension.to_ascii_lowercase();
        if let Some(language) = LANGUAGES
            .iter()
            .find(|language| language.extensions.contains(&extension.as_str()))
        {
            return language;
        }
    }
    from_shebang(head).unwrap_or(&OTHER)
}

fn from_shebang(head: &[u8]) -> Option<&'static Language> {
    let first_line = head.strip_prefix(b"#!")?;
    let end = memchr::memchr(b'\n', first_line).unwrap_or(first_line.len());
    let line = std::str::from_utf8(&first_line[..end]).ok()?;
    let mut words = line.split_whitespace();
    let program = words.next()?.rsplit('/').next()?;
    let interpreter = if program == "env" {
        words.find(|word| !word.starts_with('-'))?
    } else {
        program
    };
    // `python3.12` → `python3`, so versioned interpreters match.
    let trimmed = interpreter.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    LANGUAGES.iter().find(|language| {
        language.interpreters.contains(&interpreter) || language.interpreters.contains(&trimmed)
    })
}

/// Looks a language up by name or extension, case-insensitively (`python`, `py`, `.py`).
pub fn by_name_or_extension(query: &str) -> Option<&'static Language> {
    let query = query.trim().trim_start_matches('.').to_ascii_lowercase();
    LANGUAGES.iter().find(|language| {
        language.name.to_ascii_lowercase() == query || language.extensions.contains(&query.as_str())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_extension_name_and_shebang() {
        assert_eq!(detect("src/main.rs", b"").name, "Rust");
        assert_eq!(detect("A/B.PY", b"").name, "Python");
        assert_eq!(detect("Makefile", b"").name, "Makefile");
        assert_eq!(
            detect("bin/tool", b"#!/usr/bin/env python3\n").name,
            "Python"
        );
        assert_eq!(detect("bin/run", b"#!/bin/bash -e\n").name, "Shell");
        assert_eq!(
            detect("bin/x", b"#!/usr/bin/env -S python3.12 -u\n").name,
            "Python"
        );
        assert_eq!(detect("data.unknownext", b"").name, "Other");
    }

    #[test]
    fn lookup_accepts_names_and_extensions() {
        assert_eq!(by_name_or_extension(".py").unwrap().name, "Python");
        assert_eq!(by_name_or_extension("RUST").unwrap().name, "Rust");
        assert!(by_name_or_extension("cobol-ish").is_none());
    }
}
