//! Path safety: turning what a client wrote into a canonical path that may be compared with
//! the registered roots. Symlinks are resolved where the path exists; the rest of a missing
//! path is normalised lexically, and a relative path that climbs out with `..` is refused.
//! These functions decide what "inside a root" means, so every answer that serves a path
//! depends on them.

use std::path::{Component, Path, PathBuf};

use super::EngineError;

/// The home directory, canonical (roots nobody typed must never be it).
pub fn home_dir() -> Option<PathBuf> {
    directories::BaseDirs::new()
        .map(|dirs| dirs.home_dir().to_path_buf())
        .and_then(|home| home.canonicalize().ok())
}

/// `path` with every symlink resolved; it must exist.
pub fn canonicalize_existing(path: &Path) -> Result<PathBuf, EngineError> {
    path.canonicalize().map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            EngineError::NotFound(path.to_path_buf())
        } else {
            EngineError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    })
}

/// Resolves `path` (absolute) as the operating system would, component by component:
/// symlinks are followed as far as the path exists, and the missing rest is normalised
/// lexically (`..` pops). So a missing file still maps to its root, and neither
/// `root/missing/../../x` nor `root/src/../../x` can pass for a path inside `root`.
pub fn resolve_absolute(path: &Path) -> PathBuf {
    if let Ok(canonical) = path.canonicalize() {
        return canonical;
    }
    let mut resolved = PathBuf::new();
    let mut exists = true;
    for component in path.components() {
        match component {
            Component::Prefix(_) | Component::RootDir => resolved.push(component),
            Component::CurDir => {}
            Component::ParentDir => {
                resolved.pop();
                exists = resolved.exists();
            }
            Component::Normal(name) => {
                resolved.push(name);
                if exists {
                    match resolved.canonicalize() {
                        Ok(canonical) => resolved = canonical,
                        Err(_) => exists = false,
                    }
                }
            }
        }
    }
    resolved
}

/// A relative path with `.` removed, or `None` if it climbs out with `..` (or is absolute).
pub fn normalize_relative(path: &Path) -> Option<PathBuf> {
    let mut normalized = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(name) => normalized.push(name),
            Component::CurDir => {}
            Component::ParentDir => {
                if !normalized.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(normalized)
}

/// Longest path the kernel resolves (Linux `PATH_MAX`, terminating NUL included).
pub const PATH_MAX: usize = 4096;
/// Longest name of one directory entry (Linux `NAME_MAX`).
pub const NAME_MAX: usize = 255;

/// Why a path argument cannot name anything on disk, whatever the roots are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathProblem {
    /// A NUL byte at this offset: no system call accepts it, and in C it would cut the
    /// path short, so it is refused rather than passed on.
    Nul(usize),
    /// Longer than [`PATH_MAX`] bytes.
    TooLong(usize),
    /// One name longer than [`NAME_MAX`] bytes (its length).
    NameTooLong(usize),
}

/// Checks what a client wrote as a path before anything resolves it, so that the answer is
/// a short, exact reason instead of an operating-system error quoting a huge argument.
pub fn check_path_text(path: &str) -> Result<(), PathProblem> {
    if let Some(at) = path.bytes().position(|byte| byte == 0) {
        return Err(PathProblem::Nul(at));
    }
    if path.len() >= PATH_MAX {
        return Err(PathProblem::TooLong(path.len()));
    }
    match path.split('/').map(str::len).max() {
        Some(longest) if longest > NAME_MAX => Err(PathProblem::NameTooLong(longest)),
        _ => Ok(()),
    }
}

/// `path` inside `root` as a `/`-separated relative path (`""` for the root), if it is
/// inside and valid UTF-8.
pub fn inside(root: &Path, path: &Path) -> Option<String> {
    let inside = path.strip_prefix(root).ok()?;
    Some(inside.to_str()?.replace('\\', "/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_may_not_climb_out() {
        assert_eq!(
            normalize_relative(Path::new("a/./b/../c.rs")),
            Some(PathBuf::from("a/c.rs"))
        );
        assert_eq!(normalize_relative(Path::new("a/..")), Some(PathBuf::new()));
        assert_eq!(normalize_relative(Path::new("../etc/passwd")), None);
        assert_eq!(normalize_relative(Path::new("a/../../b")), None);
        assert_eq!(normalize_relative(Path::new("/etc/passwd")), None);
        assert_eq!(normalize_relative(Path::new("")), Some(PathBuf::new()));
    }

    #[test]
    fn impossible_paths_are_named_before_resolving() {
        assert_eq!(check_path_text("src/a.rs"), Ok(()));
        assert_eq!(check_path_text("src/a\0/../x"), Err(PathProblem::Nul(5)));
        let long = "a/".repeat(PATH_MAX / 2);
        assert_eq!(
            check_path_text(&long),
            Err(PathProblem::TooLong(long.len()))
        );
        let name = format!("src/{}", "x".repeat(NAME_MAX + 1));
        assert_eq!(
            check_path_text(&name),
            Err(PathProblem::NameTooLong(NAME_MAX + 1))
        );
        assert_eq!(check_path_text(&"x".repeat(NAME_MAX)), Ok(()));
    }

    #[test]
    fn missing_paths_resolve_through_their_existing_parent() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        std::fs::create_dir(root.join("src")).unwrap();
        assert_eq!(
            resolve_absolute(&root.join("src/missing.rs")),
            root.join("src/missing.rs")
        );
        // `..` inside the missing part is applied, so it cannot hide an escape.
        assert_eq!(
            resolve_absolute(&root.join("src/nope/../../../outside")),
            root.parent().unwrap().join("outside")
        );
        assert_eq!(
            resolve_absolute(&root.join("./src/./a")),
            root.join("src/a")
        );
        // An existing directory followed by `..` climbs out too.
        assert_eq!(
            resolve_absolute(&root.join("src/../../elsewhere")),
            root.parent().unwrap().join("elsewhere")
        );
        assert_eq!(
            inside(&root, &resolve_absolute(&root.join("src/../../x"))),
            None
        );
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_resolved_before_the_root_check() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().canonicalize().unwrap();
        let root = base.join("root");
        let outside = base.join("outside");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("secret.txt"), "x").unwrap();
        std::os::unix::fs::symlink(outside.join("secret.txt"), root.join("link.txt")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("dir-link")).unwrap();
        let resolved = resolve_absolute(&root.join("link.txt"));
        assert_eq!(resolved, outside.join("secret.txt"));
        assert_eq!(
            inside(&root, &resolved),
            None,
            "the link leads out of the root"
        );
        let through_dir = resolve_absolute(&root.join("dir-link/missing.txt"));
        assert_eq!(through_dir, outside.join("missing.txt"));
        assert_eq!(inside(&root, &through_dir), None);
        assert_eq!(inside(&root, &root.join("a/b.rs")), Some("a/b.rs".into()));
        assert_eq!(inside(&root, &root), Some(String::new()));
    }

    #[test]
    fn missing_paths_are_reported_as_not_found() {
        let err = canonicalize_existing(Path::new("/definitely/not/here")).unwrap_err();
        assert!(matches!(err, EngineError::NotFound(_)), "{err}");
    }
}
