//! One sync round trip: push the request's ops (all or nothing), then pull a page of what the device may see
//! after its cursor, answered as a `SyncResponse` ([`SyncAnswer`]).

use linli_sync_core::hlc::Hlc;
use linli_sync_core::ids::OpId;
use linli_sync_core::rights::Viewer;
use std::collections::HashSet;

use crate::config::Limits;
use crate::engine::Engine;
use crate::error::ApiError;
use crate::ingest::Pusher;
use crate::protocol::{Incoming, SyncAnswer};
use crate::pull::Budget;

/// How many rows a pull may scan per request, relative to its page size, before it answers with `has_more`.
const SCAN_FACTOR: usize = 20;

/// The outcome of a sync, with counts for metrics.
#[derive(Debug)]
pub struct Synced {
    /// The answer.
    pub response: SyncAnswer,
    /// Ops newly stored.
    pub stored: usize,
}

impl Engine {
    /// Runs one sync round trip for `who`.
    pub fn sync(
        &self,
        who: Pusher,
        request: Incoming,
        limits: &Limits,
        now_ms: u64,
    ) -> Result<Synced, ApiError> {
        let pushed = if request.ops.is_empty() {
            crate::ingest::Pushed {
                acked: Vec::new(),
                stored: 0,
            }
        } else {
            self.push(who, request.ops, now_ms)?
        };
        // `parse_sync` refuses 0; a larger limit than the server's is lowered to it.
        let limit = request.limit.map_or(limits.max_pull_ops, |l| {
            (l as usize).clamp(1, limits.max_pull_ops)
        });
        let viewer = Viewer {
            user: who.user,
            role: who.role,
        };
        // Found by the field-day simulation's restore tests: leaving out every op the device ever pushed starved a
        // replica restored from a backup of its own later ops; only this request's ops are surely held.
        let pushed_now: HashSet<OpId> = pushed.acked.iter().copied().collect();
        let page = self.pull(
            viewer,
            &pushed_now,
            request.cursor,
            Budget {
                ops: limit,
                bytes: limits.max_pull_bytes,
                scan: limit.saturating_mul(SCAN_FACTOR),
            },
        )?;
        Ok(Synced {
            response: SyncAnswer {
                acked: pushed.acked,
                ops: page.ops,
                cursor: page.cursor,
                has_more: page.has_more,
                server_time: Hlc::at(now_ms),
            },
            stored: pushed.stored,
        })
    }
}
