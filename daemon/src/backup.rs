//! Backup files and restoring them: `codesage backup FILE` packs a consistent copy of the
//! store (taken by [`Store::snapshot_to`] while the daemon serves) as
//!
//! ```text
//! CODESAGE-BACKUP\n | manifest length (u32 LE) | manifest (JSON) | zstd(store copy)
//! ```
//!
//! with a manifest saying what is inside and the blake3 of both the compressed payload and the
//! store copy. `codesage restore FILE` verifies all of it (format, schema, both checksums,
//! redb's own check of the extracted copy) before anything live is touched, then swaps the
//! verified copy into place atomically, keeping the previous store as a rollback copy.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use codesage_shared::ops::BackupManifest;

use crate::store::{SCHEMA_VERSION, SnapshotFigures, Store, StoreError};

/// The backup format this build writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;

const MAGIC: &[u8] = b"CODESAGE-BACKUP\n";

/// A manifest longer than this is not one of ours.
const MAX_MANIFEST_BYTES: u32 = 16 * 1024 * 1024;

/// Suffix of the previous store kept by a restore.
pub const ROLLBACK_SUFFIX: &str = "rollback";

/// What went wrong with a backup or a restore.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// A file could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file is not a CodeSage backup.
    #[error("{path} is not a CodeSage backup (it does not start with the backup header)")]
    NotABackup {
        /// The file.
        path: PathBuf,
    },
    /// Written by a newer CodeSage.
    #[error(
        "{path} was written by CodeSage {version} in backup format {found} (store schema \
         {schema}); this CodeSage reads format {FORMAT_VERSION} and schema {SCHEMA_VERSION} at \
         most: upgrade CodeSage to restore it"
    )]
    Newer {
        /// The file.
        path: PathBuf,
        /// Its CodeSage version.
        version: String,
        /// Its format.
        found: u32,
        /// Its store schema.
        schema: u32,
    },
    /// The file is damaged (truncated, altered, or not what its manifest says).
    #[error("{path} is damaged: {reason}; nothing was restored (use another backup)")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What does not match.
        reason: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BackupError {
    let path = path.to_path_buf();
    move |source| BackupError::Io {
        action,
        path,
        source,
    }
}

/// Counts and hashes the bytes going through it.
struct Hashing<T> {
    inner: T,
    hasher: blake3::Hasher,
    bytes: u64,
}

impl<T> Hashing<T> {
    fn new(inner: T) -> Self {
        Hashing {
            inner,
            hasher: blake3::Hasher::new(),
            bytes: 0,
        }
    }

    fn finish(&self) -> String {
        self.hasher.finalize().to_hex().to_string()
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.hasher.update(&buf[..written]);
        self.bytes += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.hasher.update(&buf[..read]);
        self.bytes += read as u64;
        Ok(read)
    }
}

/// A temporary path beside `path` (same directory, so a rename into place is atomic).
fn beside(path: &Path, what: &str) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|name| name.to_os_string())
        .unwrap_or_default();
    name.push(format!(".{what}-{}", std::process::id()));
    path.with_file_name(name)
}

/// Writes a backup of `store` to `target` while the store keeps serving: a snapshot copy in
/// `work_dir`, compressed into a file beside `target` that replaces it only once complete.
pub fn write(store: &Store, work_dir: &Path, target: &Path) -> Result<BackupManifest, BackupError> {
    std::fs::create_dir_all(work_dir).map_err(io("cannot create", work_dir))?;
    let copy = work_dir.join(format!("backup-{}.redb", std::process::id()));
    let _ = std::fs::remove_file(&copy);
    let result = (|| {
        let figures = store.snapshot_to(&copy)?;
        pack(&copy, figures, store.file_size(), target)
    })();
    let _ = std::fs::remove_file(&copy);
    result
}

fn pack(
    copy: &Path,
    figures: SnapshotFigures,
    live_store_bytes: u64,
    target: &Path,
) -> Result<BackupManifest, BackupError> {
    // The payload goes to a temporary file first: its checksum belongs in the manifest,
    // which comes before it.
    let payload_path = beside(target, "payload");
    let partial_path = beside(target, "partial");
    let result = (|| {
        let mut source = Hashing::new(BufReader::new(
            File::open(copy).map_err(io("cannot read the store copy", copy))?,
        ));
        let payload_file = File::create(&payload_path)
            .map_err(io("cannot write the backup beside", &payload_path))?;
        let mut payload = Hashing::new(BufWriter::new(payload_file));
        {
            let mut encoder = zstd::stream::Encoder::new(&mut payload, 3)
                .map_err(io("cannot compress into", &payload_path))?;
            std::io::copy(&mut source, &mut encoder)
                .map_err(io("cannot compress into", &payload_path))?;
            encoder
                .finish()
                .map_err(io("cannot compress into", &payload_path))?;
        }
        payload.flush().map_err(io("cannot write", &payload_path))?;
        let manifest = BackupManifest {
            format: FORMAT_VERSION,
            codesage_version: codesage_shared::VERSION.to_string(),
            schema_version: figures.schema_version,
            created_ms: crate::clock::now_ms(),
            roots: figures.roots,
            tables: figures.entries,
            live_store_bytes,
            store_bytes: source.bytes,
            payload_bytes: payload.bytes,
            payload_blake3: payload.finish(),
            store_blake3: source.finish(),
        };
        let manifest_json = serde_json::to_vec(&manifest).map_err(|err| BackupError::Io {
            action: "cannot encode the manifest for",
            path: target.to_path_buf(),
            source: std::io::Error::other(err),
        })?;
        let mut out =
            BufWriter::new(File::create(&partial_path).map_err(io("cannot write", &partial_path))?);
        out.write_all(MAGIC)
            .and_then(|()| out.write_all(&(manifest_json.len() as u32).to_le_bytes()))
            .and_then(|()| out.write_all(&manifest_json))
            .map_err(io("cannot write", &partial_path))?;
        let mut payload_in = File::open(&payload_path).map_err(io("cannot read", &payload_path))?;
        std::io::copy(&mut payload_in, &mut out).map_err(io("cannot write", &partial_path))?;
        let file = out
            .into_inner()
            .map_err(|err| io("cannot write", &partial_path)(err.into_error()))?;
        file.sync_all().map_err(io("cannot sync", &partial_path))?;
        std::fs::rename(&partial_path, target).map_err(io("cannot move the backup to", target))?;
        Ok(manifest)
    })();
    let _ = std::fs::remove_file(&payload_path);
    if result.is_err() {
        let _ = std::fs::remove_file(&partial_path);
    }
    result
}

/// Reads and checks a backup's header and manifest, leaving `reader` at the payload.
fn read_header(path: &Path, reader: &mut impl Read) -> Result<BackupManifest, BackupError> {
    let damaged = |reason: String| BackupError::Damaged {
        path: path.to_path_buf(),
        reason,
    };
    let mut magic = [0u8; MAGIC.len()];
    if reader.read_exact(&mut magic).is_err() || magic != MAGIC {
        return Err(BackupError::NotABackup {
            path: path.to_path_buf(),
        });
    }
    let mut length = [0u8; 4];
    reader
        .read_exact(&mut length)
        .map_err(|_| damaged("it ends inside its header".into()))?;
    let length = u32::from_le_bytes(length);
    if length > MAX_MANIFEST_BYTES {
        return Err(damaged(format!("its manifest claims {length} bytes")));
    }
    let mut manifest = vec![0u8; length as usize];
    reader
        .read_exact(&mut manifest)
        .map_err(|_| damaged("it ends inside its manifest".into()))?;
    let manifest: BackupManifest = serde_json::from_slice(&manifest)
        .map_err(|err| damaged(format!("its manifest does not parse ({err})")))?;
    if manifest.format > FORMAT_VERSION || manifest.schema_version > SCHEMA_VERSION {
        return Err(BackupError::Newer {
            path: path.to_path_buf(),
            version: manifest.codesage_version,
            found: manifest.format,
            schema: manifest.schema_version,
        });
    }
    Ok(manifest)
}

/// Reads a backup's manifest without verifying the payload.
pub fn read_manifest(path: &Path) -> Result<BackupManifest, BackupError> {
    let mut reader = BufReader::new(File::open(path).map_err(io("cannot open", path))?);
    read_header(path, &mut reader)
}

/// Verifies `backup` completely and extracts its store copy to `target` (which it replaces):
/// the header and format, the payload's length and checksum, the store copy's checksum, and
/// redb's own integrity check of the copy. On any failure `target` is removed.
pub fn extract(backup: &Path, target: &Path) -> Result<BackupManifest, BackupError> {
    let result = extract_inner(backup, target);
    if result.is_err() {
        let _ = std::fs::remove_file(target);
    }
    result
}

fn extract_inner(backup: &Path, target: &Path) -> Result<BackupManifest, BackupError> {
    let damaged = |reason: String| BackupError::Damaged {
        path: backup.to_path_buf(),
        reason,
    };
    let mut reader = BufReader::new(File::open(backup).map_err(io("cannot open", backup))?);
    let manifest = read_header(backup, &mut reader)?;
    let mut payload = Hashing::new((&mut reader).take(manifest.payload_bytes));
    let out = File::create(target).map_err(io("cannot write", target))?;
    let mut store = Hashing::new(BufWriter::new(out));
    // A payload that inflates past what its manifest says is refused once it does, before it
    // can fill the disk.
    let decoded = zstd::stream::Decoder::new(&mut payload).and_then(|decoder| {
        std::io::copy(
            &mut decoder.take(manifest.store_bytes.saturating_add(1)),
            &mut store,
        )
    });
    if let Err(err) = decoded {
        return Err(damaged(format!("its payload does not decompress ({err})")));
    }
    // Whatever the decoder left unread still counts towards the payload's checksum.
    std::io::copy(&mut payload, &mut std::io::sink()).map_err(io("cannot read", backup))?;
    let (payload_bytes, payload_blake3) = (payload.bytes, payload.finish());
    drop(payload);
    if payload_bytes != manifest.payload_bytes {
        return Err(damaged(format!(
            "it is truncated ({} of {} payload bytes)",
            payload_bytes, manifest.payload_bytes
        )));
    }
    let mut trailing = [0u8; 1];
    if reader
        .read(&mut trailing)
        .map_err(io("cannot read", backup))?
        > 0
    {
        return Err(damaged("it has bytes after its payload".into()));
    }
    if payload_blake3 != manifest.payload_blake3 {
        return Err(damaged("its payload's checksum does not match".into()));
    }
    store.flush().map_err(io("cannot write", target))?;
    if store.bytes != manifest.store_bytes || store.finish() != manifest.store_blake3 {
        return Err(damaged(
            "the store inside does not match its checksum".into(),
        ));
    }
    drop(store);
    // redb stops with a panic on some damaged files (an `unreachable!` while loading its
    // allocator state, a missing cursor entry while checking): a forged backup with matching
    // checksums must be refused, not crash the restore.
    let corrupt = || damaged("the store inside is corrupt (its database failed reading it)".into());
    let mut db = match std::panic::catch_unwind(|| redb::Database::open(target)) {
        Ok(Ok(db)) => db,
        Ok(Err(err)) => return Err(damaged(format!("the store inside does not open ({err})"))),
        Err(_) => return Err(corrupt()),
    };
    let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| db.check_integrity()));
    match checked {
        Ok(Ok(true)) => Ok(manifest),
        Ok(Ok(false)) => Err(damaged("the store inside needed repairs".into())),
        Ok(Err(err)) => Err(damaged(format!("the store inside fails its check ({err})"))),
        Err(_) => {
            // Its drop would panic on the lock the panic poisoned.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(db)));
            Err(corrupt())
        }
    }
}

/// Puts the verified store copy `restored` in place of `live` atomically, keeping the
/// previous store as `<live>.rollback` (replacing an older rollback copy). Returns the
/// rollback path when there was a previous store.
pub fn swap_into_place(restored: &Path, live: &Path) -> Result<Option<PathBuf>, BackupError> {
    let mut rollback = live.as_os_str().to_os_string();
    rollback.push(format!(".{ROLLBACK_SUFFIX}"));
    let rollback = PathBuf::from(rollback);
    if !live.exists() {
        std::fs::rename(restored, live).map_err(io("cannot move the restored store to", live))?;
        return Ok(None);
    }
    if exchange(restored, live).is_ok() {
        // `restored` now holds the previous store.
        std::fs::rename(restored, &rollback)
            .map_err(io("cannot keep the previous store as", &rollback))?;
        return Ok(Some(rollback));
    }
    // Without an atomic exchange: two renames, the previous store first kept aside.
    std::fs::rename(live, &rollback).map_err(io("cannot keep the previous store as", &rollback))?;
    if let Err(err) = std::fs::rename(restored, live) {
        let _ = std::fs::rename(&rollback, live);
        return Err(io("cannot move the restored store to", live)(err));
    }
    Ok(Some(rollback))
}

#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let a = CString::new(a.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    let b = CString::new(b.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    // SAFETY: both are valid NUL-terminated paths; renameat2 only reads them.
    let result = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_a: &Path, _b: &Path) -> std::io::Result<()> {
    Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with_a_root(dir: &Path) -> Store {
        let store = Store::open(&dir.join("data"), 1 << 20).unwrap();
        store.add_root("/code/project", 1).unwrap();
        store
    }

    #[test]
    fn a_backup_round_trips_and_damage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_a_root(dir.path());
        let backup = dir.path().join("index.backup");
        let manifest = write(&store, &dir.path().join("work"), &backup).unwrap();
        assert_eq!(manifest.roots, vec![PathBuf::from("/code/project")]);
        assert_eq!(manifest.schema_version, SCHEMA_VERSION);
        assert_eq!(read_manifest(&backup).unwrap(), manifest);

        let restored = dir.path().join("restored.redb");
        assert_eq!(extract(&backup, &restored).unwrap(), manifest);
        let reopened = Store::open(&dir.path().join("other"), 1 << 20).unwrap();
        drop(reopened);
        drop(store);

        let bytes = std::fs::read(&backup).unwrap();
        let truncated = dir.path().join("truncated.backup");
        std::fs::write(&truncated, &bytes[..bytes.len() - 10]).unwrap();
        let err = extract(&truncated, &restored).unwrap_err();
        assert!(matches!(err, BackupError::Damaged { .. }), "{err}");
        assert!(
            !restored.exists(),
            "a failed extraction leaves nothing behind"
        );

        let mut flipped = bytes.clone();
        let last = flipped.len() - 100;
        flipped[last] ^= 0x10;
        let flipped_path = dir.path().join("flipped.backup");
        std::fs::write(&flipped_path, &flipped).unwrap();
        let err = extract(&flipped_path, &restored).unwrap_err();
        assert!(matches!(err, BackupError::Damaged { .. }), "{err}");

        let not_one = dir.path().join("notes.txt");
        std::fs::write(&not_one, "hello").unwrap();
        assert!(matches!(
            extract(&not_one, &restored).unwrap_err(),
            BackupError::NotABackup { .. }
        ));
    }

    /// Copies `backup` to `forged` with its manifest changed by `edit` (payload untouched).
    fn forge(backup: &Path, forged: &Path, edit: impl FnOnce(&mut BackupManifest)) {
        let bytes = std::fs::read(backup).unwrap();
        let length = u32::from_le_bytes(bytes[MAGIC.len()..MAGIC.len() + 4].try_into().unwrap());
        let start = MAGIC.len() + 4;
        let mut manifest: BackupManifest =
            serde_json::from_slice(&bytes[start..start + length as usize]).unwrap();
        edit(&mut manifest);
        let json = serde_json::to_vec(&manifest).unwrap();
        let mut out = MAGIC.to_vec();
        out.extend((json.len() as u32).to_le_bytes());
        out.extend(json);
        out.extend(&bytes[start + length as usize..]);
        std::fs::write(forged, out).unwrap();
    }

    #[test]
    fn a_newer_format_is_refused_with_the_version() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_a_root(dir.path());
        let backup = dir.path().join("index.backup");
        write(&store, &dir.path().join("work"), &backup).unwrap();
        let newer_path = dir.path().join("newer.backup");
        forge(&backup, &newer_path, |manifest| {
            manifest.format = FORMAT_VERSION + 1;
            manifest.codesage_version = "9.9.9".into();
        });
        let err = extract(&newer_path, &dir.path().join("x.redb")).unwrap_err();
        assert!(matches!(err, BackupError::Newer { .. }), "{err}");
        assert!(err.to_string().contains("9.9.9"), "{err}");
    }

    #[test]
    fn a_payload_inflating_past_its_manifest_is_cut_off_and_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_a_root(dir.path());
        let backup = dir.path().join("index.backup");
        write(&store, &dir.path().join("work"), &backup).unwrap();
        let forged_path = dir.path().join("forged.backup");
        forge(&backup, &forged_path, |manifest| manifest.store_bytes = 100);
        let target = dir.path().join("x.redb");
        let err = extract(&forged_path, &target).unwrap_err();
        assert!(matches!(err, BackupError::Damaged { .. }), "{err}");
        assert!(!target.exists());
    }

    #[test]
    fn swapping_keeps_the_previous_store() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("codesage.redb");
        let restored = dir.path().join("codesage.redb.restoring");
        std::fs::write(&live, "old").unwrap();
        std::fs::write(&restored, "new").unwrap();
        let rollback = swap_into_place(&restored, &live).unwrap().unwrap();
        assert_eq!(std::fs::read_to_string(&live).unwrap(), "new");
        assert_eq!(std::fs::read_to_string(&rollback).unwrap(), "old");
        assert!(!restored.exists());
    }
}
