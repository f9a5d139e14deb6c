//! Surviving a write that fails on the file: a full disk, a file size limit, an I/O error.
//!
//! redb latches such a failure: every later operation on that `Database`, reads included,
//! fails with "previous I/O error" until it is closed and opened again (which also rebuilds
//! the allocator state the failed commit discarded). Every transaction of the store therefore
//! begins here: a failed commit reopens the database at once, so reads go on answering from
//! the last committed state; if it cannot be reopened yet (the disk is still full), the store
//! says so with what to do and tries again at most once a second. Nothing committed is lost:
//! a failed commit leaves the previous one in place, and the callers (the watcher, indexing
//! runs) retry their changes.

use std::time::{Duration, Instant};

use redb::{ReadTransaction, ReadableDatabase, WriteTransaction};

use super::*;

/// How often a store that could not be reopened is tried again (on use).
const RETRY_EVERY: Duration = Duration::from_secs(1);

/// A write that failed on the file, for status.
#[derive(Debug)]
pub(super) struct WriteFailure {
    /// What the operating system or redb said.
    message: String,
    /// When it first failed (ms since the Unix epoch).
    since_ms: u64,
    /// The database could not be reopened: nothing can be read or written until it is.
    unavailable: bool,
    /// The last attempt to reopen it.
    last_attempt: Instant,
}

impl Store {
    /// Begins a read transaction (reopening the database first if a failed write closed it).
    pub(super) fn begin_read(&self) -> Result<ReadTransaction> {
        self.available()?;
        Ok(self.db.read().begin_read()?)
    }

    /// Begins a write transaction; a database latched by an earlier I/O failure is reopened
    /// first.
    pub(super) fn begin_write(&self) -> Result<WriteTransaction> {
        self.available()?;
        let begun = self.db.read().begin_write();
        match begun {
            Err(redb::TransactionError::Storage(redb::StorageError::PreviousIo)) => {
                self.reopen()?;
                Ok(self.db.read().begin_write()?)
            }
            other => Ok(other?),
        }
    }

    /// Commits `txn`. A commit that fails on the file is recorded for status and the
    /// database reopened at once, so that reads go on from the last committed state.
    pub(super) fn commit(&self, txn: WriteTransaction) -> Result<()> {
        self.commit_at(txn).map(|_| ())
    }

    /// [`Store::commit`], saying when the commit was recorded as the last one.
    pub(super) fn commit_at(&self, txn: WriteTransaction) -> Result<Instant> {
        match txn.commit() {
            Ok(()) => {
                let now = Instant::now();
                *self.last_commit.lock() = now;
                let recovered = self.write_failure.lock().take();
                if let Some(failure) = recovered {
                    tracing::info!(path = %self.path.display(), failed = %failure.message, "the store is written again");
                }
                Ok(now)
            }
            Err(err) => {
                let err = StoreError::from(err);
                self.failed_on_the_file(&err);
                Err(err)
            }
        }
    }

    /// Records `err` if it is a failure of the file, and reopens the database.
    pub(super) fn failed_on_the_file(&self, err: &StoreError) {
        if !is_io_failure(err) {
            return;
        }
        tracing::error!(path = %self.path.display(), error = %err, "writing the store failed; reopening it");
        {
            let mut failure = self.write_failure.lock();
            match failure.as_mut() {
                Some(failure) => failure.message = err.to_string(),
                None => {
                    *failure = Some(WriteFailure {
                        message: err.to_string(),
                        since_ms: crate::clock::now_ms(),
                        unavailable: false,
                        last_attempt: Instant::now(),
                    })
                }
            }
        }
        // The error is the caller's to report; whether the store could be reopened is status's.
        let _ = self.reopen();
    }

    /// What is wrong with writing the store, if anything, with what to do (for status).
    pub fn write_problem(&self) -> Option<String> {
        let failure = self.write_failure.lock();
        let failure = failure.as_ref()?;
        let age_secs = crate::clock::now_ms().saturating_sub(failure.since_ms) / 1000;
        Some(if failure.unavailable {
            format!(
                "the store {} cannot be opened since a write failed {age_secs} s ago ({}); \
                 free disk space or fix the device: it is retried by itself",
                self.path.display(),
                failure.message
            )
        } else {
            format!(
                "writing the store {} failed {age_secs} s ago ({}); answers come from the last \
                 saved index until a write succeeds: free disk space, changes are retried by \
                 themselves",
                self.path.display(),
                failure.message
            )
        })
    }

    /// Fails with [`StoreError::Unavailable`] while the database is closed after a failure,
    /// trying to reopen it at most once per [`RETRY_EVERY`].
    pub(super) fn available(&self) -> Result<()> {
        let retry = match self.write_failure.lock().as_ref() {
            Some(failure) if failure.unavailable => {
                if failure.last_attempt.elapsed() < RETRY_EVERY {
                    return Err(self.unavailable(&failure.message));
                }
                true
            }
            _ => false,
        };
        if retry { self.reopen() } else { Ok(()) }
    }

    fn unavailable(&self, cause: &str) -> StoreError {
        StoreError::Unavailable {
            path: self.path.clone(),
            cause: cause.to_string(),
        }
    }

    /// Closes the database and opens it again (redb repairs what a failed commit left).
    fn reopen(&self) -> Result<()> {
        let mut db = self.db.write();
        // Another thread may have reopened it while this one waited for the lock.
        let latched = matches!(
            db.begin_write(),
            Err(redb::TransactionError::Storage(
                redb::StorageError::PreviousIo
            ))
        );
        let unavailable = self
            .write_failure
            .lock()
            .as_ref()
            .is_some_and(|failure| failure.unavailable);
        if !latched && !unavailable {
            return Ok(());
        }
        if !unavailable {
            // Closes the file (its lock with it); the placeholder holds nothing.
            let placeholder = Database::builder()
                .create_with_backend(redb::backends::InMemoryBackend::new())
                .map_err(StoreError::from)?;
            drop(std::mem::replace(&mut *db, placeholder));
        }
        let mut outcome = self.open_file();
        // A write transaction still alive defers the old file's close: wait for it briefly.
        for _ in 0..40 {
            match &outcome {
                Err(StoreError::Locked { .. }) => {
                    std::thread::sleep(Duration::from_millis(50));
                    outcome = self.open_file();
                }
                _ => break,
            }
        }
        let mut failure = self.write_failure.lock();
        match outcome {
            Ok(reopened) => {
                *db = reopened;
                if let Some(failure) = failure.as_mut() {
                    failure.unavailable = false;
                }
                tracing::info!(path = %self.path.display(), "the store was reopened");
                Ok(())
            }
            Err(err) => {
                tracing::error!(path = %self.path.display(), error = %err, "the store cannot be reopened yet");
                let failure = failure.get_or_insert_with(|| WriteFailure {
                    message: err.to_string(),
                    since_ms: crate::clock::now_ms(),
                    unavailable: true,
                    last_attempt: Instant::now(),
                });
                failure.unavailable = true;
                failure.last_attempt = Instant::now();
                Err(self.unavailable(&err.to_string()))
            }
        }
    }

    /// Opens the database file as [`Store::open_with`] does.
    pub(super) fn open_file(&self) -> Result<Database> {
        open_database(&self.path, self.cache_bytes)
    }
}

/// Opens (creating if needed) the database at `path`; redb's panics on damaged files are
/// reported as errors.
pub(super) fn open_database(path: &Path, cache_bytes: usize) -> Result<Database> {
    // redb stops with a panic on some damaged files (an `unreachable!` while loading its
    // allocator state, a missing cursor entry while reading a table) rather than returning
    // an error: refuse those files the same way.
    let opened =
        std::panic::catch_unwind(|| Database::builder().set_cache_size(cache_bytes).create(path))
            .unwrap_or_else(|_| Err(damaged_pages().into()));
    match opened {
        Ok(db) => Ok(db),
        Err(redb::DatabaseError::DatabaseAlreadyOpen) => Err(StoreError::Locked {
            path: path.to_path_buf(),
        }),
        Err(redb::DatabaseError::Storage(redb::StorageError::Io(source)))
            if matches!(
                source.kind(),
                std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
            ) =>
        {
            Err(StoreError::NotWritable {
                path: path.to_path_buf(),
                source,
            })
        }
        Err(err) => Err(err.into()),
    }
}

/// Whether `err` is the file failing (full disk, size limit, device error), which latches
/// redb, rather than a problem of the data.
pub fn is_io_failure(err: &StoreError) -> bool {
    matches!(
        err,
        StoreError::Db(redb::Error::Io(_) | redb::Error::PreviousIo)
    )
}
