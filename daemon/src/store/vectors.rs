//! The chunk vectors: stored quantised, keyed by model fingerprint and embedding-text key, so
//! a vector is computed once per text and model whatever file, root or run it belongs to.

use super::*;

/// A vector's key: model fingerprint then embedding-text key.
pub type VectorKey = [u8; 24];

/// The key of `text_key`'s vector under model `fingerprint`.
pub fn vector_key(fingerprint: u64, text_key: &[u8; 16]) -> VectorKey {
    let mut key = [0u8; 24];
    key[..8].copy_from_slice(&fingerprint.to_be_bytes());
    key[8..].copy_from_slice(text_key);
    key
}

impl Store {
    /// The stored vectors of `keys`, in order (`None` where there is none).
    pub fn vectors(&self, keys: &[VectorKey]) -> Result<Vec<Option<Vec<u8>>>> {
        let txn = self.begin_read()?;
        let table = txn.open_table(VECTORS)?;
        keys.iter()
            .map(|key| {
                Ok(table
                    .get(key.as_slice())?
                    .map(|value| value.value().to_vec()))
            })
            .collect()
    }

    /// Stores vectors (one transaction).
    pub fn put_vectors(&self, vectors: &[(VectorKey, Vec<u8>)]) -> Result<()> {
        if vectors.is_empty() {
            return Ok(());
        }
        let txn = self.begin_write()?;
        {
            let mut table = txn.open_table(VECTORS)?;
            for (key, value) in vectors {
                table.insert(key.as_slice(), value.as_slice())?;
            }
        }
        self.commit(txn)?;
        Ok(())
    }

    /// Stored vectors, in all.
    pub fn vector_count(&self) -> Result<u64> {
        let txn = self.begin_read()?;
        Ok(txn.open_table(VECTORS)?.len()?)
    }

    /// Deletes every stored vector `keep` rejects (vectors of texts no file has any more,
    /// or of another model). Returns how many went.
    pub fn retain_vectors(&self, keep: impl Fn(&VectorKey) -> bool) -> Result<u64> {
        let txn = self.begin_write()?;
        let removed;
        {
            let mut table = txn.open_table(VECTORS)?;
            let before = table.len()?;
            table.retain(|key, _| {
                key.try_into()
                    .map(|key: &[u8; 24]| keep(key))
                    .unwrap_or(false)
            })?;
            removed = before - table.len()?;
        }
        self.commit(txn)?;
        Ok(removed)
    }
}
