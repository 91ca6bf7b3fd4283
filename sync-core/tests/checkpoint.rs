//! Checkpoints (`checkpoint::encode`/`decode`, ADR 0006): a state read back from a checkpoint and then given the
//! rest of the log equals the state rebuilt from the whole log, for random histories cut at random points; and
//! bytes that are not exactly a checkpoint (a flipped bit anywhere, a truncation, another format version, other
//! rules) are a typed error, never a panic and never a state.

use linli_sync_core::checkpoint::{
    self, CheckpointError, FORMAT_VERSION, HEADER_LEN, decode, decode_under, encode,
};
use linli_sync_core::prelude::*;
use linli_sync_core::test_support::{History, history};
use proptest::prelude::*;

fn replay<'a>(ops: impl IntoIterator<Item = &'a Op>) -> State {
    let mut s = State::new(Rules::DEFAULT);
    for op in ops {
        s.apply(op);
    }
    s
}

/// A history and a point in it (0 to its length: before the first op, after the last).
fn history_and_cut() -> impl Strategy<Value = (History, usize)> {
    (2usize..=5)
        .prop_flat_map(|writers| history(writers, 80))
        .prop_flat_map(|h| {
            let n = h.ops.len();
            (Just(h), 0..=n)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Checkpoint after a prefix, then the tail: the same state as the full rebuild, and the sequence number back.
    #[test]
    fn checkpoint_plus_tail_equals_full_rebuild((h, cut) in history_and_cut(), seq in any::<u64>()) {
        let full = replay(&h.ops);
        let bytes = encode(&replay(&h.ops[..cut]), seq);
        let (mut state, back) = decode(&bytes).expect("a checkpoint reads back");
        prop_assert_eq!(back, seq);
        prop_assert_eq!(checkpoint::seq_of(&bytes), Ok(seq));
        for op in &h.ops[cut..] {
            state.apply(op);
        }
        prop_assert_eq!(state, full);
    }

    /// Any single flipped bit, header or body, is an error: CRC-32 detects every one-bit error, and the header
    /// fields checked before the checksum (magic, version, lengths) refuse with their own error.
    #[test]
    fn a_flipped_bit_is_a_typed_error((h, cut) in history_and_cut(), at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let mut bytes = encode(&replay(&h.ops[..cut]), cut as u64);
        let i = at.index(bytes.len());
        bytes[i] ^= 1 << bit;
        let err = decode(&bytes).expect_err("a flipped bit never reads back");
        match i {
            0..4 => prop_assert_eq!(err, CheckpointError::BadMagic),
            4..6 => prop_assert!(matches!(err, CheckpointError::UnsupportedVersion { .. }), "{:?}", err),
            16..24 => prop_assert!(matches!(err, CheckpointError::Truncated { .. } | CheckpointError::TrailingBytes { .. }), "{:?}", err),
            _ => prop_assert_eq!(err, CheckpointError::Checksum),
        }
    }

    /// Cut short anywhere, or given extra bytes: an error naming the lengths.
    #[test]
    fn truncated_or_extended_is_a_typed_error((h, cut) in history_and_cut(), at in any::<prop::sample::Index>(), extra in 1usize..64) {
        let bytes = encode(&replay(&h.ops[..cut]), 7);
        let short = &bytes[..at.index(bytes.len())];
        let err = decode(short).expect_err("truncated");
        prop_assert!(matches!(err, CheckpointError::Truncated { found, .. } if found == short.len()), "{:?}", err);
        let mut long = bytes.clone();
        long.extend(std::iter::repeat_n(0u8, extra));
        prop_assert_eq!(decode(&long).expect_err("extended"), CheckpointError::TrailingBytes { extra });
    }

    /// Random bytes (with or without a valid-looking start) never panic the reader.
    #[test]
    fn random_bytes_are_refused(mut bytes in prop::collection::vec(any::<u8>(), 0..512), magic in any::<bool>()) {
        if magic && bytes.len() >= 6 {
            bytes[..4].copy_from_slice(&checkpoint::MAGIC);
            bytes[4..6].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        }
        prop_assert!(decode(&bytes).is_err());
    }
}

#[test]
fn an_older_or_newer_format_is_refused_by_number() {
    let mut bytes = encode(&State::new(Rules::DEFAULT), 1);
    for found in [0, FORMAT_VERSION + 1, u16::MAX] {
        bytes[4..6].copy_from_slice(&found.to_le_bytes());
        assert_eq!(
            decode(&bytes).expect_err("another format"),
            CheckpointError::UnsupportedVersion {
                found,
                supported: FORMAT_VERSION
            }
        );
    }
}

#[test]
fn a_state_merged_under_other_rules_is_refused() {
    let bytes = encode(&State::new(Rules::DEFAULT), 1);
    let mut other = Rules::DEFAULT;
    other.max_text_chars += 1;
    assert_eq!(
        decode_under(&bytes, &other).expect_err("other rules"),
        CheckpointError::RulesDiffer
    );
    assert!(decode_under(&bytes, &Rules::DEFAULT).is_ok());
}

#[test]
fn the_header_is_as_documented() {
    let bytes = encode(&State::new(Rules::DEFAULT), 0x0102_0304_0506_0708);
    assert_eq!(&bytes[..4], b"LNCK");
    assert_eq!(&bytes[4..6], &FORMAT_VERSION.to_le_bytes());
    assert_eq!(&bytes[8..16], &0x0102_0304_0506_0708u64.to_le_bytes());
    let body = u64::from_le_bytes(bytes[16..24].try_into().expect("8 bytes"));
    assert_eq!(bytes.len() as u64, HEADER_LEN as u64 + body);
}

/// `STATE_LOGIC` is held to what `State::apply` makes of a fixed history (30 days of a community and every wire
/// example): a change to any merge that alters the merged state of these ops fails here until `STATE_LOGIC` is
/// bumped and this fingerprint updated with it, so a server never reads a checkpoint its own code would not build
/// (review of the checkpoints change: the server's package version does not move at every release).
#[test]
fn the_merge_logic_tag_moves_with_the_merge_logic() {
    let mut state = State::new(Rules::DEFAULT);
    for op in linli_sync_core::test_support::community_year_of(3, 1_700_000_000_000, 30)
        .iter()
        .chain(&linli_sync_core::test_support::wire_examples())
    {
        state.apply(op);
    }
    let bytes = rmp_serde::to_vec_named(&state).expect("a state encodes");
    assert_eq!(
        (
            checkpoint::STATE_LOGIC,
            bytes.len(),
            crc32fast::hash(&bytes)
        ),
        (2, 9_064_143, 1_102_125_425),
        "the merged state of a fixed history changed: bump checkpoint::STATE_LOGIC and update this fingerprint"
    );
}
