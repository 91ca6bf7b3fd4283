//! The sync request reader: the server's body decoder (`server/src/decode.rs`, included by path: identity, gzip or
//! deflate, chosen by the first byte, within a limit), then the request read two ways, as the server reads it (the
//! top level with each op left raw, each op through `Op::from_json_canonical`) and as `sync_core::sync::
//! SyncRequest`. Whatever the bytes: no panic, a decoded body within its limit, and the two readers agree on every
//! op.
#![no_main]

#[path = "../../server/src/decode.rs"]
#[expect(dead_code, reason = "the header parsing is the middleware's, not fuzzed here")]
mod decode;

use decode::{Encoding, decode_bytes};
use libfuzzer_sys::fuzz_target;
use linli_sync_core::op::Op;
use linli_sync_core::sync::SyncRequest;
use serde_json::value::RawValue;

const LIMIT: usize = 1 << 20;

#[derive(serde::Deserialize)]
struct Top<'a> {
    #[serde(borrow)]
    ops: Option<Vec<&'a RawValue>>,
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let encoding = match first % 3 {
        0 => Encoding::Identity,
        1 => Encoding::Gzip,
        _ => Encoding::Deflate,
    };
    let Ok(body) = decode_bytes(encoding, rest, LIMIT) else {
        return;
    };
    assert!(body.len() <= LIMIT, "decoded past the limit");
    let raw = serde_json::from_slice::<Top<'_>>(&body)
        .ok()
        .and_then(|t| t.ops)
        .map(|ops| {
            ops.iter()
                .map(|op| Op::from_json_canonical(op.get()).map(|(op, _)| op))
                .collect::<Result<Vec<Op>, _>>()
        });
    if let Ok(request) = serde_json::from_slice::<SyncRequest>(&body) {
        match raw {
            Some(Ok(ops)) => assert_eq!(ops, request.ops, "both readers read the same ops"),
            other => panic!(
                "SyncRequest read {} ops, the raw route {other:?}",
                request.ops.len()
            ),
        }
    }
});
