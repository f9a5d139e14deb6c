//! Cached LLM replies, keyed by a digest of (provider, model, prompt): a prompt holds the
//! code it is about, so an edit to that code changes the key and the old reply is never
//! served again (it ages out by its TTL or by the entry cap).

use super::*;

/// One cached reply.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CachedReply {
    /// When it was stored, milliseconds since the epoch.
    pub created_ms: u64,
    /// The provider that answered.
    pub provider: String,
    /// The model that answered.
    pub model: String,
    /// The reply.
    pub text: String,
    /// Prompt tokens it cost.
    pub tokens_in: u64,
    /// Reply tokens it cost.
    pub tokens_out: u64,
}

impl Store {
    /// The cached reply under `key`, if any.
    pub fn llm_reply(&self, key: &[u8; 32]) -> Result<Option<CachedReply>> {
        let txn = self.begin_read()?;
        let table = txn.open_table(LLM_CACHE)?;
        table
            .get(key.as_slice())?
            .map(|value| decode(value.value()))
            .transpose()
    }

    /// Stores `reply` under `key`; past `max_entries`, the oldest entries (and any older
    /// than `ttl_ms`) are dropped in the same transaction.
    pub fn put_llm_reply(
        &self,
        key: &[u8; 32],
        reply: &CachedReply,
        max_entries: u64,
        ttl_ms: u64,
    ) -> Result<()> {
        let bytes = encode(reply)?;
        let txn = self.begin_write()?;
        {
            let mut table = txn.open_table(LLM_CACHE)?;
            table.insert(key.as_slice(), bytes.as_slice())?;
            let len = table.len()?;
            // Pruning scans the table, so it waits until the table is a tenth over its cap.
            if len > max_entries + max_entries / 10 {
                let mut ages: Vec<u64> = Vec::with_capacity(len as usize);
                for entry in table.iter()? {
                    let (_, value) = entry?;
                    ages.push(decode::<CachedReply>(value.value()).map_or(0, |r| r.created_ms));
                }
                ages.sort_unstable_by(|a, b| b.cmp(a));
                let newest_dropped = ages.get(max_entries as usize).copied().unwrap_or(0);
                let expired = reply.created_ms.saturating_sub(ttl_ms);
                let cutoff = newest_dropped.max(expired);
                table.retain(|_, value| {
                    decode::<CachedReply>(value).is_ok_and(|r| r.created_ms > cutoff)
                })?;
            }
        }
        self.commit(txn)?;
        Ok(())
    }

    /// Cached replies, in all.
    pub fn llm_reply_count(&self) -> Result<u64> {
        let txn = self.begin_read()?;
        Ok(txn.open_table(LLM_CACHE)?.len()?)
    }
}
