//! Which directories live on virtual filesystems (procfs, sysfs, devtmpfs, cgroup, …).
//!
//! Such trees are not code: `/proc` alone lists tens of thousands of entries that change all
//! the time, and some of their files block or never end when read. They are refused as roots
//! and never descended into by a walk. The filesystem type decides, not the path's name, so a
//! procfs mounted anywhere (a container's root, a chroot) is recognised too.

use std::path::{Path, PathBuf};

/// Filesystem types that hold no files a codebase could consist of.
const VIRTUAL_TYPES: &[&str] = &[
    "proc",
    "sysfs",
    "devtmpfs",
    "devfs",
    "devpts",
    "cgroup",
    "cgroup2",
    "securityfs",
    "debugfs",
    "tracefs",
    "pstore",
    "bpf",
    "configfs",
    "efivarfs",
    "fusectl",
    "mqueue",
    "hugetlbfs",
    "binfmt_misc",
    "autofs",
    "nsfs",
    "selinuxfs",
    "rpc_pipefs",
];

/// One mounted filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Where it is mounted.
    pub point: PathBuf,
    /// Its type (`proc`, `ext4`, …).
    pub fs_type: String,
}

impl Mount {
    /// Whether the filesystem is one of the virtual kinds that are never indexed.
    pub fn is_virtual(&self) -> bool {
        VIRTUAL_TYPES.contains(&self.fs_type.as_str())
    }
}

/// Where the kernel's own trees are mounted on Linux. Whatever is mounted there (a container
/// may give `/dev` a tmpfs, `/sys/fs/cgroup` is one) is never code.
const KERNEL_TREES: &[&str] = &["/proc", "/sys", "/dev"];

/// The virtual filesystem `path` (canonical) lies on or under, if any: its type name. A path
/// is on one when any filesystem mounted on the way to it is virtual (`/sys/fs/cgroup` is a
/// tmpfs inside sysfs), or when it is in one of the kernel's trees (`/proc`, `/sys`, `/dev`).
pub fn virtual_filesystem(path: &Path) -> Option<String> {
    let mounts = mounts();
    let found = if mounts.is_empty() {
        statfs_virtual_type(path)
    } else {
        mounts
            .iter()
            .filter(|mount| mount.is_virtual() && path.starts_with(&mount.point))
            .max_by_key(|mount| mount.point.as_os_str().len())
            .map(|mount| mount.fs_type.clone())
    };
    found.or_else(|| {
        let tree = KERNEL_TREES
            .iter()
            .find(|tree| cfg!(target_os = "linux") && path.starts_with(tree))?;
        Some(format!("the kernel's {tree} tree"))
    })
}

/// Mount points of virtual filesystems strictly inside `root` (canonical), which a walk of
/// `root` must not enter.
pub fn virtual_mounts_under(root: &Path) -> Vec<PathBuf> {
    mounts()
        .into_iter()
        .filter(|mount| mount.is_virtual() && mount.point != root && mount.point.starts_with(root))
        .map(|mount| mount.point)
        .collect()
}

/// The mount table (empty where it cannot be read, or on platforms without one here).
pub fn mounts() -> Vec<Mount> {
    #[cfg(target_os = "linux")]
    {
        std::fs::read_to_string("/proc/self/mountinfo")
            .map(|text| parse_mountinfo(&text))
            .unwrap_or_default()
    }
    #[cfg(not(target_os = "linux"))]
    {
        Vec::new()
    }
}

/// Parses `/proc/self/mountinfo`: `id parent dev root mount-point options [optional…] -
/// fstype source super-options` per line, with spaces and such in paths written as octal
/// escapes (`\040`).
pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (before, after) = line.split_once(" - ")?;
            let point = before.split(' ').nth(4)?;
            let fs_type = after.split(' ').next()?;
            Some(Mount {
                point: PathBuf::from(unescape_octal(point)),
                fs_type: fs_type.to_string(),
            })
        })
        .collect()
}

fn unescape_octal(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escape = bytes.get(index + 1..index + 4).filter(|digits| {
            bytes[index] == b'\\' && digits.iter().all(|digit| (b'0'..=b'7').contains(digit))
        });
        match escape {
            Some(digits) => {
                let value = digits
                    .iter()
                    .fold(0u32, |value, digit| value * 8 + u32::from(digit - b'0'));
                out.push(value as u8);
                index += 4;
            }
            None => {
                out.push(bytes[index]);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Where there is no mount table: the filesystem type of `path` from `statfs`, if virtual.
fn statfs_virtual_type(path: &Path) -> Option<String> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::ffi::OsStrExt;
        let name = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
        // SAFETY: `stats` is plain old data that statfs fills in; `name` is NUL-terminated.
        let mut stats: libc::statfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::statfs(name.as_ptr(), &mut stats) } != 0 {
            return None;
        }
        // Magic numbers from linux/magic.h (devtmpfs reports tmpfs's and is found through the
        // mount table instead).
        let kind = match stats.f_type as u64 {
            0x9fa0 => "proc",
            0x6265_6572 => "sysfs",
            0x1cd1 => "devpts",
            0x0027_e0eb => "cgroup",
            0x6367_7270 => "cgroup2",
            0x7363_6673 => "securityfs",
            0x6462_6720 => "debugfs",
            0x7472_6163 => "tracefs",
            0xcafe_4a11 => "bpf",
            0x6165_676c => "pstore",
            0x6265_6570 => "configfs",
            0xde5e_81e4 => "efivarfs",
            0x6e73_6673 => "nsfs",
            _ => return None,
        };
        Some(kind.to_string())
    }
    #[cfg(target_os = "macos")]
    {
        use std::os::unix::ffi::OsStrExt;
        let name = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
        // SAFETY: as above.
        let mut stats: libc::statfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::statfs(name.as_ptr(), &mut stats) } != 0 {
            return None;
        }
        let type_name: Vec<u8> = stats
            .f_fstypename
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        let type_name = String::from_utf8_lossy(&type_name).into_owned();
        VIRTUAL_TYPES
            .contains(&type_name.as_str())
            .then_some(type_name)
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    {
        let _ = path;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines_parse_with_escapes() {
        let text = "22 1 0:21 / /proc rw,nosuid - proc proc rw\n\
                    30 1 8:1 / /home/me/my\\040code rw shared:1 - ext4 /dev/sda1 rw\n\
                    garbage line\n";
        assert_eq!(
            parse_mountinfo(text),
            vec![
                Mount {
                    point: "/proc".into(),
                    fs_type: "proc".into()
                },
                Mount {
                    point: "/home/me/my code".into(),
                    fs_type: "ext4".into()
                },
            ]
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn procfs_and_sysfs_are_virtual_and_the_temp_dir_is_not() {
        if Path::new("/proc/self").exists() {
            assert_eq!(
                virtual_filesystem(Path::new("/proc")).as_deref(),
                Some("proc")
            );
            assert_eq!(
                virtual_filesystem(Path::new("/proc/self/fd")).as_deref(),
                Some("proc")
            );
        }
        if Path::new("/sys/kernel").exists() {
            assert_eq!(
                virtual_filesystem(Path::new("/sys")).as_deref(),
                Some("sysfs")
            );
            // A tmpfs inside sysfs is still under it.
            assert!(virtual_filesystem(Path::new("/sys/fs/cgroup")).is_some());
        }
        assert!(virtual_filesystem(Path::new("/dev/shm")).is_some());
        let tmp = tempfile::tempdir().unwrap();
        let canonical = tmp.path().canonicalize().unwrap();
        assert_eq!(virtual_filesystem(&canonical), None);
        assert!(virtual_mounts_under(&canonical).is_empty());
        assert!(virtual_mounts_under(Path::new("/")).contains(&PathBuf::from("/proc")));
    }
}
