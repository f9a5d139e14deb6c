//! The trigram index that makes exact search fast (Russ Cox, "Regular Expression Matching
//! with a Trigram Index"; zoekt; Google Code Search).
//!
//! Every stored file (a *document*, with a per-root id that never changes while its content
//! does not) contributes the set of distinct byte trigrams of its content. Documents are
//! indexed in immutable [`segment::Segment`]s — a sorted trigram table plus delta+varint
//! postings — one per committed batch, merged in the background. A regex is compiled into a
//! boolean trigram query ([`query`]) that every matching document must satisfy; only the
//! candidates it selects are verified with the real regex, so results are exactly those of a
//! full scan.
//!
//! Trigrams containing a newline are not indexed: a match never spans lines.

pub mod extract;
pub mod index;
pub mod query;
pub mod segment;

pub use extract::trigrams;
pub use index::{DocTable, RootIndex};
pub use query::TrigramQuery;
pub use segment::Segment;
