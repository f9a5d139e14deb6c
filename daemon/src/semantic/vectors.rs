//! Chunk vectors: int8 quantisation with a per-vector scale (how they are stored and held),
//! and nearest-neighbour search over one root's vectors.
//!
//! Search is exact (an inner product with every live vector) while a root has few vectors.
//! Past a threshold an `instant-distance` HNSW graph, built in the background from a snapshot,
//! answers for the vectors it holds; the vectors added since (the overlay) are searched
//! exactly and tombstoned ones are skipped, so an answer never misses a new chunk nor shows a
//! deleted one.

use std::sync::Arc;

use instant_distance::{Builder, HnswMap, Search};

/// Candidates an HNSW search yields: twice what the fused search asks of the neural side, so
/// tombstones and filters still leave enough.
const EF_SEARCH: usize = 2 * super::fusion::CANDIDATES;

/// A unit vector quantised to int8: `value[i] ≈ scale * q[i]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantized {
    /// Multiplier of every component.
    pub scale: f32,
    /// Components.
    pub values: Box<[i8]>,
}

impl Quantized {
    /// Quantises `vector` (scale = largest magnitude / 127).
    pub fn new(vector: &[f32]) -> Quantized {
        let largest = vector.iter().fold(0.0f32, |max, x| max.max(x.abs()));
        let scale = if largest > 0.0 { largest / 127.0 } else { 1.0 };
        let values = vector
            .iter()
            .map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8)
            .collect();
        Quantized { scale, values }
    }

    /// Stored form: the scale (f32, little-endian) then the components.
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(4 + self.values.len());
        bytes.extend_from_slice(&self.scale.to_le_bytes());
        bytes.extend(self.values.iter().map(|&v| v as u8));
        bytes
    }

    /// Reads the stored form; `None` unless it has `dimension` components.
    pub fn decode(bytes: &[u8], dimension: usize) -> Option<Quantized> {
        if bytes.len() != 4 + dimension {
            return None;
        }
        let scale = f32::from_le_bytes(bytes[..4].try_into().ok()?);
        if !scale.is_finite() {
            return None;
        }
        Some(Quantized {
            scale,
            values: bytes[4..].iter().map(|&b| b as i8).collect(),
        })
    }

    /// Approximate inner product of the two unit vectors (their cosine).
    pub fn similarity(&self, other: &Quantized) -> f32 {
        self.scale * other.scale * dot_i8(&self.values, &other.values) as f32
    }
}

/// Integer inner product: with AVX2 where the CPU has it (checked once; the same code
/// compiled for it widens 16 pairs at a time), else the portable form.
pub fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { dot_i8_avx2(a, b) };
        }
    }
    dot_i8_portable(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dot_i8_avx2(a: &[i8], b: &[i8]) -> i32 {
    dot_i8_portable(a, b)
}

/// The inner product written so the compiler vectorises it.
#[inline(always)]
fn dot_i8_portable(a: &[i8], b: &[i8]) -> i32 {
    let mut sums = [0i32; 16];
    let chunks_a = a.chunks_exact(16);
    let chunks_b = b.chunks_exact(16);
    let tail: i32 = chunks_a
        .remainder()
        .iter()
        .zip(chunks_b.remainder())
        .map(|(&x, &y)| i32::from(x) * i32::from(y))
        .sum();
    for (x, y) in chunks_a.zip(chunks_b) {
        for lane in 0..16 {
            sums[lane] += i32::from(x[lane]) * i32::from(y[lane]);
        }
    }
    sums.iter().sum::<i32>() + tail
}

#[derive(Clone)]
struct Point(Arc<Quantized>);

impl instant_distance::Point for Point {
    fn distance(&self, other: &Self) -> f32 {
        1.0 - self.0.similarity(&other.0)
    }
}

/// An HNSW graph over a snapshot of a root's vectors; values are their slots.
struct Base {
    graph: HnswMap<Point, u32>,
    /// Vectors in the graph.
    len: usize,
}

/// A root's vectors by chunk slot.
#[derive(Default)]
pub struct VectorSet {
    /// Vector per slot (`None`: not embedded yet, or dead).
    by_slot: Vec<Option<Arc<Quantized>>>,
    /// Slots in the order their vectors arrived; the base holds a prefix of it.
    arrivals: Vec<u32>,
    live: usize,
    base: Option<Arc<Base>>,
    /// `arrivals` covered by the base.
    base_covers: usize,
    /// Dead vectors still in the base.
    base_dead: usize,
}

/// A snapshot to build an HNSW base from, off the lock.
pub struct BaseSnapshot {
    points: Vec<Point>,
    slots: Vec<u32>,
    covers: usize,
}

impl VectorSet {
    /// The vector of `slot`, if it has one.
    pub fn get(&self, slot: u32) -> Option<&Arc<Quantized>> {
        self.by_slot.get(slot as usize)?.as_ref()
    }

    /// Gives `slot` its vector; whether it had none before.
    pub fn insert(&mut self, slot: u32, vector: Arc<Quantized>) -> bool {
        let at = slot as usize;
        if self.by_slot.len() <= at {
            self.by_slot.resize(at + 1, None);
        }
        let new = self.by_slot[at].replace(vector).is_none();
        if new {
            self.live += 1;
        }
        self.arrivals.push(slot);
        new
    }

    /// Forgets `slot`'s vector (its chunk is gone).
    pub fn remove(&mut self, slot: u32) {
        if let Some(vector) = self.by_slot.get_mut(slot as usize)
            && vector.take().is_some()
        {
            self.live -= 1;
            if self.base.is_some() {
                self.base_dead += 1;
            }
        }
    }

    /// Live vectors.
    pub fn live(&self) -> usize {
        self.live
    }

    /// Vectors the HNSW base holds (0 without one).
    pub fn base_len(&self) -> usize {
        self.base.as_ref().map_or(0, |base| base.len)
    }

    /// Heap bytes held (an estimate): the vectors, the slot table and the HNSW graph (its
    /// neighbour lists, about 64 per vector on the bottom layer).
    pub fn heap_bytes(&self) -> u64 {
        let vectors: usize = self
            .by_slot
            .iter()
            .flatten()
            .map(|vector| 16 + std::mem::size_of::<Quantized>() + vector.values.len())
            .sum();
        let tables = self.by_slot.capacity() * std::mem::size_of::<Option<Arc<Quantized>>>()
            + self.arrivals.capacity() * std::mem::size_of::<u32>();
        let graph = self.base_len() * (std::mem::size_of::<Point>() + 4 + 64 * 4);
        (vectors + tables + graph) as u64
    }

    /// Renumbers slots (old → new, `None` for dead), as the lexical index does.
    pub fn compact(&mut self, remap: &[Option<u32>]) {
        let new_len = remap.iter().flatten().count();
        let mut by_slot = vec![None; new_len];
        for (old, vector) in self.by_slot.iter_mut().enumerate() {
            if let (Some(Some(new)), Some(vector)) = (remap.get(old), vector.take()) {
                by_slot[*new as usize] = Some(vector);
            }
        }
        self.by_slot = by_slot;
        self.live = self.by_slot.iter().flatten().count();
        self.arrivals = (0..new_len as u32)
            .filter(|&slot| self.by_slot[slot as usize].is_some())
            .collect();
        // The base's values are old slots: rebuilt from scratch when next wanted.
        self.base = None;
        self.base_covers = 0;
        self.base_dead = 0;
    }

    /// Whether a (new) base is worth building: past `threshold` vectors, when there is none
    /// or the overlay or the tombstones have grown past a fifth of it.
    pub fn wants_base(&self, threshold: usize) -> bool {
        if self.live < threshold.max(1) {
            return false;
        }
        match &self.base {
            None => true,
            Some(base) => {
                let overlay = self.arrivals.len() - self.base_covers;
                overlay * 5 > base.len || self.base_dead * 5 > base.len
            }
        }
    }

    /// The live vectors now, to build a base from without holding the lock.
    pub fn snapshot(&self) -> BaseSnapshot {
        let mut points = Vec::with_capacity(self.live);
        let mut slots = Vec::with_capacity(self.live);
        let mut taken = vec![false; self.by_slot.len()];
        for &slot in &self.arrivals {
            if let Some(Some(vector)) = self.by_slot.get(slot as usize)
                && !std::mem::replace(&mut taken[slot as usize], true)
            {
                points.push(Point(Arc::clone(vector)));
                slots.push(slot);
            }
        }
        BaseSnapshot {
            points,
            slots,
            covers: self.arrivals.len(),
        }
    }

    /// Installs a base built from `snapshot` (see [`build_base`]); the arrivals it covers
    /// are folded away so the overlay is what came after.
    pub fn install_base(&mut self, built: BuiltBase) {
        let BuiltBase { base, covers } = built;
        if covers > self.arrivals.len() {
            return; // The set was compacted meanwhile: the base's slots mean nothing now.
        }
        // Dead since the snapshot: vectors the base holds that are gone now.
        let dead = base
            .graph
            .values
            .iter()
            .filter(|&&slot| self.get(slot).is_none())
            .count();
        self.base_dead = dead;
        self.arrivals.drain(..covers);
        let held: std::collections::HashSet<u32> = base.graph.values.iter().copied().collect();
        let mut arrivals: Vec<u32> = base.graph.values.clone();
        arrivals.extend(
            self.arrivals
                .iter()
                .copied()
                .filter(|slot| !held.contains(slot)),
        );
        self.base_covers = base.len;
        self.arrivals = arrivals;
        self.base = Some(Arc::new(base));
    }

    /// Whether a search for `limit` neighbours goes through the HNSW base (when there is
    /// one): the graph yields at most its `ef_search` candidates, so a longer list is searched
    /// exactly.
    pub fn graph_answers(&self, limit: usize) -> bool {
        limit * 2 <= EF_SEARCH
    }

    /// The best `limit` slots for `query` with their similarity, best first, among slots
    /// `allowed` accepts.
    pub fn search(
        &self,
        query: &Quantized,
        limit: usize,
        allowed: impl Fn(u32) -> bool,
    ) -> Vec<(u32, f32)> {
        let mut found: Vec<(u32, f32)> = Vec::new();
        let graph = self.base.as_ref().filter(|_| self.graph_answers(limit));
        let overlay_from = match graph {
            Some(base) => {
                let mut search = Search::default();
                let point = Point(Arc::new(query.clone()));
                // Enough candidates that tombstones and filters still leave `limit`.
                for item in base.graph.search(&point, &mut search) {
                    let slot = *item.value;
                    // A slot whose vector changed since the base is in the overlay instead.
                    if let Some(current) = self.get(slot)
                        && Arc::ptr_eq(current, &item.point.0)
                        && allowed(slot)
                    {
                        found.push((slot, 1.0 - item.distance));
                    }
                }
                self.base_covers
            }
            None => 0,
        };
        let mut seen: std::collections::HashSet<u32> =
            found.iter().map(|(slot, _)| *slot).collect();
        for &slot in &self.arrivals[overlay_from.min(self.arrivals.len())..] {
            if let Some(vector) = self.get(slot)
                && allowed(slot)
                && seen.insert(slot)
            {
                found.push((slot, query.similarity(vector)));
            }
        }
        if graph.is_some() && found.len() < limit && self.live > found.len() {
            // Filters or tombstones thinned the graph's candidates: search exactly instead.
            found.clear();
            for (slot, vector) in self.by_slot.iter().enumerate() {
                if let Some(vector) = vector
                    && allowed(slot as u32)
                {
                    found.push((slot as u32, query.similarity(vector)));
                }
            }
        }
        super::lexical::top(&mut found, limit, |(_, score)| *score);
        found
    }
}

/// A base ready to install.
pub struct BuiltBase {
    base: Base,
    covers: usize,
}

/// Builds an HNSW graph over a snapshot (slow: run it on a background thread).
pub fn build_base(snapshot: BaseSnapshot) -> BuiltBase {
    let len = snapshot.points.len();
    let graph = Builder::default()
        .ef_search(EF_SEARCH)
        .seed(0x5eed)
        .build(snapshot.points, snapshot.slots);
    BuiltBase {
        base: Base { graph, len },
        covers: snapshot.covers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random_unit(seed: &mut u64, dimension: usize) -> Vec<f32> {
        let mut next = || {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            (*seed % 20_000) as f32 / 10_000.0 - 1.0
        };
        // Clustered, like real embeddings: a few centres plus noise.
        let centre = (next().abs() * 8.0) as usize;
        let mut vector: Vec<f32> = (0..dimension)
            .map(|i| if i % 8 == centre { 1.5 } else { 0.0 } + next())
            .collect();
        let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        vector.iter_mut().for_each(|x| *x /= norm);
        vector
    }

    #[test]
    fn quantisation_keeps_similarities_and_round_trips() {
        let mut seed = 7;
        let a = random_unit(&mut seed, 384);
        let b = random_unit(&mut seed, 384);
        let exact: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        let (qa, qb) = (Quantized::new(&a), Quantized::new(&b));
        assert!((qa.similarity(&qb) - exact).abs() < 0.01);
        assert!((qa.similarity(&qa) - 1.0).abs() < 0.01);
        assert_eq!(Quantized::decode(&qa.encode(), 384), Some(qa.clone()));
        assert_eq!(
            Quantized::decode(&qa.encode(), 383),
            None,
            "a dimension change is refused"
        );
    }

    #[test]
    fn base_plus_overlay_minus_tombstones_recalls_exact_search() {
        let dimension = 64;
        let mut seed = 42;
        let mut set = VectorSet::default();
        let mut next_slot = 0u32;
        for _ in 0..3000 {
            set.insert(
                next_slot,
                Arc::new(Quantized::new(&random_unit(&mut seed, dimension))),
            );
            next_slot += 1;
        }
        assert!(set.wants_base(1000));
        set.install_base(build_base(set.snapshot()));
        assert_eq!(set.base_len(), 3000);
        // Random inserts and deletes after the base was built.
        for step in 0..600u32 {
            set.insert(
                next_slot,
                Arc::new(Quantized::new(&random_unit(&mut seed, dimension))),
            );
            next_slot += 1;
            let victim = (seed % u64::from(next_slot)) as u32;
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(u64::from(step));
            set.remove(victim);
        }
        let mut exact_set = VectorSet::default();
        for slot in 0..next_slot {
            if let Some(vector) = set.get(slot) {
                exact_set.insert(slot, Arc::clone(vector));
            }
        }
        // The fused search asks for its whole candidate depth: the graph must answer that.
        let depth = super::super::fusion::CANDIDATES;
        assert!(set.graph_answers(depth));
        let mut recalled = 0;
        let queries = 100;
        for _ in 0..queries {
            let query = Quantized::new(&random_unit(&mut seed, dimension));
            let exact: Vec<u32> = exact_set
                .search(&query, 10, |_| true)
                .iter()
                .map(|(s, _)| *s)
                .collect();
            let approximate: Vec<u32> = set
                .search(&query, depth, |_| true)
                .iter()
                .take(10)
                .map(|(s, _)| *s)
                .collect();
            assert!(
                approximate.iter().all(|slot| set.get(*slot).is_some()),
                "no deleted vector comes back"
            );
            recalled += exact
                .iter()
                .filter(|slot| approximate.contains(slot))
                .count();
        }
        let recall = recalled as f64 / (queries * 10) as f64;
        assert!(recall >= 0.95, "recall@10 {recall}");
        // A new vector is found at once, through the overlay.
        let fresh = random_unit(&mut seed, dimension);
        set.insert(next_slot, Arc::new(Quantized::new(&fresh)));
        let top = set.search(&Quantized::new(&fresh), 1, |_| true);
        assert_eq!(top[0].0, next_slot);
    }
}
