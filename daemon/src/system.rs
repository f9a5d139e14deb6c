//! Facts about the machine the daemon runs on, for health checks and `codesage doctor`:
//! free disk space under a path and the kernel's inotify limits.

use std::path::Path;

/// Free bytes available to this user on the filesystem holding `path` (the nearest existing
/// ancestor), or `None` where the platform does not say.
pub fn disk_free_bytes(path: &Path) -> Option<u64> {
    let existing = path.ancestors().find(|candidate| candidate.exists())?;
    statvfs_free(existing)
}

#[cfg(unix)]
fn statvfs_free(path: &Path) -> Option<u64> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let path = CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is NUL-terminated and `stats` is written by statvfs before it is read.
    let result = unsafe { libc::statvfs(path.as_ptr(), stats.as_mut_ptr()) };
    if result != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it filled `stats`.
    let stats = unsafe { stats.assume_init() };
    #[allow(clippy::unnecessary_cast)] // the field types differ between platforms
    Some(stats.f_bavail as u64 * stats.f_frsize as u64)
}

#[cfg(not(unix))]
fn statvfs_free(_path: &Path) -> Option<u64> {
    None
}

/// The kernel's inotify limits (Linux): watches per user and instances per user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InotifyLimits {
    /// `fs.inotify.max_user_watches`.
    pub max_user_watches: u64,
    /// `fs.inotify.max_user_instances`.
    pub max_user_instances: u64,
}

/// The inotify limits, or `None` off Linux or when `/proc` does not say.
pub fn inotify_limits() -> Option<InotifyLimits> {
    let read = |name: &str| -> Option<u64> {
        std::fs::read_to_string(format!("/proc/sys/fs/inotify/{name}"))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    Some(InotifyLimits {
        max_user_watches: read("max_user_watches")?,
        max_user_instances: read("max_user_instances")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_space_is_reported_for_a_missing_path_below_an_existing_one() {
        let dir = tempfile::tempdir().unwrap();
        let free = disk_free_bytes(&dir.path().join("not/yet/there"));
        if cfg!(unix) {
            assert!(free.is_some_and(|bytes| bytes > 0), "{free:?}");
        }
    }
}
