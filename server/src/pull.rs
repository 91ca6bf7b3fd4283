//! Pull and snapshot: what a device receives. Ops come in server order from the op log, filtered by what the
//! device's user may see ([`Viewer::can_see_parts`], judged on the current merged state from the op's kind and
//! entity columns), in pages, leaving out the ops the device pushed in the same request. The ops travel as the
//! canonical JSON stored in the log, never parsed and re-serialised. A snapshot is the merged state restricted to
//! the user's scope ([`Viewer::scope`]) with the cursor it is complete up to.

use linli_sync_core::grid::GridOp;
use linli_sync_core::hlc::Hlc;
use linli_sync_core::ids::OpId;
use linli_sync_core::op::{OpBody, OpKind, WireError};
use linli_sync_core::rights::Viewer;
use linli_sync_core::state::State;
use linli_sync_core::sync::{PROTOCOL_VERSION, Snapshot};
use std::collections::HashSet;

use crate::engine::Engine;
use crate::error::ApiError;
use crate::store::{self, LogRow, StoreError};

/// One page of a pull.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// Visible ops, in server order, as their canonical JSON.
    pub ops: Vec<String>,
    /// The last sequence number examined: the next cursor.
    pub cursor: u64,
    /// More ops were stored after `cursor`.
    pub has_more: bool,
}

/// Rows read per query while scanning.
const SCAN_CHUNK: i64 = 2000;

impl Engine {
    /// Up to `limit` ops visible to `viewer` stored after `cursor`, scanning at most `max_scan` rows. The ops in
    /// `skip` (those the device pushed in this same request, which it certainly holds) are left out; its earlier
    /// ops are not, because a replica restored from a backup no longer holds them.
    pub fn pull(
        &self,
        viewer: Viewer,
        skip: &HashSet<OpId>,
        cursor: u64,
        limit: usize,
        max_scan: usize,
    ) -> Result<Page, ApiError> {
        let upto = self.view().last_seq;
        let start = i64::try_from(cursor).unwrap_or(i64::MAX);
        if start > upto {
            return Err(ApiError::Conflict {
                code: "cursor_ahead",
                detail: format!(
                    "cursor {cursor} is beyond the server's last sequence number {upto}: bootstrap from a snapshot"
                ),
            });
        }
        let mut conn = self.conn()?;
        let mut ops = Vec::new();
        let mut last = start;
        let mut scanned = 0usize;
        while last < upto && ops.len() < limit && scanned < max_scan {
            let chunk = SCAN_CHUNK
                .min(i64::try_from(max_scan - scanned).unwrap_or(SCAN_CHUNK))
                .max(1);
            let rows = store::page(&mut conn, last, upto, chunk)?;
            let exhausted = i64::try_from(rows.len()).unwrap_or(i64::MAX) < chunk;
            let view = self.view();
            let mut full = false;
            for row in rows {
                scanned += 1;
                last = row.seq;
                if visible(viewer, &view.state, skip, &row)? {
                    ops.push(row.body);
                    if ops.len() == limit {
                        full = true;
                        break;
                    }
                }
            }
            if exhausted && !full {
                // Everything up to `upto` was examined.
                last = upto;
            }
        }
        Ok(Page {
            ops,
            cursor: u64::try_from(last).unwrap_or(0),
            has_more: last < upto,
        })
    }

    /// The merged state of `viewer`'s scope, with the cursor it is complete up to.
    pub fn snapshot(&self, viewer: Viewer, now_ms: u64) -> Snapshot {
        let view = self.view();
        Snapshot {
            protocol: PROTOCOL_VERSION,
            cursor: u64::try_from(view.last_seq).unwrap_or(0),
            state: viewer.scope(&view.state),
            server_time: Hlc::at(now_ms),
        }
    }
}

/// Whether `viewer` receives the logged op `row`: not one of `skip`, and in their scope.
fn visible(
    viewer: Viewer,
    state: &State,
    skip: &HashSet<OpId>,
    row: &LogRow,
) -> Result<bool, StoreError> {
    let corrupt = |source| StoreError::Corrupt {
        seq: row.seq,
        source,
    };
    if !skip.is_empty() && row.op_id.parse().is_ok_and(|id: OpId| skip.contains(&id)) {
        return Ok(false);
    }
    let kind: OpKind = row
        .kind
        .parse()
        .map_err(|()| corrupt(WireError::UnknownKind(row.kind.clone())))?;
    let entity = row.entity.parse().map_err(|_| {
        corrupt(WireError::Field {
            field: "entity",
            reason: "not a UUID".into(),
        })
    })?;
    // Only membership ops need their body: whether they add or remove the viewer.
    let member = match kind {
        OpKind::GridAddMember | OpKind::GridRemoveMember => {
            match store::parse(row.seq, &row.body)?.body {
                OpBody::Grid(
                    _,
                    GridOp::AddMember { user, .. } | GridOp::RemoveMember { user, .. },
                ) => Some(user),
                _ => None,
            }
        }
        _ => None,
    };
    Ok(viewer.can_see_parts(state, kind, entity, || member))
}
