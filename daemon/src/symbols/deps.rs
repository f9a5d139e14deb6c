//! Classifying imports as internal (the project's own code), standard library, or
//! third-party, using the project's manifests where present.

use std::collections::HashSet;
use std::path::Path;

/// Where an import comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// The project's own modules.
    Internal,
    /// The language's standard library.
    StandardLibrary,
    /// A dependency.
    ThirdParty,
}

/// What the project's manifests say about its own name and its dependencies.
#[derive(Debug, Default, Clone)]
pub struct Manifests {
    /// Names the project itself goes by (crate names, Go module path, package name).
    pub own_names: HashSet<String>,
    /// Declared dependencies (normalized: lower case, `-` → `_`).
    pub dependencies: HashSet<String>,
    /// Manifest files that were read, relative to the root.
    pub read: Vec<String>,
    /// Where each declared dependency is declared (normalized name → `path [section]`).
    pub declared_in: std::collections::HashMap<String, Vec<String>>,
}

/// Manifests larger than this are not read.
const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;

fn normalize(name: &str) -> String {
    name.trim().to_ascii_lowercase().replace('-', "_")
}

impl Manifests {
    /// Whether a file named `file_name` is a manifest [`Manifests::add`] understands.
    pub fn is_manifest(file_name: &str) -> bool {
        matches!(
            file_name,
            "Cargo.toml" | "pyproject.toml" | "package.json" | "go.mod" | "pom.xml"
        ) || (file_name.starts_with("requirements") && file_name.ends_with(".txt"))
    }

    /// Reads the manifests found at `root` (top level only).
    pub fn read(root: &Path) -> Manifests {
        let mut manifests = Manifests::default();
        let mut names: Vec<String> = std::fs::read_dir(root)
            .map(|entries| {
                entries
                    .flatten()
                    .filter_map(|entry| entry.file_name().to_str().map(String::from))
                    .filter(|name| Manifests::is_manifest(name))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        for name in names {
            // Manifests are small; a FIFO or device named like one is never opened.
            if let Ok(bytes) = crate::files::read_regular(&root.join(&name), MAX_MANIFEST_BYTES)
                && let Ok(text) = String::from_utf8(bytes)
            {
                manifests.add(&name, &text);
            }
        }
        manifests
    }

    /// Adds what the manifest at `path` (relative to the root) with content `text` declares
    /// (a manifest that does not parse adds nothing but is listed as read); other files are
    /// ignored.
    pub fn add(&mut self, path: &str, text: &str) {
        let file_name = path.rsplit('/').next().unwrap_or(path);
        match file_name {
            "Cargo.toml" => self.add_cargo(path, text),
            "pyproject.toml" => self.add_pyproject(path, text),
            "package.json" => self.add_package_json(path, text),
            "go.mod" => self.add_go_mod(path, text),
            "pom.xml" => self.add_pom(text),
            name if name.starts_with("requirements") && name.ends_with(".txt") => {
                for name in text
                    .lines()
                    .map(str::trim)
                    .filter(|line| !line.is_empty() && !line.starts_with(['#', '-']))
                    .map(requirement_name)
                {
                    self.declare(name, path, None);
                }
            }
            _ => return,
        }
        self.read.push(path.to_string());
    }

    /// Records that `path` (in `section`) declares `name` (already normalized).
    fn declare(&mut self, name: String, path: &str, section: Option<&str>) {
        let place = match section {
            Some(section) => format!("{path} [{section}]"),
            None => path.to_string(),
        };
        self.declared_in
            .entry(name.clone())
            .or_default()
            .push(place);
        self.dependencies.insert(name);
    }

    fn add_cargo(&mut self, path: &str, text: &str) {
        let Ok(value) = text.parse::<toml::Table>() else {
            return;
        };
        if let Some(name) = value
            .get("package")
            .and_then(|package| package.get("name"))
            .and_then(|name| name.as_str())
        {
            self.own_names.insert(normalize(name));
        }
        for section in ["dependencies", "dev-dependencies", "build-dependencies"] {
            let workspace = format!("workspace.{section}");
            for (table, name) in [
                (value.get(section), section),
                (
                    value.get("workspace").and_then(|w| w.get(section)),
                    workspace.as_str(),
                ),
            ] {
                if let Some(table) = table.and_then(|table| table.as_table()) {
                    for key in table.keys() {
                        self.declare(normalize(key), path, Some(name));
                    }
                }
            }
        }
    }

    fn add_pyproject(&mut self, path: &str, text: &str) {
        let Ok(value) = text.parse::<toml::Table>() else {
            return;
        };
        let project = value.get("project");
        if let Some(name) = project.and_then(|p| p.get("name")).and_then(|n| n.as_str()) {
            self.own_names.insert(normalize(name));
        }
        if let Some(list) = project
            .and_then(|p| p.get("dependencies"))
            .and_then(|d| d.as_array())
        {
            for name in list
                .iter()
                .filter_map(|item| item.as_str())
                .map(requirement_name)
            {
                self.declare(name, path, Some("project.dependencies"));
            }
        }
    }

    fn add_package_json(&mut self, path: &str, text: &str) {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
            return;
        };
        if let Some(name) = value.get("name").and_then(|n| n.as_str()) {
            self.own_names.insert(name.to_ascii_lowercase());
        }
        for section in ["dependencies", "devDependencies", "peerDependencies"] {
            if let Some(object) = value.get(section).and_then(|d| d.as_object()) {
                for key in object.keys() {
                    self.declare(key.to_ascii_lowercase(), path, Some(section));
                }
            }
        }
    }

    fn add_go_mod(&mut self, path: &str, text: &str) {
        for line in text.lines().map(str::trim) {
            if let Some(module) = line.strip_prefix("module ") {
                self.own_names.insert(module.trim().to_string());
            } else if let Some(first) = line
                .strip_prefix("require ")
                .or(Some(line))
                .and_then(|rest| rest.split_whitespace().next())
                .filter(|first| first.contains('.') && first.contains('/'))
            {
                self.declare(first.to_string(), path, Some("require"));
            }
        }
    }

    fn add_pom(&mut self, text: &str) {
        for group in text.split("<groupId>").skip(1) {
            if let Some(end) = group.find("</groupId>") {
                self.dependencies.insert(group[..end].trim().to_string());
            }
        }
    }

    /// Whether `package` (a top-level module name) is declared as a dependency.
    pub fn declares(&self, package: &str) -> bool {
        self.dependencies.contains(&normalize(package))
            || self.dependencies.contains(&package.to_ascii_lowercase())
    }
}

/// The project's own module names as seen from its file layout, for [`classify`]: Python
/// packages (directories with `__init__.py`) and modules at a source root, header paths for
/// C and C++ (`x.h`, `dir/x.h`), and dotted directory paths of Java and C# files.
pub fn internal_modules<'a>(
    paths: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> HashSet<String> {
    let mut modules = HashSet::new();
    for (path, language) in paths {
        let (directory, file_name) = path.rsplit_once('/').unwrap_or(("", path));
        match language {
            "Python" => {
                if file_name == "__init__.py" {
                    if let Some(package) = directory.rsplit('/').next().filter(|p| !p.is_empty()) {
                        modules.insert(normalize(package));
                    }
                } else if let Some(stem) = file_name.strip_suffix(".py") {
                    let at_source_root = directory.is_empty()
                        || directory == "src"
                        || directory.ends_with("/src")
                        || directory == "lib";
                    if at_source_root {
                        modules.insert(normalize(stem));
                    }
                }
            }
            "C" | "C++" => {
                let lower = path.to_ascii_lowercase();
                let mut rest = lower.as_str();
                loop {
                    modules.insert(rest.to_string());
                    match rest.split_once('/') {
                        Some((_, tail)) => rest = tail,
                        None => break,
                    }
                }
            }
            "Java" | "C#" => {
                let parts: Vec<&str> = directory.split('/').filter(|p| !p.is_empty()).collect();
                // Every run of two or more trailing directories could be the package.
                for start in 0..parts.len().saturating_sub(1) {
                    modules.insert(parts[start..].join("."));
                }
            }
            _ => {}
        }
    }
    modules
}

/// The distribution name of a requirement line (`requests>=2; python_version<'3.8'`).
fn requirement_name(line: &str) -> String {
    let end = line
        .find(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_' || c == '.'))
        .unwrap_or(line.len());
    normalize(&line[..end])
}

/// The top-level part of an import's module, by the language's conventions.
pub fn top_level(language: &str, module: &str) -> String {
    match language {
        "Rust" => module
            .trim_start_matches("::")
            .split("::")
            .next()
            .unwrap_or(module)
            .trim_start_matches('{')
            .to_string(),
        "Python" => module.split('.').next().unwrap_or(module).to_string(),
        "Java" | "C#" => module.split('.').take(2).collect::<Vec<_>>().join("."),
        "PHP" => module
            .trim_start_matches('\\')
            .split('\\')
            .next()
            .unwrap_or(module)
            .to_string(),
        "JavaScript" | "TypeScript" | "TSX" => {
            if module.starts_with('@') {
                module.split('/').take(2).collect::<Vec<_>>().join("/")
            } else {
                module.split('/').next().unwrap_or(module).to_string()
            }
        }
        _ => module.to_string(),
    }
}

/// Classifies one import.
pub fn classify(
    language: &str,
    module: &str,
    manifests: &Manifests,
    internal_modules: &HashSet<String>,
) -> Origin {
    let top = top_level(language, module);
    let normalized = normalize(&top);
    match language {
        "Rust" => {
            if ["crate", "self", "super"].contains(&top.as_str())
                || manifests.own_names.contains(&normalized)
                || internal_modules.contains(&normalized)
            {
                Origin::Internal
            } else if ["std", "core", "alloc", "proc_macro", "test"].contains(&top.as_str()) {
                Origin::StandardLibrary
            } else {
                Origin::ThirdParty
            }
        }
        "Python" => {
            if module.starts_with('.')
                || internal_modules.contains(&normalized)
                || manifests.own_names.contains(&normalized)
            {
                Origin::Internal
            } else if PYTHON_STDLIB.contains(&top.as_str()) {
                Origin::StandardLibrary
            } else {
                Origin::ThirdParty
            }
        }
        "JavaScript" | "TypeScript" | "TSX" => {
            if module.starts_with('.') || module.starts_with('/') {
                Origin::Internal
            } else if module.starts_with("node:") || NODE_BUILTINS.contains(&top.as_str()) {
                Origin::StandardLibrary
            } else if manifests.own_names.contains(&top.to_ascii_lowercase()) {
                Origin::Internal
            } else {
                Origin::ThirdParty
            }
        }
        "Go" => {
            if manifests
                .own_names
                .iter()
                .any(|own| module.starts_with(own.as_str()))
            {
                Origin::Internal
            } else if !module.split('/').next().unwrap_or("").contains('.') {
                Origin::StandardLibrary
            } else {
                Origin::ThirdParty
            }
        }
        "Java" | "C#" => {
            let standard_prefixes: &[&str] = if language == "Java" {
                &["java.", "javax."]
            } else {
                &["System", "Microsoft."]
            };
            if standard_prefixes
                .iter()
                .any(|prefix| module.starts_with(prefix))
            {
                Origin::StandardLibrary
            } else if internal_modules
                .iter()
                .any(|own| module.starts_with(own.as_str()))
            {
                Origin::Internal
            } else {
                Origin::ThirdParty
            }
        }
        "C" | "C++" => {
            // `#include "x.h"` is the project's own; `<x.h>` a system or library header.
            if internal_modules.contains(&module.to_ascii_lowercase()) {
                Origin::Internal
            } else if C_STANDARD_HEADERS.contains(&module) {
                Origin::StandardLibrary
            } else {
                Origin::ThirdParty
            }
        }
        _ => {
            if module.starts_with('.') || internal_modules.contains(&normalized) {
                Origin::Internal
            } else {
                Origin::ThirdParty
            }
        }
    }
}

/// Python's standard library top-level modules (CPython 3.12, `sys.stdlib_module_names`).
pub const PYTHON_STDLIB: &[&str] = &[
    "__future__",
    "_thread",
    "abc",
    "aifc",
    "argparse",
    "array",
    "ast",
    "asyncio",
    "atexit",
    "audioop",
    "base64",
    "bdb",
    "binascii",
    "bisect",
    "builtins",
    "bz2",
    "calendar",
    "cgi",
    "cgitb",
    "chunk",
    "cmath",
    "cmd",
    "code",
    "codecs",
    "codeop",
    "collections",
    "colorsys",
    "compileall",
    "concurrent",
    "configparser",
    "contextlib",
    "contextvars",
    "copy",
    "copyreg",
    "cProfile",
    "crypt",
    "csv",
    "ctypes",
    "curses",
    "dataclasses",
    "datetime",
    "dbm",
    "decimal",
    "difflib",
    "dis",
    "doctest",
    "email",
    "encodings",
    "ensurepip",
    "enum",
    "errno",
    "faulthandler",
    "fcntl",
    "filecmp",
    "fileinput",
    "fnmatch",
    "fractions",
    "ftplib",
    "functools",
    "gc",
    "getopt",
    "getpass",
    "gettext",
    "glob",
    "graphlib",
    "grp",
    "gzip",
    "hashlib",
    "heapq",
    "hmac",
    "html",
    "http",
    "idlelib",
    "imaplib",
    "imghdr",
    "importlib",
    "inspect",
    "io",
    "ipaddress",
    "itertools",
    "json",
    "keyword",
    "lib2to3",
    "linecache",
    "locale",
    "logging",
    "lzma",
    "mailbox",
    "mailcap",
    "marshal",
    "math",
    "mimetypes",
    "mmap",
    "modulefinder",
    "msvcrt",
    "multiprocessing",
    "netrc",
    "nis",
    "nntplib",
    "numbers",
    "operator",
    "optparse",
    "os",
    "ossaudiodev",
    "pathlib",
    "pdb",
    "pickle",
    "pickletools",
    "pipes",
    "pkgutil",
    "platform",
    "plistlib",
    "poplib",
    "posix",
    "posixpath",
    "pprint",
    "profile",
    "pstats",
    "pty",
    "pwd",
    "py_compile",
    "pyclbr",
    "pydoc",
    "queue",
    "quopri",
    "random",
    "re",
    "readline",
    "reprlib",
    "resource",
    "rlcompleter",
    "runpy",
    "sched",
    "secrets",
    "select",
    "selectors",
    "shelve",
    "shlex",
    "shutil",
    "signal",
    "site",
    "smtplib",
    "sndhdr",
    "socket",
    "socketserver",
    "spwd",
    "sqlite3",
    "ssl",
    "stat",
    "statistics",
    "string",
    "stringprep",
    "struct",
    "subprocess",
    "sunau",
    "symtable",
    "sys",
    "sysconfig",
    "syslog",
    "tabnanny",
    "tarfile",
    "telnetlib",
    "tempfile",
    "termios",
    "textwrap",
    "threading",
    "time",
    "timeit",
    "tkinter",
    "token",
    "tokenize",
    "tomllib",
    "trace",
    "traceback",
    "tracemalloc",
    "tty",
    "turtle",
    "types",
    "typing",
    "unicodedata",
    "unittest",
    "urllib",
    "uu",
    "uuid",
    "venv",
    "warnings",
    "wave",
    "weakref",
    "webbrowser",
    "winreg",
    "winsound",
    "wsgiref",
    "xdrlib",
    "xml",
    "xmlrpc",
    "zipapp",
    "zipfile",
    "zipimport",
    "zlib",
    "zoneinfo",
    "ntpath",
    "genericpath",
    "opcode",
    "_collections_abc",
    "sre_compile",
    "sre_parse",
    "sre_constants",
    "typing_extensions",
];

/// Node.js built-in modules.
pub const NODE_BUILTINS: &[&str] = &[
    "assert",
    "async_hooks",
    "buffer",
    "child_process",
    "cluster",
    "console",
    "constants",
    "crypto",
    "dgram",
    "diagnostics_channel",
    "dns",
    "domain",
    "events",
    "fs",
    "http",
    "http2",
    "https",
    "inspector",
    "module",
    "net",
    "os",
    "path",
    "perf_hooks",
    "process",
    "punycode",
    "querystring",
    "readline",
    "repl",
    "stream",
    "string_decoder",
    "sys",
    "timers",
    "tls",
    "trace_events",
    "tty",
    "url",
    "util",
    "v8",
    "vm",
    "wasi",
    "worker_threads",
    "zlib",
];

/// C and C++ standard headers.
pub const C_STANDARD_HEADERS: &[&str] = &[
    "assert.h",
    "complex.h",
    "ctype.h",
    "errno.h",
    "fenv.h",
    "float.h",
    "inttypes.h",
    "iso646.h",
    "limits.h",
    "locale.h",
    "math.h",
    "setjmp.h",
    "signal.h",
    "stdalign.h",
    "stdarg.h",
    "stdatomic.h",
    "stdbool.h",
    "stddef.h",
    "stdint.h",
    "stdio.h",
    "stdlib.h",
    "stdnoreturn.h",
    "string.h",
    "tgmath.h",
    "threads.h",
    "time.h",
    "uchar.h",
    "wchar.h",
    "wctype.h",
    "unistd.h",
    "fcntl.h",
    "sys/types.h",
    "sys/stat.h",
    "pthread.h",
    "algorithm",
    "any",
    "array",
    "atomic",
    "bitset",
    "cassert",
    "cctype",
    "cerrno",
    "cfloat",
    "chrono",
    "cinttypes",
    "climits",
    "cmath",
    "codecvt",
    "complex",
    "condition_variable",
    "cstdarg",
    "cstddef",
    "cstdint",
    "cstdio",
    "cstdlib",
    "cstring",
    "ctime",
    "deque",
    "exception",
    "filesystem",
    "forward_list",
    "fstream",
    "functional",
    "future",
    "initializer_list",
    "iomanip",
    "ios",
    "iosfwd",
    "iostream",
    "istream",
    "iterator",
    "limits",
    "list",
    "locale",
    "map",
    "memory",
    "mutex",
    "new",
    "numeric",
    "optional",
    "ostream",
    "queue",
    "random",
    "ratio",
    "regex",
    "set",
    "shared_mutex",
    "span",
    "sstream",
    "stack",
    "stdexcept",
    "streambuf",
    "string",
    "string_view",
    "system_error",
    "thread",
    "tuple",
    "type_traits",
    "typeindex",
    "typeinfo",
    "unordered_map",
    "unordered_set",
    "utility",
    "valarray",
    "variant",
    "vector",
    "format",
    "ranges",
    "concepts",
    "bit",
    "compare",
    "coroutine",
    "numbers",
    "source_location",
    "version",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_by_language_convention_and_manifest() {
        let mut manifests = Manifests::default();
        manifests.own_names.insert("mycrate".into());
        manifests.own_names.insert("example.com/me/app".into());
        let internal: HashSet<String> = ["app".to_string()].into();
        let cases = [
            ("Rust", "std::collections::HashMap", Origin::StandardLibrary),
            ("Rust", "crate::store", Origin::Internal),
            ("Rust", "mycrate::x", Origin::Internal),
            ("Rust", "serde::Deserialize", Origin::ThirdParty),
            ("Python", "os.path", Origin::StandardLibrary),
            ("Python", ".models", Origin::Internal),
            ("Python", "app.views", Origin::Internal),
            ("Python", "django.db", Origin::ThirdParty),
            ("JavaScript", "./util", Origin::Internal),
            ("JavaScript", "fs", Origin::StandardLibrary),
            ("JavaScript", "node:path", Origin::StandardLibrary),
            ("JavaScript", "@babel/parser", Origin::ThirdParty),
            ("Go", "fmt", Origin::StandardLibrary),
            ("Go", "example.com/me/app/store", Origin::Internal),
            ("Go", "github.com/x/y", Origin::ThirdParty),
            ("Java", "java.util.List", Origin::StandardLibrary),
            ("C", "stdio.h", Origin::StandardLibrary),
        ];
        for (language, module, expected) in cases {
            assert_eq!(
                classify(language, module, &manifests, &internal),
                expected,
                "{language} {module}"
            );
        }
        assert_eq!(
            requirement_name("Django>=4.2; python_version>'3'"),
            "django"
        );
        assert_eq!(
            top_level("JavaScript", "@babel/parser/lib"),
            "@babel/parser"
        );
    }

    #[test]
    fn derives_internal_modules_from_paths() {
        let modules = internal_modules([
            ("src/app/__init__.py", "Python"),
            ("tools/run.py", "Python"),
            ("setup.py", "Python"),
            ("include/lib/util.h", "C"),
            ("src/main/java/com/acme/Shop.java", "Java"),
        ]);
        for expected in ["app", "setup", "include/lib/util.h", "lib/util.h", "util.h"] {
            assert!(modules.contains(expected), "{expected}: {modules:?}");
        }
        assert!(modules.contains("com.acme"));
        assert!(!modules.contains("run"), "not at a source root");
    }

    #[test]
    fn reads_manifests() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("Cargo.toml"),
            "[package]\nname = \"my-crate\"\n[dependencies]\nserde-json = \"1\"\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("requirements-dev.txt"), "pytest>=7\n# c\n").unwrap();
        std::fs::write(
            dir.path().join("go.mod"),
            "module example.com/x\nrequire (\n\tgithub.com/a/b v1\n)\n",
        )
        .unwrap();
        let manifests = Manifests::read(dir.path());
        assert_eq!(
            manifests.read,
            ["Cargo.toml", "go.mod", "requirements-dev.txt"]
        );
        assert!(manifests.declares("serde-json"));
        assert!(!manifests.declares("tokio"));
        assert!(manifests.own_names.contains("my_crate"));
        assert!(manifests.dependencies.contains("serde_json"));
        assert!(manifests.dependencies.contains("pytest"));
        assert!(manifests.own_names.contains("example.com/x"));
        assert!(manifests.dependencies.contains("github.com/a/b"));
    }
}
