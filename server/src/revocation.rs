//! A revoked device's green-energy-card spending rights go back to the pool (ADR 0001). The device can push nothing
//! more, so the rights it still holds (its rights minus the spends the server has from it) are returned as one
//! `card.transfer` per card, issued *as the device*, next in its own spend sequence, to the server's replica,
//! through the same validation and storage as any op ([`Engine::issue_as`]). Its redemptions never synced cannot
//! take effect; in the card movements the return is the row of kind `rights_return` (`materialise.rs`).
//!
//! Two ways in, one code path: `POST /v1/devices/{id}/revoke` returns the rights at once ([`return_rights`]); a
//! revocation by `linli token revoke`, which works on the database without the running server's state, is found
//! by the server's sweep ([`return_pending`], about once a second while it runs, and at start), which returns
//! them the same way. Both are idempotent: what was returned is no longer held.

use linli_sync_core::card::CardOp;
use linli_sync_core::ids::{ReplicaId, UserId};
use linli_sync_core::op::{Op, OpBody};
use linli_sync_core::state::State;
use std::collections::BTreeSet;

use crate::engine::Engine;
use crate::error::ApiError;
use crate::identity;

/// How often the running server looks for devices revoked from the command line that still hold rights.
pub const SWEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Returns every right the revoked `device` holds to the pool, written by `author`. Returns the ops stored
/// (none when it holds nothing, e.g. on a repeated revocation). The caller has revoked the device.
pub fn return_rights(
    engine: &Engine,
    device: ReplicaId,
    author: UserId,
    now_ms: u64,
) -> Result<Vec<Op>, ApiError> {
    engine.issue_as(device, author, |s| rights_return(s, device), now_ms)
}

/// Returns the rights of every revoked device that still holds some (a revocation made by the CLI). Looks only at
/// the devices the cards say hold rights, usually a property office's phone or two; the return is written as
/// that device's own user, since no admin made the request. Returns the ops stored.
pub fn return_pending(engine: &Engine, now_ms: u64) -> Result<Vec<Op>, ApiError> {
    let holders = holders(&engine.view().state);
    if holders.is_empty() {
        return Ok(Vec::new());
    }
    let mut conn = engine.conn()?;
    let mut returned = Vec::new();
    for device in holders {
        let d = match identity::device(&mut conn, device) {
            Ok(d) => d,
            // Rights granted to an id that is not an enrolled device (only possible in tests or by hand) stay.
            Err(identity::IdentityError::NoSuchDevice) => continue,
            Err(e) => return Err(e.into()),
        };
        if d.revoked {
            let ops = return_rights(engine, device, d.user.id, now_ms)?;
            if !ops.is_empty() {
                tracing::info!(device = %device, cards = ops.len(), "rights of a revoked device returned");
            }
            returned.extend(ops);
        }
    }
    Ok(returned)
}

/// The devices (not the server's pool) that hold rights on some card.
fn holders(state: &State) -> BTreeSet<ReplicaId> {
    state
        .cards()
        .values()
        .flat_map(|card| card.all_rights())
        .filter(|(replica, points)| *replica != ReplicaId::SERVER && points.0 > 0)
        .map(|(replica, _)| replica)
        .collect()
}

/// The `card.transfer` ops that hand every right `device` holds back to the server's pool.
fn rights_return(state: &State, device: ReplicaId) -> Vec<OpBody> {
    state
        .cards()
        .iter()
        .filter_map(|(volunteer, card)| {
            let held = card.rights(device);
            (held.0 > 0).then(|| {
                OpBody::Card(
                    *volunteer,
                    CardOp::Transfer {
                        to: ReplicaId::SERVER,
                        points: held,
                        seq: card.next_seq(device),
                    },
                )
            })
        })
        .collect()
}
