//! What git says about a codebase's change: the base commit a question compares with, the
//! files changed since it (with renames), the lines each change added, and the files' contents
//! at the base. Through the `git` command line, run in the codebase's directory with no pager,
//! no external diff or text conversion, no prompts and no optional locks (a review must never
//! block the user's own git commands).

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use super::ChangeError;

/// The tree of a repository without commits: a change on an unborn branch adds every file.
const EMPTY_TREE: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";

/// Bytes of one git answer at most (a diff of a very large change is cut, not buffered whole).
const MAX_OUTPUT: usize = 256 << 20;

/// What the change is compared with, and which side is new.
#[derive(Debug, Clone)]
pub struct Base {
    /// The commit (or the empty tree) compared with.
    pub commit: String,
    /// How the question named it (`HEAD`, `main`, …).
    pub named: String,
    /// The new side is git's index (staged changes) rather than the working tree.
    pub staged: bool,
    /// The codebase's directory relative to the repository's top (`""` or `dir/`).
    pub prefix: String,
}

/// How a file changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FileStatus {
    /// New (also untracked files of the working tree).
    Added,
    /// Changed in place.
    Modified,
    /// Gone.
    Deleted,
    /// Moved (and perhaps changed).
    Renamed,
}

/// One changed file, paths relative to the codebase.
#[derive(Debug, Clone)]
pub struct ChangedFile {
    /// Its path now (its old path when deleted).
    pub path: String,
    /// Its path at the base, when it had one.
    pub old_path: Option<String>,
    /// How it changed.
    pub status: FileStatus,
    /// Line ranges (1-based, inclusive) of the new side that the change added or rewrote;
    /// `None` when every line is new (added files).
    pub added_lines: Option<Vec<(u32, u32)>>,
}

impl ChangedFile {
    /// Whether the change added or rewrote any line of `start..=end`.
    pub fn touches(&self, start: u32, end: u32) -> bool {
        match &self.added_lines {
            None => true,
            Some(ranges) => ranges.iter().any(|(a, b)| *a <= end && start <= *b),
        }
    }

    /// Lines of `start..=end` the change added or rewrote.
    pub fn added_within(&self, start: u32, end: u32) -> u32 {
        match &self.added_lines {
            None => end.saturating_sub(start).saturating_add(1),
            Some(ranges) => ranges
                .iter()
                .map(|(a, b)| {
                    let (from, to) = ((*a).max(start), (*b).min(end));
                    if from <= to { to - from + 1 } else { 0 }
                })
                .sum(),
        }
    }
}

fn git(dir: &Path, args: &[&str]) -> Result<Vec<u8>, ChangeError> {
    let output = command(dir, args)
        .stdin(Stdio::null())
        .output()
        .map_err(|err| ChangeError::Git(missing_git(&err)))?;
    if !output.status.success() {
        let message = String::from_utf8_lossy(&output.stderr);
        return Err(ChangeError::Git(format!(
            "`git {}` failed: {}",
            args.first().copied().unwrap_or(""),
            message.trim()
        )));
    }
    let mut stdout = output.stdout;
    stdout.truncate(MAX_OUTPUT);
    Ok(stdout)
}

fn command(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new("git");
    command
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "core.quotepath=off",
            "-c",
            "diff.renames=true",
            "--no-pager",
        ])
        .args(args)
        .env("GIT_OPTIONAL_LOCKS", "0")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        .stderr(Stdio::piped())
        .stdout(Stdio::piped());
    command
}

fn missing_git(err: &std::io::Error) -> String {
    if err.kind() == std::io::ErrorKind::NotFound {
        "git is not installed (or not on the daemon's PATH); the change tools ask git what \
         changed"
            .to_string()
    } else {
        format!("cannot run git: {err}")
    }
}

/// Refuses what cannot be a revision before git sees it (an option, control characters).
fn check_revision(since: &str) -> Result<(), ChangeError> {
    let bad = since.is_empty()
        || since.starts_with('-')
        || since.len() > 256
        || since.chars().any(|c| c.is_control() || c.is_whitespace());
    if bad {
        return Err(ChangeError::BadRevision(format!(
            "{since:?} is not a git revision (a branch, tag, commit or expression such as \
             HEAD~3 or main)"
        )));
    }
    Ok(())
}

/// The base a question compares with: `since` (default `HEAD`) resolved to a commit in the
/// repository holding `dir`.
pub fn base(dir: &Path, since: Option<&str>, staged: bool) -> Result<Base, ChangeError> {
    let probe = git(
        dir,
        &["rev-parse", "--is-inside-work-tree", "--show-prefix"],
    );
    let prefix = match probe {
        Ok(out) if out.starts_with(b"true\n") => String::from_utf8_lossy(&out[5..])
            .trim_end_matches('\n')
            .to_string(),
        Err(ChangeError::Git(message)) if message.contains("not installed") => {
            return Err(ChangeError::Git(message));
        }
        _ => return Err(ChangeError::NotARepository(dir.display().to_string())),
    };
    let named = since.map(str::trim).filter(|s| !s.is_empty());
    if let Some(named) = named {
        check_revision(named)?;
    }
    let wanted = format!("{}^{{commit}}", named.unwrap_or("HEAD"));
    let commit = match git(
        dir,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            &wanted,
        ],
    ) {
        Ok(out) => String::from_utf8_lossy(&out).trim().to_string(),
        // A repository without commits: everything in it is the change.
        Err(_) if named.is_none() => EMPTY_TREE.to_string(),
        Err(_) => {
            return Err(ChangeError::BadRevision(format!(
                "git knows no commit {:?} in {}",
                named.unwrap_or("HEAD"),
                dir.display()
            )));
        }
    };
    Ok(Base {
        commit,
        named: named.unwrap_or("HEAD").to_string(),
        staged,
        prefix,
    })
}

/// The files of the codebase at `dir` changed since `base` (renames detected), with the
/// lines each change added. Unless the question is about the staged change, the files of
/// `indexed` (the live index's paths) git does not track count as added: the untracked
/// files worth comparing, found without a second walk of the work tree. In path order.
pub fn changed_files(
    dir: &Path,
    base: &Base,
    indexed: &[&str],
) -> Result<Vec<ChangedFile>, ChangeError> {
    let side = |mut args: Vec<&'static str>| {
        if base.staged {
            args.push("--cached");
        }
        let mut args: Vec<&str> = args;
        args.extend([base.commit.as_str(), "--"]);
        git(dir, &args)
    };
    // Three independent questions, each a walk of the work tree: asked at once.
    let (listing, tracked, patch) = std::thread::scope(|threads| {
        let listing = threads.spawn(|| {
            side(vec![
                "diff",
                "--name-status",
                "-z",
                "-M",
                "--no-ext-diff",
                "--relative",
            ])
        });
        let tracked = threads.spawn(|| {
            if base.staged {
                Ok(Vec::new())
            } else {
                git(dir, &["ls-files", "-z"])
            }
        });
        let patch = side(vec![
            "diff",
            "-U0",
            "-M",
            "--no-color",
            "--no-ext-diff",
            "--no-textconv",
            "--relative",
        ]);
        let joined = |handle: std::thread::ScopedJoinHandle<'_, Result<Vec<u8>, ChangeError>>| {
            handle
                .join()
                .unwrap_or_else(|_| Err(ChangeError::Git("a git call failed".into())))
        };
        (joined(listing), joined(tracked), patch)
    });
    let mut files = parse_name_status(&listing?);
    if !base.staged {
        let tracked = tracked?;
        let tracked: std::collections::HashSet<&[u8]> = tracked
            .split(|b| *b == 0)
            .filter(|p| !p.is_empty())
            .collect();
        for path in indexed {
            if !tracked.contains(path.as_bytes()) {
                files.push(ChangedFile {
                    path: path.to_string(),
                    old_path: None,
                    status: FileStatus::Added,
                    added_lines: None,
                });
            }
        }
    }
    let hunks = parse_hunks(&patch?);
    for file in &mut files {
        if file.status != FileStatus::Added {
            file.added_lines = Some(hunks.get(&file.path).cloned().unwrap_or_default());
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files.dedup_by(|a, b| a.path == b.path);
    Ok(files)
}

/// `git diff --name-status -z` output → files.
fn parse_name_status(listing: &[u8]) -> Vec<ChangedFile> {
    let mut fields = listing
        .split(|b| *b == 0)
        .map(|field| String::from_utf8_lossy(field).into_owned());
    let mut files = Vec::new();
    while let Some(status) = fields.next() {
        let Some(code) = status.chars().next() else {
            continue;
        };
        let Some(path) = fields.next() else { break };
        let file = match code {
            'R' | 'C' => {
                let Some(new_path) = fields.next() else { break };
                ChangedFile {
                    path: new_path,
                    old_path: (code == 'R').then_some(path),
                    status: if code == 'R' {
                        FileStatus::Renamed
                    } else {
                        FileStatus::Added
                    },
                    added_lines: None,
                }
            }
            'A' => ChangedFile {
                path,
                old_path: None,
                status: FileStatus::Added,
                added_lines: None,
            },
            'D' => ChangedFile {
                old_path: Some(path.clone()),
                path,
                status: FileStatus::Deleted,
                added_lines: Some(Vec::new()),
            },
            // M, T (type change), U (unmerged): changed in place.
            _ => ChangedFile {
                old_path: Some(path.clone()),
                path,
                status: FileStatus::Modified,
                added_lines: None,
            },
        };
        files.push(file);
    }
    files
}

/// `git diff -U0` output → the new side's added line ranges of each file.
fn parse_hunks(diff: &[u8]) -> HashMap<String, Vec<(u32, u32)>> {
    let mut hunks: HashMap<String, Vec<(u32, u32)>> = HashMap::new();
    let mut current: Option<String> = None;
    for line in diff.split(|b| *b == b'\n') {
        if let Some(path) = line.strip_prefix(b"+++ ") {
            current = path
                .strip_prefix(b"b/")
                .map(|path| String::from_utf8_lossy(path).into_owned());
            if let Some(path) = &current {
                hunks.entry(path.clone()).or_default();
            }
        } else if line.starts_with(b"diff --git ") {
            current = None;
        } else if let (Some(path), Some(header)) = (&current, line.strip_prefix(b"@@ "))
            && let Some(range) = new_side(header)
        {
            hunks.entry(path.clone()).or_default().push(range);
        }
    }
    hunks
}

/// `-a,b +c,d @@ …` → the new side's lines `c..=c+d-1`, `None` when it adds none.
fn new_side(header: &[u8]) -> Option<(u32, u32)> {
    let header = std::str::from_utf8(header).ok()?;
    let plus = header.split(' ').find(|part| part.starts_with('+'))?;
    let mut numbers = plus[1..].splitn(2, ',');
    let start: u32 = numbers.next()?.parse().ok()?;
    let count: u32 = match numbers.next() {
        Some(count) => count.parse().ok()?,
        None => 1,
    };
    (count > 0).then(|| (start, start.saturating_add(count - 1)))
}

/// The contents at the base of each of `paths` (relative to the codebase), through one
/// `git cat-file --batch`; a path the base lacks (or a non-file there) maps to `None`.
pub fn contents_at(
    dir: &Path,
    base: &Base,
    paths: &[&str],
) -> Result<Vec<Option<Vec<u8>>>, ChangeError> {
    contents(dir, paths, |path| {
        format!("{}:{}{path}", base.commit, base.prefix)
    })
}

/// The contents in git's index (the staged side) of each of `paths`.
pub fn staged_contents(
    dir: &Path,
    base: &Base,
    paths: &[&str],
) -> Result<Vec<Option<Vec<u8>>>, ChangeError> {
    contents(dir, paths, |path| format!(":{}{path}", base.prefix))
}

fn contents(
    dir: &Path,
    paths: &[&str],
    object: impl Fn(&str) -> String,
) -> Result<Vec<Option<Vec<u8>>>, ChangeError> {
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    let mut child = command(dir, &["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|err| ChangeError::Git(missing_git(&err)))?;
    let mut request = String::new();
    for path in paths {
        // A name with a newline cannot be asked for on one line: read as absent.
        let name = if path.contains('\n') {
            ":\u{1}".to_string()
        } else {
            object(path)
        };
        request.push_str(&name);
        request.push('\n');
    }
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| ChangeError::Git("cannot write to git cat-file".into()))?;
    // Written from another thread: git answers while it reads, and a full pipe both ways
    // would stall.
    let writer = std::thread::spawn(move || stdin.write_all(request.as_bytes()));
    let output = child
        .wait_with_output()
        .map_err(|err| ChangeError::Git(format!("git cat-file: {err}")))?;
    let _ = writer.join();
    let mut out = Vec::with_capacity(paths.len());
    let mut rest = output.stdout.as_slice();
    for _ in paths {
        let Some(end) = rest.iter().position(|b| *b == b'\n') else {
            out.push(None);
            continue;
        };
        let header = String::from_utf8_lossy(&rest[..end]).into_owned();
        rest = &rest[end + 1..];
        let mut parts = header.split(' ');
        let (_, kind, size) = (parts.next(), parts.next(), parts.next());
        let size = size.and_then(|size| size.parse::<usize>().ok());
        match (kind, size) {
            (Some(kind), Some(size)) if rest.len() > size => {
                out.push((kind == "blob").then(|| rest[..size].to_vec()));
                rest = &rest[size + 1..];
            }
            _ => out.push(None),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_status_with_renames_and_deletions() {
        let listing = b"M\0src/a.rs\0R087\0old.py\0new.py\0D\0gone.js\0A\0fresh.go\0";
        let files = parse_name_status(listing);
        let summary: Vec<(&str, Option<&str>, FileStatus)> = files
            .iter()
            .map(|f| (f.path.as_str(), f.old_path.as_deref(), f.status))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("src/a.rs", Some("src/a.rs"), FileStatus::Modified),
                ("new.py", Some("old.py"), FileStatus::Renamed),
                ("gone.js", Some("gone.js"), FileStatus::Deleted),
                ("fresh.go", None, FileStatus::Added),
            ]
        );
    }

    #[test]
    fn hunks_give_the_new_sides_lines() {
        let diff = b"diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -3 +3 @@ def f\n-a\n+b\n@@ -10,0 +11,4 @@\n+1\n+2\n+3\n+4\n@@ -20,2 +24,0 @@\n-x\n-y\ndiff --git a/gone b/gone\n--- a/gone\n+++ /dev/null\n@@ -1 +0,0 @@\n-z\n";
        let hunks = parse_hunks(diff);
        assert_eq!(hunks.get("x.py"), Some(&vec![(3, 3), (11, 14)]));
        assert!(!hunks.contains_key("gone"));
        let file = ChangedFile {
            path: "x.py".into(),
            old_path: Some("x.py".into()),
            status: FileStatus::Modified,
            added_lines: hunks.get("x.py").cloned(),
        };
        assert!(file.touches(1, 3) && file.touches(14, 30) && !file.touches(4, 10));
        assert_eq!(file.added_within(1, 12), 3);
    }

    #[test]
    fn options_and_control_characters_are_not_revisions() {
        for bad in ["--output=/tmp/x", "-p", "a b", "main\n", ""] {
            assert!(check_revision(bad).is_err(), "{bad:?}");
        }
        for good in ["HEAD~3", "main", "origin/main", "v1.2.0", "abc123^"] {
            assert!(check_revision(good).is_ok(), "{good:?}");
        }
    }
}
