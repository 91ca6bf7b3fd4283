//! Add-wins observed-remove set, op-based and delivery-order independent.
//!
//! Why not `crdts::Orswot`: its op-based `apply` drops an add whose dot is not newer than the set's clock, so it
//! needs causal (per-actor in-order) delivery. Linli's transport gives no such guarantee (a phone restored from a
//! backup, a server retry, a pull interleaved with a push), and our merge laws must hold for *any* order and
//! duplication. Tagging every add with its unique op id and every remove with the tags it observed needs no
//! delivery order at all: a remove that overtakes its add still wins over exactly that add, and a concurrent add
//! (a tag the remove never saw) still wins over the remove.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

use crate::ids::OpId;

/// An add-wins set of `T`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(serialize = "T: Serialize", deserialize = "T: Deserialize<'de> + Ord"))]
pub struct AwSet<T: Ord> {
    /// Every add ever seen: member → the op ids that added it.
    #[serde(with = "crate::pairs")]
    adds: BTreeMap<T, BTreeSet<OpId>>,
    /// Every add tag that some remove has observed (tombstones; kept so that a late add stays removed).
    removed: BTreeSet<OpId>,
}

impl<T: Ord> Default for AwSet<T> {
    fn default() -> Self {
        AwSet {
            adds: BTreeMap::new(),
            removed: BTreeSet::new(),
        }
    }
}

impl<T: Ord + Clone> AwSet<T> {
    /// Records the add of `member` by op `tag`.
    pub fn add(&mut self, member: T, tag: OpId) {
        self.adds.entry(member).or_default().insert(tag);
    }

    /// Records a remove that observed `tags`.
    pub fn remove<'a>(&mut self, tags: impl IntoIterator<Item = &'a OpId>) {
        self.removed.extend(tags.into_iter().copied());
    }

    /// The add tags of `member` that are still live: what a remove issued now must carry.
    pub fn live_tags(&self, member: &T) -> Vec<OpId> {
        self.adds
            .get(member)
            .map(|tags| {
                tags.iter()
                    .filter(|t| !self.removed.contains(t))
                    .copied()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether `tag` is an add of `member` (live or already removed): what a remove of `member` may name.
    pub fn has_tag(&self, member: &T, tag: &OpId) -> bool {
        self.adds.get(member).is_some_and(|tags| tags.contains(tag))
    }

    /// Whether `member` is in the set.
    pub fn contains(&self, member: &T) -> bool {
        self.adds
            .get(member)
            .is_some_and(|tags| tags.iter().any(|t| !self.removed.contains(t)))
    }

    /// The members, in order.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.adds
            .iter()
            .filter(|(_, tags)| tags.iter().any(|t| !self.removed.contains(t)))
            .map(|(m, _)| m)
    }

    /// How many members.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether no member is in the set.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// State-based merge: the union of both sides' adds and tombstones.
    pub fn merge(&mut self, other: AwSet<T>) {
        for (member, tags) in other.adds {
            self.adds.entry(member).or_default().extend(tags);
        }
        self.removed.extend(other.removed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(n: u128) -> OpId {
        OpId::from_uuid(uuid::Uuid::from_u128(n))
    }

    #[test]
    fn concurrent_add_wins_over_remove() {
        let mut s = AwSet::default();
        s.add("a", tag(1));
        // Replica 2 removes what it saw (tag 1) while replica 3 adds again (tag 2).
        s.remove(&[tag(1)]);
        s.add("a", tag(2));
        assert!(s.contains(&"a"));
        assert_eq!(s.live_tags(&"a"), vec![tag(2)]);
    }

    #[test]
    fn remove_that_overtakes_its_add_still_removes_it() {
        let mut s = AwSet::default();
        s.remove(&[tag(1)]);
        s.add("a", tag(1));
        assert!(!s.contains(&"a"));
        assert!(s.is_empty());
    }
}
