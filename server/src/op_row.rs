//! The op log's row format (issue 11's lean op log): how an op's canonical JSON is split between the row's columns
//! and its `body`, and written back byte for byte on the way out.
//!
//! A row's columns hold the op's envelope (ids as 16-byte blobs, the kind as a code of [`KIND_CODES`], the time);
//! its `format` says what `body` holds:
//!
//! | format | `body` |
//! | ---: | --- |
//! | 0 | the whole canonical JSON (an envelope the columns cannot write back: unknown top-level members, another `v`) |
//! | 1 | the canonical text between `"body":` and `,"entity":` — the `body` member's value (and an unknown member that sorts between the two, kept in place); the envelope around it is written from the columns |
//! | 2 | format 1 compressed by zstd with dictionary 1 ([`DICTIONARY_1`], built into the binary) |
//!
//! The split is checked when a row is made: the envelope written from the row's own columns must be exactly the
//! text around the body in the canonical JSON, else the row is format 0. So reading a row back gives the stored
//! canonical JSON whatever the op holds. A future dictionary is a new format number beside the old ones, never a
//! change to dictionary 1: every row says which one it needs.

use linli_sync_core::ids::{GridId, ReplicaId};
use linli_sync_core::op::{Op, OpKind};
use std::cell::RefCell;
use std::sync::LazyLock;
use uuid::Uuid;

/// Whole canonical JSON.
pub const FORMAT_JSON: i64 = 0;
/// The `body` member's canonical text; the envelope from the columns.
pub const FORMAT_BODY: i64 = 1;
/// [`FORMAT_BODY`] compressed by zstd with [`DICTIONARY_1`].
pub const FORMAT_BODY_ZSTD_1: i64 = 2;

/// zstd dictionary 1 (16 KB), trained on the op bodies of one simulated community-year
/// (`cargo bench -p linli-server --bench op_log_dictionary` writes it). Never changed once rows use it: a better
/// dictionary is added as dictionary 2 with a format number of its own.
pub static DICTIONARY_1: &[u8] = include_bytes!("../data/op_log_dict1.zdict");

/// zstd's level for op bodies: level 3 measured as small as higher levels on bodies of a few hundred bytes, and
/// faster (docs/benchmarks.md, "Lean op log: layouts").
const LEVEL: i32 = 3;

/// The op kinds' codes in the `kind` column, as the migration `2026-12-02-000200_lean_op_log` wrote them into the
/// `op_kinds` table: fixed forever (a new kind takes the next free code), whatever order `OpKind::ALL` lists.
pub const KIND_CODES: [(i64, OpKind); 39] = [
    (1, OpKind::TicketCreate),
    (2, OpKind::TicketEdit),
    (3, OpKind::TicketAssign),
    (4, OpKind::TicketUnassign),
    (5, OpKind::TicketComment),
    (6, OpKind::TicketTake),
    (7, OpKind::TicketArrive),
    (8, OpKind::TicketSolve),
    (9, OpKind::TicketPlan),
    (10, OpKind::TicketAnswer),
    (11, OpKind::TicketRate),
    (12, OpKind::TicketReopen),
    (13, OpKind::TicketSendBack),
    (14, OpKind::TicketClose),
    (15, OpKind::GridCreate),
    (16, OpKind::GridRename),
    (17, OpKind::GridAddHousehold),
    (18, OpKind::GridRemoveHousehold),
    (19, OpKind::GridAddMember),
    (20, OpKind::GridRemoveMember),
    (21, OpKind::GridAssignVisit),
    (22, OpKind::GridUnassignVisit),
    (23, OpKind::EntryVisit),
    (24, OpKind::EntryActivity),
    (25, OpKind::EntryApprove),
    (26, OpKind::EntryReject),
    (27, OpKind::EntryVoid),
    (28, OpKind::CardCredit),
    (29, OpKind::CardTransfer),
    (30, OpKind::CardRedeem),
    // Migration `2026-12-03-001300_linked_body_op_kinds` (issue 13).
    (31, OpKind::TicketDispatch),
    (32, OpKind::TicketAgencyAccept),
    (33, OpKind::TicketAgencyComplete),
    (34, OpKind::TicketDecide),
    (35, OpKind::AgencyCreate),
    (36, OpKind::AgencyEdit),
    (37, OpKind::DecisionRecord),
    (38, OpKind::DecisionEdit),
    (39, OpKind::RouteSet),
];

/// The code of `kind` in the `kind` column.
pub fn kind_code(kind: OpKind) -> i64 {
    KIND_CODES
        .iter()
        .find(|(_, k)| *k == kind)
        .map_or(0, |(code, _)| *code)
}

/// The kind a `kind` column's code names.
pub fn kind_of(code: i64) -> Option<OpKind> {
    KIND_CODES.iter().find(|(c, _)| *c == code).map(|(_, k)| *k)
}

/// A uuid as the row's 16 bytes.
pub fn id_bytes(id: Uuid) -> Vec<u8> {
    id.as_bytes().to_vec()
}

/// The uuid of a 16-byte id column.
pub fn id_of(bytes: &[u8]) -> Option<Uuid> {
    Uuid::from_slice(bytes).ok()
}

/// An op's row columns and body, before the community and sequence number are known to the caller's row type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lean {
    /// The op id.
    pub op_id: Vec<u8>,
    /// The device that pushed it.
    pub device_id: Vec<u8>,
    /// The op's replica when it is not `device_id` (the server's own ops), else `None`.
    pub replica: Option<Vec<u8>>,
    /// Its author.
    pub author: Vec<u8>,
    /// Its kind's code.
    pub kind: i64,
    /// Its entity.
    pub entity: Vec<u8>,
    /// Its grid cell, as the server saw it.
    pub grid: Option<Vec<u8>>,
    /// HLC wall time (clamped to `i64`).
    pub hlc_wall_ms: i64,
    /// HLC logical counter.
    pub hlc_logical: i64,
    /// One of the `FORMAT_*` codes.
    pub format: i64,
    /// What `format` says.
    pub body: Vec<u8>,
}

/// The columns an op's envelope is written back from (what a read selects besides the body).
#[derive(Debug, Clone, Copy)]
pub struct Envelope<'a> {
    /// `op_id`.
    pub op_id: &'a [u8],
    /// `device_id`.
    pub device_id: &'a [u8],
    /// `replica`.
    pub replica: Option<&'a [u8]>,
    /// `author`.
    pub author: &'a [u8],
    /// `kind`.
    pub kind: i64,
    /// `entity`.
    pub entity: &'a [u8],
    /// `hlc_wall_ms`.
    pub hlc_wall_ms: i64,
    /// `hlc_logical`.
    pub hlc_logical: i64,
}

/// Why a row does not read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowError {
    /// The `format` is not one this release knows (written by a newer one).
    #[error("unknown row format {0}")]
    Format(i64),
    /// The `kind` code is not one this release knows.
    #[error("unknown kind code {0}")]
    Kind(i64),
    /// An id column is not 16 bytes.
    #[error("an id column is not 16 bytes")]
    Id,
    /// The compressed body does not inflate.
    #[error("the body does not inflate: {0}")]
    Inflate(String),
    /// The body is not UTF-8.
    #[error("the body is not UTF-8")]
    Utf8,
}

/// What a row's `body` holds, and in which format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    /// One of the `FORMAT_*` codes.
    pub format: i64,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// The stored body of `op` (canonical JSON `json`): format 2 when the envelope writes back exactly and compression
/// pays, format 1 when it does not pay, format 0 when the envelope does not write back. It does not depend on the
/// pushing device (the envelope names the op's own replica either way), so it is made while the request is read,
/// outside the writer lock.
pub fn body_of(op: &Op, json: &str) -> Body {
    let op_id = id_bytes(op.id.0);
    let replica = id_bytes(op.replica.0);
    let author = id_bytes(op.author.0);
    let entity = id_bytes(op.body.entity_id());
    let envelope = Envelope {
        op_id: &op_id,
        device_id: &replica,
        replica: None,
        author: &author,
        kind: kind_code(op.kind()),
        entity: &entity,
        hlc_wall_ms: i64::try_from(op.time.wall_ms).unwrap_or(i64::MAX),
        hlc_logical: i64::from(op.time.logical),
    };
    match split(&envelope, json) {
        Some(body) => match compress(body.as_bytes()) {
            Some(small) if small.len() < body.len() => Body {
                format: FORMAT_BODY_ZSTD_1,
                bytes: small,
            },
            _ => Body {
                format: FORMAT_BODY,
                bytes: body.as_bytes().to_vec(),
            },
        },
        None => Body {
            format: FORMAT_JSON,
            bytes: json.as_bytes().to_vec(),
        },
    }
}

/// The row parts of `op` (canonical JSON `json`), pushed by `device`, in grid cell `grid`.
pub fn encode(op: &Op, json: &str, device: ReplicaId, grid: Option<GridId>) -> Lean {
    encode_with(op, body_of(op, json), device, grid)
}

/// The row parts of `op` whose stored body [`body_of`] made already.
pub fn encode_with(op: &Op, body: Body, device: ReplicaId, grid: Option<GridId>) -> Lean {
    Lean {
        op_id: id_bytes(op.id.0),
        device_id: id_bytes(device.0),
        replica: (op.replica != device).then(|| id_bytes(op.replica.0)),
        author: id_bytes(op.author.0),
        kind: kind_code(op.kind()),
        entity: id_bytes(op.body.entity_id()),
        grid: grid.map(|g| id_bytes(g.0)),
        hlc_wall_ms: i64::try_from(op.time.wall_ms).unwrap_or(i64::MAX),
        hlc_logical: i64::from(op.time.logical),
        format: body.format,
        body: body.bytes,
    }
}

/// The text of `json`'s `body` member when the rest of `json` is exactly the envelope [`decode`] writes from
/// `envelope`.
pub fn split<'j>(envelope: &Envelope<'_>, json: &'j str) -> Option<&'j str> {
    let mut prefix = String::with_capacity(64);
    let mut suffix = String::with_capacity(224);
    write_prefix(&mut prefix, envelope).ok()?;
    write_suffix(&mut suffix, envelope).ok()?;
    if json.len() <= prefix.len() + suffix.len() {
        return None;
    }
    json.strip_prefix(prefix.as_str())?
        .strip_suffix(suffix.as_str())
}

/// The op's canonical JSON from its row: `envelope`'s columns, `format` and `body`.
pub fn decode(envelope: &Envelope<'_>, format: i64, body: &[u8]) -> Result<String, RowError> {
    if format == FORMAT_JSON {
        return String::from_utf8(body.to_vec()).map_err(|_| RowError::Utf8);
    }
    if format != FORMAT_BODY && format != FORMAT_BODY_ZSTD_1 {
        return Err(RowError::Format(format));
    }
    // One string, written in place: the pull path reads every op it sends through here.
    let plain_len = if format == FORMAT_BODY {
        body.len()
    } else {
        zstd::bulk::Decompressor::upper_bound(body)
            .unwrap_or(body.len())
            .min(MAX_INFLATED_BODY)
    };
    let mut out = String::with_capacity(ENVELOPE_LEN + plain_len);
    write_prefix(&mut out, envelope)?;
    if format == FORMAT_BODY {
        out.push_str(std::str::from_utf8(body).map_err(|_| RowError::Utf8)?);
    } else {
        inflate_with(body, |plain| {
            out.push_str(std::str::from_utf8(plain).map_err(|_| RowError::Utf8)?);
            Ok(())
        })?;
    }
    write_suffix(&mut out, envelope)?;
    Ok(out)
}

/// About the envelope's length around a body: five ids, the kind, the time.
const ENVELOPE_LEN: usize = 280;

/// Writes the canonical text before the `body` member's value. The members are in key order (`author`, `body`,
/// `entity`, `id`, `kind`, `replica`, `time`, `v`), as `Op::to_json` writes them.
fn write_prefix(out: &mut String, e: &Envelope<'_>) -> Result<(), RowError> {
    out.push_str("{\"author\":\"");
    push_id(out, e.author)?;
    out.push_str("\",\"body\":");
    Ok(())
}

/// Writes the canonical text after the `body` member's value.
fn write_suffix(out: &mut String, e: &Envelope<'_>) -> Result<(), RowError> {
    use std::fmt::Write;
    let kind = kind_of(e.kind).ok_or(RowError::Kind(e.kind))?;
    out.push_str(",\"entity\":\"");
    push_id(out, e.entity)?;
    out.push_str("\",\"id\":\"");
    push_id(out, e.op_id)?;
    out.push_str("\",\"kind\":\"");
    out.push_str(kind.as_str());
    out.push_str("\",\"replica\":\"");
    push_id(out, e.replica.unwrap_or(e.device_id))?;
    // Writing integers into a `String` cannot fail.
    let _ = write!(
        out,
        "\",\"time\":{{\"logical\":{},\"wall_ms\":{}}},\"v\":1}}",
        e.hlc_logical, e.hlc_wall_ms
    );
    Ok(())
}

/// Writes a 16-byte id column as the wire writes a uuid: hyphenated, lower case.
fn push_id(out: &mut String, bytes: &[u8]) -> Result<(), RowError> {
    let id = id_of(bytes).ok_or(RowError::Id)?;
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    out.push_str(id.hyphenated().encode_lower(&mut buf));
    Ok(())
}

static ENCODER_1: LazyLock<zstd::dict::EncoderDictionary<'static>> =
    LazyLock::new(|| zstd::dict::EncoderDictionary::copy(DICTIONARY_1, LEVEL));
static DECODER_1: LazyLock<zstd::dict::DecoderDictionary<'static>> =
    LazyLock::new(|| zstd::dict::DecoderDictionary::copy(DICTIONARY_1));

thread_local! {
    // A zstd context per thread, made once: making one costs more than compressing a body.
    static COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<(Option<zstd::bulk::Decompressor<'static>>, Vec<u8>)> =
        const { RefCell::new((None, Vec::new())) };
}

/// `plain` compressed with dictionary 1 (`None` if zstd fails, then the body is stored plain).
pub fn compress(plain: &[u8]) -> Option<Vec<u8>> {
    COMPRESSOR.with(|c| {
        let mut c = c.borrow_mut();
        if c.is_none() {
            let mut new = zstd::bulk::Compressor::with_prepared_dictionary(&ENCODER_1).ok()?;
            // The dictionary's id in every frame would cost up to 4 bytes a row: the format says it.
            new.set_parameter(zstd::zstd_safe::CParameter::DictIdFlag(false))
                .ok()?;
            *c = Some(new);
        }
        c.as_mut()?.compress(plain).ok()
    })
}

/// The most a stored body may inflate to: far above any op the server accepts (`LINLI_MAX_OP_BYTES`, 64 KiB by
/// default), far below an allocation that could take the process down.
pub const MAX_INFLATED_BODY: usize = 16 << 20;

/// A format-2 body inflated.
pub fn inflate(small: &[u8]) -> Result<Vec<u8>, RowError> {
    inflate_with(small, |plain| Ok(plain.to_vec()))
}

/// Inflates a format-2 body into this thread's buffer and hands it to `f`.
fn inflate_with<T>(
    small: &[u8],
    f: impl FnOnce(&[u8]) -> Result<T, RowError>,
) -> Result<T, RowError> {
    let size = zstd::bulk::Decompressor::upper_bound(small)
        .ok_or_else(|| RowError::Inflate("no content size".into()))?;
    // The frame's header says how large it inflates; a damaged row must not make this reserve gigabytes.
    if size > MAX_INFLATED_BODY {
        return Err(RowError::Inflate(format!(
            "the frame claims {size} bytes, more than {MAX_INFLATED_BODY}"
        )));
    }
    DECOMPRESSOR.with(|d| {
        let mut d = d.borrow_mut();
        let (ctx, buf) = &mut *d;
        if ctx.is_none() {
            *ctx = Some(
                zstd::bulk::Decompressor::with_prepared_dictionary(&DECODER_1)
                    .map_err(|e| RowError::Inflate(e.to_string()))?,
            );
        }
        let ctx = ctx
            .as_mut()
            .ok_or_else(|| RowError::Inflate("no context".into()))?;
        buf.clear();
        buf.reserve(size);
        ctx.decompress_to_buffer(small, buf)
            .map_err(|e| RowError::Inflate(e.to_string()))?;
        f(buf)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use linli_sync_core::test_support::wire_examples;

    fn envelope(l: &Lean) -> Envelope<'_> {
        Envelope {
            op_id: &l.op_id,
            device_id: &l.device_id,
            replica: l.replica.as_deref(),
            author: &l.author,
            kind: l.kind,
            entity: &l.entity,
            hlc_wall_ms: l.hlc_wall_ms,
            hlc_logical: l.hlc_logical,
        }
    }

    /// Dictionary 1 is frozen: every format-2 row on every database needs exactly these bytes. A changed file fails
    /// here (its CRC-32 and length), and a body compressed with it when it was made must still inflate to its text.
    #[test]
    fn dictionary_1_is_the_one_rows_were_written_with() {
        assert_eq!(
            (DICTIONARY_1.len(), crc32fast::hash(DICTIONARY_1)),
            (DICT_1_LEN, DICT_1_CRC),
            "server/data/op_log_dict1.zdict changed: a new dictionary is a new format, never a new dictionary 1"
        );
        let plain = inflate(&hex(SAMPLE_ROW)).expect("a body written with dictionary 1 inflates");
        assert_eq!(std::str::from_utf8(&plain), Ok(SAMPLE_BODY));
    }

    /// A damaged frame that claims a huge size is an error, not an allocation.
    #[test]
    fn a_frame_claiming_too_much_is_refused() {
        let mut frame = zstd::bulk::compress(&[b'a'; 64], 1).expect("compresses");
        // zstd frame header: magic (4), descriptor (1: content size 8 bytes with single segment flag), then size.
        let mut huge = vec![0x28, 0xb5, 0x2f, 0xfd, 0xe0];
        huge.extend_from_slice(&(1u64 << 40).to_le_bytes());
        huge.extend_from_slice(&frame.split_off(frame.len().min(6)));
        assert!(
            matches!(inflate(&huge), Err(RowError::Inflate(_))),
            "{:?}",
            inflate(&huge)
        );
    }

    /// Dictionary 1's length and CRC-32 when rows were first written with it.
    const DICT_1_LEN: usize = 16_384;
    const DICT_1_CRC: u32 = 1_479_974_705;
    /// A body compressed with dictionary 1 on 2026-12-02 (format 2, no dictionary id in the frame), and its text.
    const SAMPLE_ROW: &str = "28b52ffd20696d0200c3041027841082c81d77184f7941c5c0052a2c36062c88010b5af0425fd02b8c610b\
                              895da12be8e38ee46618ae5385058f9392050d31c382758ab080957447c387d51002fc12ebfea17e70a901";
    const SAMPLE_BODY: &str = r#"{"household":"5b3f6a1e-0c2d-4e8f-9a7b-1c2d3e4f5a6b","health":"ok","seen":true,"visited_ms":1735660800000}"#;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    #[test]
    fn every_kind_has_its_own_code() {
        for kind in OpKind::ALL {
            let code = kind_code(*kind);
            assert_eq!(kind_of(code), Some(*kind), "{kind}");
        }
        let mut codes: Vec<i64> = KIND_CODES.iter().map(|(c, _)| *c).collect();
        codes.dedup();
        assert_eq!(codes.len(), OpKind::ALL.len());
    }

    /// Every wire example, pushed by its own replica or by another device (the server's ops), reads back as its
    /// canonical JSON, and only format 0 keeps the envelope in the body.
    #[test]
    fn every_op_reads_back_byte_for_byte() {
        for op in wire_examples() {
            let json = op.to_json();
            for device in [op.replica, ReplicaId::SERVER] {
                let lean = encode(&op, &json, device, None);
                assert_ne!(lean.format, FORMAT_JSON, "{json}");
                assert_eq!(
                    decode(&envelope(&lean), lean.format, &lean.body).as_deref(),
                    Ok(json.as_str())
                );
            }
        }
    }

    /// A newer phone's unknown top-level member cannot be written from the columns: the whole JSON is kept.
    #[test]
    fn an_envelope_with_unknown_members_is_kept_whole() {
        let mut op = wire_examples().remove(0);
        op.unknown
            .envelope
            .insert("zone".into(), serde_json::Value::from("east"));
        op.unknown
            .envelope
            .insert("a".into(), serde_json::Value::from(1));
        let json = op.to_json();
        let lean = encode(&op, &json, op.replica, None);
        assert_eq!(lean.format, FORMAT_JSON);
        assert_eq!(lean.body, json.as_bytes());
        assert_eq!(
            decode(&envelope(&lean), lean.format, &lean.body).as_deref(),
            Ok(json.as_str())
        );
    }

    #[test]
    fn an_unknown_format_or_kind_is_an_error_not_a_guess() {
        let op = wire_examples().remove(0);
        let json = op.to_json();
        let mut lean = encode(&op, &json, op.replica, None);
        assert_eq!(
            decode(&envelope(&lean), 9, &lean.body),
            Err(RowError::Format(9))
        );
        lean.kind = 99;
        lean.format = FORMAT_BODY;
        assert_eq!(
            decode(&envelope(&lean), lean.format, b"{}"),
            Err(RowError::Kind(99))
        );
    }
}
