//! What the phone library's benches share: the wall clock, and a server's sync answer of given ops.

use linli_sync_core::hlc::Hlc;
use linli_sync_core::prelude::{Op, PROTOCOL_VERSION, SyncResponse};
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_millis(),
    )
    .expect("ms")
}

/// The body of a sync answer carrying `ops`, ending at `cursor`.
pub fn answer(ops: Vec<Op>, cursor: u64) -> Vec<u8> {
    serde_json::to_vec(&SyncResponse {
        protocol: PROTOCOL_VERSION,
        acked: vec![],
        ops,
        cursor,
        has_more: false,
        server_time: Hlc::at(now_ms()),
    })
    .expect("json")
}
