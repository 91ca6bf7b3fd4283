//! Add-wins observed-remove set, op-based and delivery-order independent.
//!
//! Why not `crdts::Orswot`: its op-based `apply` drops an add whose dot is not newer than the set's clock, so it
//! needs causal (per-actor in-order) delivery. Linli's transport gives no such guarantee (a phone restored from a
//! backup, a server retry, a pull interleaved with a push), and our merge laws must hold for *any* order and
//! duplication. Tagging every add with its unique op id and every remove with the tags it observed needs no
//! delivery order at all: a remove that overtakes its add still wins over exactly that add, and a concurrent add
//! (a tag the remove never saw) still wins over the remove.
//!
//! Each tombstone also keeps the stamp of the earliest remove that observed it, so the set can be asked what it
//! held *as of* a stamp ([`AwSet::contains_at`]): the server judges an op written offline against the membership
//! that held when it was written, not against removes it could not have seen (issue 17). The earliest stamp is a
//! join (the minimum), so this keeps the merge laws: any order and duplication of removes give the same set.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

use crate::hlc::Stamp;
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
    /// The stamp of the earliest remove seen that observed each tombstone. Absent from states written before
    /// issue 17 (read as empty): a tombstone without a stamp counts as removed since the beginning, as before.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        with = "crate::pairs"
    )]
    removed_at: BTreeMap<OpId, Stamp>,
}

impl<T: Ord> Default for AwSet<T> {
    fn default() -> Self {
        AwSet {
            adds: BTreeMap::new(),
            removed: BTreeSet::new(),
            removed_at: BTreeMap::new(),
        }
    }
}

impl<T: Ord + Clone> AwSet<T> {
    /// Records the add of `member` by op `tag`.
    pub fn add(&mut self, member: T, tag: OpId) {
        self.adds.entry(member).or_default().insert(tag);
    }

    /// Records a remove, stamped `stamp`, that observed `tags`.
    pub fn remove<'a>(&mut self, stamp: Stamp, tags: impl IntoIterator<Item = &'a OpId>) {
        for tag in tags {
            self.removed.insert(*tag);
            self.note_removed_at(*tag, stamp);
        }
    }

    fn note_removed_at(&mut self, tag: OpId, stamp: Stamp) {
        self.removed_at
            .entry(tag)
            .and_modify(|s| *s = (*s).min(stamp))
            .or_insert(stamp);
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

    /// Whether `member` was in the set as of `at`: it has an add that no remove stamped before `at` observed.
    /// Removes stamped after `at` do not count (a member removed later was still a member at `at`); a tombstone
    /// without a stamp (a state from before stamps were kept) counts as removed at every `at`.
    pub fn contains_at(&self, member: &T, at: Stamp) -> bool {
        self.adds.get(member).is_some_and(|tags| {
            tags.iter().any(|t| {
                !self.removed.contains(t) || self.removed_at.get(t).is_some_and(|r| *r > at)
            })
        })
    }

    /// When `member` left the set: the latest remove stamp among its adds, if it was in the set and is no longer.
    /// `None` while it is in the set, when it never was, and when a tombstone has no stamp (an old state).
    pub fn removed_since(&self, member: &T) -> Option<Stamp> {
        let tags = self.adds.get(member).filter(|t| !t.is_empty())?;
        let mut latest: Option<Stamp> = None;
        for t in tags {
            let removed = self
                .removed_at
                .get(t)
                .filter(|_| self.removed.contains(t))?;
            latest = Some(latest.map_or(*removed, |l| l.max(*removed)));
        }
        latest
    }

    /// Whether `member` was ever added (live or removed since).
    pub fn ever_contained(&self, member: &T) -> bool {
        self.adds.get(member).is_some_and(|tags| !tags.is_empty())
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
        for (tag, stamp) in other.removed_at {
            self.note_removed_at(tag, stamp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(n: u128) -> OpId {
        OpId::from_uuid(uuid::Uuid::from_u128(n))
    }

    fn at(ms: u64, n: u128) -> Stamp {
        Stamp {
            time: crate::hlc::Hlc {
                wall_ms: ms,
                logical: 0,
            },
            op: tag(n),
        }
    }

    #[test]
    fn membership_as_of_a_stamp_ignores_later_removes() {
        let mut s = AwSet::default();
        s.add("a", tag(1));
        s.remove(at(2_000, 9), &[tag(1)]);
        assert!(!s.contains(&"a"));
        assert!(s.contains_at(&"a", at(1_000, 5)), "before the remove");
        assert!(!s.contains_at(&"a", at(3_000, 5)), "after the remove");
        // A second remove of the same tag, earlier, moves the time of removal back; a later one does not.
        s.remove(at(1_500, 8), &[tag(1)]);
        s.remove(at(2_500, 7), &[tag(1)]);
        assert!(!s.contains_at(&"a", at(1_600, 5)));
        assert!(s.contains_at(&"a", at(1_400, 5)));
        assert!(s.ever_contained(&"a"));
        assert_eq!(s.removed_since(&"a"), Some(at(1_500, 8)));
        s.add("a", tag(2));
        assert_eq!(s.removed_since(&"a"), None, "back in the set");
        assert!(!s.ever_contained(&"b"));
    }

    #[test]
    fn a_tombstone_from_before_stamps_counts_as_removed_at_every_time() {
        let old = r#"{"adds":[["a",["00000000-0000-0000-0000-000000000001"]]],"removed":["00000000-0000-0000-0000-000000000001"]}"#;
        let s: AwSet<String> = serde_json::from_str(old).expect("an old state reads");
        assert!(!s.contains_at(&"a".to_string(), at(0, 0)));
    }

    #[test]
    fn concurrent_add_wins_over_remove() {
        let mut s = AwSet::default();
        s.add("a", tag(1));
        // Replica 2 removes what it saw (tag 1) while replica 3 adds again (tag 2).
        s.remove(at(1, 3), &[tag(1)]);
        s.add("a", tag(2));
        assert!(s.contains(&"a"));
        assert_eq!(s.live_tags(&"a"), vec![tag(2)]);
    }

    #[test]
    fn remove_that_overtakes_its_add_still_removes_it() {
        let mut s = AwSet::default();
        s.remove(at(1, 3), &[tag(1)]);
        s.add("a", tag(1));
        assert!(!s.contains(&"a"));
        assert!(s.is_empty());
    }
}
