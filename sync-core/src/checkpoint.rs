//! Checkpoints: a merged [`State`] and the sequence number it is complete up to, as bytes that a server stores and
//! reads back instead of re-applying a whole op log (issue 11, ADR 0006). Pure: bytes in, bytes out; where they are
//! kept is the server's business. Behind the `checkpoint` feature (the phone library does not need it).
//!
//! Layout (integers little-endian), [`HEADER_LEN`] bytes of header, then the body:
//!
//! | bytes | field |
//! | --- | --- |
//! | 0..4 | magic `LNCK` |
//! | 4..6 | format version ([`FORMAT_VERSION`]) |
//! | 6..8 | reserved, zero |
//! | 8..16 | sequence number the state is complete up to |
//! | 16..24 | body length in bytes |
//! | 24..32 | length of the body once inflated |
//! | 32..36 | CRC-32 (IEEE) of bytes 0..32 and of the body |
//! | 36.. | body: the state as MessagePack with field names, compressed with zstd |
//!
//! Anything that does not read back exactly is a [`CheckpointError`], never a panic and never a wrong state that
//! looks right: the checksum covers the header and the body, and an older or newer format version is refused by
//! number, so the caller rebuilds from the log.

use crate::state::{Rules, State};
use thiserror::Error;

/// The four bytes every checkpoint starts with.
pub const MAGIC: [u8; 4] = *b"LNCK";

/// The format this module writes and the only one it reads. Bump it whenever the body's encoding or the shape of
/// any type inside [`State`] changes in a way the previous reader would not read back equal.
pub const FORMAT_VERSION: u16 = 1;

/// The version of the merge logic a checkpoint's state was built by. A checkpoint stores a state, not the ops that
/// made it: a release that changes what [`State::apply`] (or any merge it calls: card balances, ticket clocks,
/// membership, …) makes of the same ops, while the types stay the same, would read an old checkpoint back without
/// error and serve a state its own code would not build from the log. Bump this with any such change: the test
/// `the_merge_logic_tag_moves_with_the_merge_logic` (tests/checkpoint.rs) holds it to a fingerprint of the state
/// merged from a fixed history and fails until it is bumped. The server stores it (with its own package version)
/// in the checkpoint's row and rebuilds from the log when it differs (ADR 0006).
/// 2: linked bodies, council decisions and routing rules in the state; public flags on notes (issue 13).
pub const STATE_LOGIC: u32 = 2;

/// Bytes before the body.
pub const HEADER_LEN: usize = 36;

/// The largest inflated body [`decode`] accepts (a community-year's state is about 41 MB inflated): a header that
/// claims more is refused before anything is allocated.
pub const MAX_INFLATED: u64 = 4 << 30;

/// The zstd level: level 3, zstd's default, packs a community-year's state within 5 % of level 9's size in a
/// quarter of its time (see `docs/benchmarks.md`).
const ZSTD_LEVEL: i32 = 3;

/// Why a checkpoint could not be read. Each one means: rebuild the state from the op log.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum CheckpointError {
    /// Shorter than a header, or than the header says.
    #[error("checkpoint truncated: {found} bytes, {expected} expected")]
    Truncated {
        /// Bytes given.
        found: usize,
        /// Bytes the header (or a header) needs.
        expected: usize,
    },
    /// Longer than the header says.
    #[error("checkpoint has {extra} bytes after its body")]
    TrailingBytes {
        /// Bytes beyond the body.
        extra: usize,
    },
    /// Not a checkpoint at all.
    #[error("not a checkpoint (magic bytes differ)")]
    BadMagic,
    /// A format this build does not read.
    #[error("checkpoint format {found}, this build reads {supported}")]
    UnsupportedVersion {
        /// The checkpoint's format version.
        found: u16,
        /// The one this build reads.
        supported: u16,
    },
    /// The checksum does not match: the bytes were changed after they were written.
    #[error("checkpoint checksum mismatch")]
    Checksum,
    /// The header claims an inflated body larger than [`MAX_INFLATED`].
    #[error("checkpoint claims {claimed} inflated bytes, more than {MAX_INFLATED}")]
    TooLarge {
        /// What the header claims.
        claimed: u64,
    },
    /// The checksum matched but the body does not inflate or decode (a writer bug, not a bit flip).
    #[error("checkpoint body does not decode: {0}")]
    Body(String),
    /// The state was merged under other rules than the ones in force.
    #[error("checkpoint was written under other rules")]
    RulesDiffer,
}

/// Encodes `state`, complete up to sequence number `seq`.
pub fn encode(state: &State, seq: u64) -> Vec<u8> {
    // Encoding a `State` cannot fail: every key is a fixed-size id and every value a plain serde type. Should a
    // future type make it fail, this is a writer bug that must surface in the first test that writes one.
    let raw = rmp_serde::to_vec_named(state).expect("a State always encodes as MessagePack");
    let body = zstd::bulk::compress(&raw, ZSTD_LEVEL).expect("zstd compresses any input");
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&(raw.len() as u64).to_le_bytes());
    let crc = checksum(&out, &body);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// Decodes a checkpoint written by [`encode`]: the state and the sequence number it is complete up to.
pub fn decode(bytes: &[u8]) -> Result<(State, u64), CheckpointError> {
    let header = Header::read(bytes)?;
    let raw = zstd::bulk::decompress(header.body, header.inflated)
        .map_err(|e| CheckpointError::Body(e.to_string()))?;
    if raw.len() != header.inflated {
        return Err(CheckpointError::Body(format!(
            "inflated to {} bytes, header says {}",
            raw.len(),
            header.inflated
        )));
    }
    let state: State =
        rmp_serde::from_slice(&raw).map_err(|e| CheckpointError::Body(e.to_string()))?;
    Ok((state, header.seq))
}

/// [`decode`], and the state must have been merged under `rules` (the server's configuration may have changed
/// since the checkpoint was written; a state merged under other rules is rebuilt).
pub fn decode_under(bytes: &[u8], rules: &Rules) -> Result<(State, u64), CheckpointError> {
    let (state, seq) = decode(bytes)?;
    if state.rules() != rules {
        return Err(CheckpointError::RulesDiffer);
    }
    Ok((state, seq))
}

/// The sequence number a checkpoint claims, from its header alone (checksum checked, body not decoded): for
/// choosing among stored checkpoints without inflating them.
pub fn seq_of(bytes: &[u8]) -> Result<u64, CheckpointError> {
    Header::read(bytes).map(|h| h.seq)
}

struct Header<'a> {
    seq: u64,
    inflated: usize,
    body: &'a [u8],
}

impl<'a> Header<'a> {
    fn read(bytes: &'a [u8]) -> Result<Header<'a>, CheckpointError> {
        let Some((head, rest)) = bytes.split_first_chunk::<HEADER_LEN>() else {
            return Err(CheckpointError::Truncated {
                found: bytes.len(),
                expected: HEADER_LEN,
            });
        };
        if head[0..4] != MAGIC {
            return Err(CheckpointError::BadMagic);
        }
        let version = u16::from_le_bytes([head[4], head[5]]);
        if version != FORMAT_VERSION {
            return Err(CheckpointError::UnsupportedVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let u64_at = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&head[at..at + 8]);
            u64::from_le_bytes(b)
        };
        let seq = u64_at(8);
        let body_len = u64_at(16);
        let inflated = u64_at(24);
        let crc = u32::from_le_bytes([head[32], head[33], head[34], head[35]]);
        let expected = usize::try_from(body_len)
            .ok()
            .and_then(|n| n.checked_add(HEADER_LEN))
            .unwrap_or(usize::MAX);
        if bytes.len() < expected {
            return Err(CheckpointError::Truncated {
                found: bytes.len(),
                expected,
            });
        }
        if bytes.len() > expected {
            return Err(CheckpointError::TrailingBytes {
                extra: bytes.len() - expected,
            });
        }
        let body = &rest[..expected - HEADER_LEN];
        if checksum(&head[..32], body) != crc {
            return Err(CheckpointError::Checksum);
        }
        if inflated > MAX_INFLATED {
            return Err(CheckpointError::TooLarge { claimed: inflated });
        }
        let inflated = usize::try_from(inflated)
            .map_err(|_| CheckpointError::TooLarge { claimed: inflated })?;
        Ok(Header {
            seq,
            inflated,
            body,
        })
    }
}

fn checksum(header: &[u8], body: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(header);
    h.update(body);
    h.finalize()
}
