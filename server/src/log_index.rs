//! The op log's in-memory index: for every stored op, in server order, what deciding its visibility needs (its id,
//! kind and entity, and for a membership op the member it adds or removes), and the sequence number of each op id.
//! A pull judges visibility here and reads from the database only the ops it sends, so passing over an op that a
//! device may not see costs a lookup in memory, not a row read; a push learns here which of its ops are already
//! stored (a retry), so a push of new ops reads nothing from the database. Built with the merged state at start and
//! extended by the same commit step, so it holds exactly the ops the state does.
//!
//! Size: 48 bytes per op in the list, and a hash-map slot of 24 bytes per op id (at most twice as many slots as
//! ops): by those sizes, 16-22 MB for a year of a 500-household community (218,000 ops).

use linli_sync_core::ids::{OpId, UserId};
use linli_sync_core::op::{Op, OpKind};
use std::collections::HashMap;
use uuid::Uuid;

/// One stored op as a pull judges it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Its server sequence number.
    pub seq: i64,
    /// Its id.
    pub id: OpId,
    /// Its kind.
    pub kind: OpKind,
    /// The entity it acts on.
    pub entity: Uuid,
}

/// Every stored op's [`Entry`], in sequence order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogIndex {
    entries: Vec<Entry>,
    /// The member of each `grid.add_member` and `grid.remove_member` op, by sequence number: the one case where
    /// an op's body decides who sees it. Few, so kept apart to keep [`Entry`] small.
    members: HashMap<i64, UserId>,
    /// The sequence number of every stored op id.
    seqs: HashMap<OpId, i64>,
}

impl LogIndex {
    /// Notes a stored op. Commits come in sequence order (the writer lock makes them), so this appends; an op
    /// out of order would still be put in its place, never dropped.
    pub fn push(&mut self, seq: i64, op: &Op) {
        if let Some(user) = op.body.member() {
            self.members.insert(seq, user);
        }
        self.seqs.insert(op.id, seq);
        let entry = Entry {
            seq,
            id: op.id,
            kind: op.kind(),
            entity: op.body.entity_id(),
        };
        match self.entries.last() {
            Some(last) if last.seq >= seq => {
                let at = self.entries.partition_point(|e| e.seq < seq);
                if self.entries.get(at).is_some_and(|e| e.seq == seq) {
                    self.entries[at] = entry;
                } else {
                    self.entries.insert(at, entry);
                }
            }
            _ => self.entries.push(entry),
        }
    }

    /// The entries stored after `cursor`, oldest first.
    pub fn after(&self, cursor: i64) -> &[Entry] {
        let start = self.entries.partition_point(|e| e.seq <= cursor);
        &self.entries[start..]
    }

    /// The sequence number of the stored op `id`, if it is stored.
    pub fn seq_of(&self, id: &OpId) -> Option<i64> {
        self.seqs.get(id).copied()
    }

    /// The user a membership op adds or removes.
    pub fn member(&self, seq: i64) -> Option<UserId> {
        self.members.get(&seq).copied()
    }

    /// How many ops are indexed.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no op is indexed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every entry, in sequence order (for writing a checkpoint).
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Every membership op's member, by sequence number, in sequence order (for writing a checkpoint).
    pub fn members(&self) -> Vec<(i64, UserId)> {
        let mut out: Vec<(i64, UserId)> = self.members.iter().map(|(s, u)| (*s, *u)).collect();
        out.sort_unstable_by_key(|(seq, _)| *seq);
        out
    }

    /// An index of these entries (in strictly ascending sequence order: the caller checked) and members; the id ->
    /// sequence map is rebuilt from the entries (read back from a checkpoint).
    pub fn from_parts(
        entries: Vec<Entry>,
        members: impl IntoIterator<Item = (i64, UserId)>,
    ) -> Self {
        let mut seqs = HashMap::with_capacity(entries.len());
        for e in &entries {
            seqs.insert(e.id, e.seq);
        }
        LogIndex {
            entries,
            members: members.into_iter().collect(),
            seqs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use linli_sync_core::grid::GridOp;
    use linli_sync_core::op::OpBody;
    use linli_sync_core::test_support::wire_examples;

    #[test]
    fn entries_after_a_cursor_and_members_by_seq() {
        let ops = wire_examples();
        let mut index = LogIndex::default();
        // Gaps in the sequence (a hand-edited log), and one op noted out of order, keep the order right.
        let seq = |i: usize| 2 * i64::try_from(i).unwrap_or(0) + 1;
        for (i, op) in ops.iter().enumerate().skip(1) {
            index.push(seq(i), op);
        }
        index.push(seq(0), &ops[0]);
        assert_eq!(index.len(), ops.len());
        assert_eq!(index.after(0).len(), ops.len());
        assert_eq!(index.after(1).len(), ops.len() - 1);
        assert_eq!(index.after(2).len(), ops.len() - 1);
        assert!(index.after(i64::MAX).is_empty());
        for (e, op) in index.after(0).iter().zip(&ops) {
            assert_eq!(
                (e.id, e.kind, e.entity),
                (op.id, op.kind(), op.body.entity_id())
            );
            let member = match &op.body {
                OpBody::Grid(
                    _,
                    GridOp::AddMember { user, .. } | GridOp::RemoveMember { user, .. },
                ) => Some(*user),
                _ => None,
            };
            assert_eq!(index.member(e.seq), member);
            assert_eq!(index.seq_of(&op.id), Some(e.seq));
        }
        assert_eq!(index.seq_of(&OpId::new_v7(0)), None);
        assert!(
            ops.iter().any(|op| op.kind() == OpKind::GridAddMember),
            "the examples hold a membership op"
        );
    }

    #[test]
    fn the_entry_stays_small() {
        assert!(size_of::<Entry>() <= 48, "{} bytes", size_of::<Entry>());
    }
}
