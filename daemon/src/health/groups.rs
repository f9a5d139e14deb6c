//! Disjoint sets (union–find with path halving): how clone pairs become clone classes.

/// Items `0..n` in groups that only ever merge.
pub struct DisjointSets {
    parent: Vec<usize>,
}

impl DisjointSets {
    /// `n` items, each alone.
    pub fn new(n: usize) -> DisjointSets {
        DisjointSets {
            parent: (0..n).collect(),
        }
    }

    /// The representative of `item`'s group.
    pub fn find(&mut self, mut item: usize) -> usize {
        while self.parent[item] != item {
            self.parent[item] = self.parent[self.parent[item]];
            item = self.parent[item];
        }
        item
    }

    /// Puts `a` and `b` in one group.
    pub fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.parent[ra] = rb;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_join_and_strangers_stay_apart() {
        let mut sets = DisjointSets::new(5);
        sets.union(0, 1);
        sets.union(3, 1);
        assert_eq!(sets.find(0), sets.find(3));
        assert_ne!(sets.find(0), sets.find(2));
        assert_ne!(sets.find(4), sets.find(2));
    }
}
