//! The sync messages exchanged between a device and the server (protocol version 1), shared by the phone library
//! and the server so that both sides read and write the same bytes. The HTTP layer around them (URLs, auth
//! headers, status codes, the error envelope) is described in `docs/protocol.md`.
//!
//! One round trip, `POST /v1/sync`: the device pushes every op it has not seen acknowledged and its pull cursor;
//! the server stores and merges the whole batch in one transaction (or refuses the whole batch), then answers with
//! the acknowledged op ids, a page of ops the device may see that were stored after the cursor, the next cursor,
//! and whether more pages wait.

use serde::{Deserialize, Serialize};

use crate::hlc::Hlc;
use crate::ids::OpId;
use crate::op::Op;
use crate::state::State;

/// The sync protocol version this crate speaks. An older version gets `upgrade_required` from the server; a newer
/// one gets `unsupported_protocol`.
pub const PROTOCOL_VERSION: u32 = 1;

/// A device's request: push and pull in one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SyncRequest {
    /// Must be [`PROTOCOL_VERSION`].
    pub protocol: u32,
    /// The server sequence number up to which this device has pulled (0 before the first pull or bootstrap).
    pub cursor: u64,
    /// Ops not yet acknowledged, oldest first (the order they were written in on the device).
    pub ops: Vec<Op>,
    /// At most this many ops in the answer's page (the server caps it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

impl SyncRequest {
    /// A request in the current protocol.
    pub fn new(cursor: u64, ops: Vec<Op>) -> Self {
        SyncRequest {
            protocol: PROTOCOL_VERSION,
            cursor,
            ops,
            limit: None,
        }
    }
}

/// The server's answer to a successful sync.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SyncResponse {
    /// The protocol version of the answer.
    pub protocol: u32,
    /// Ids of pushed ops now durably stored (including ones stored by an earlier, retried request).
    pub acked: Vec<OpId>,
    /// Ops this device may see, stored after the request's cursor, in server order. The ops pushed in this request
    /// are left out; the device's earlier ops are included when its cursor is behind them. Applying an op twice
    /// changes nothing.
    pub ops: Vec<Op>,
    /// The last server sequence number examined for this device (ops it may not see are skipped, not resent): send
    /// it next time.
    pub cursor: u64,
    /// More ops wait after `cursor`: sync again (with no ops to push) to get the next page.
    pub has_more: bool,
    /// The server's clock when it answered; the device's HLC observes it.
    pub server_time: Hlc,
}

/// What a new or replaced device starts from (`GET /v1/snapshot`): the merged state of its scope and the cursor
/// it is complete up to, instead of the whole op history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The protocol version.
    pub protocol: u32,
    /// Every op with a server sequence number up to this one is reflected in `state`.
    pub cursor: u64,
    /// The state restricted to what the device's user may see ([`crate::rights::Viewer::scope`]).
    pub state: State,
    /// The server's clock.
    pub server_time: Hlc,
}
