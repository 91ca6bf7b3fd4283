//! The `device` row: who this replica is (device id, user, role) and its sync state (hybrid logical clock,
//! server cursor, last sync, revoked flag).

use linli_sync_core::prelude::{Hlc, HlcClock, ReplicaId, Role, UserId};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use std::str::FromStr;

use crate::error::{Error, Result};

/// The device row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    /// This replica.
    pub replica: ReplicaId,
    /// The signed-in user.
    pub user: UserId,
    /// Their role.
    pub role: Role,
    /// The last time the clock issued or observed.
    pub hlc: Hlc,
    /// The latest time the clock heard from the server (ops it accepted, its clock).
    pub heard: Hlc,
    /// The server pull cursor.
    pub cursor: u64,
    /// When the last sync answer was applied.
    pub last_sync_ms: Option<u64>,
    /// The server revoked this device.
    pub revoked: bool,
    /// The user's grid cells changed since the data was fetched: a scoped snapshot must replace it.
    pub scope_stale: bool,
}

/// Reads the device row, if the replica was ever opened.
pub fn load(conn: &Connection) -> Result<Option<Device>> {
    let row = conn
        .query_row(
            "SELECT replica_id, user_id, role, hlc_wall_ms, hlc_logical, cursor, last_sync_ms, revoked,
                    heard_wall_ms, heard_logical, scope_stale
             FROM device WHERE id = 1",
            [],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, Option<i64>>(6)?,
                    r.get::<_, bool>(7)?,
                    (r.get::<_, i64>(8)?, r.get::<_, i64>(9)?),
                    r.get::<_, bool>(10)?,
                ))
            },
        )
        .optional()?;
    let Some((replica, user, role, wall, logical, cursor, last_sync, revoked, heard, scope_stale)) =
        row
    else {
        return Ok(None);
    };
    let corrupt = |what: &str| Error::Invalid(format!("the replica file has an invalid {what}"));
    Ok(Some(Device {
        replica: ReplicaId::from_str(&replica).map_err(|_| corrupt("device id"))?,
        user: UserId::from_str(&user).map_err(|_| corrupt("user id"))?,
        role: Role::from_str(&role).map_err(|()| corrupt("role"))?,
        hlc: Hlc {
            wall_ms: to_u64(wall),
            logical: u32::try_from(logical).unwrap_or(0),
        },
        heard: Hlc {
            wall_ms: to_u64(heard.0),
            logical: u32::try_from(heard.1).unwrap_or(0),
        },
        cursor: to_u64(cursor),
        last_sync_ms: last_sync.map(to_u64),
        revoked,
        scope_stale,
    }))
}

/// Marks whether the replica's data must be replaced by a snapshot of the user's (changed) scope.
pub fn set_scope_stale(tx: &Transaction, stale: bool) -> Result<()> {
    tx.execute("UPDATE device SET scope_stale = ?1 WHERE id = 1", [stale])?;
    Ok(())
}

/// Writes the identity of a new replica.
pub fn create(tx: &Transaction, replica: ReplicaId, user: UserId, role: Role) -> Result<()> {
    tx.execute(
        "INSERT INTO device (id, replica_id, user_id, role) VALUES (1, ?1, ?2, ?3)",
        params![replica.to_string(), user.to_string(), role.as_str()],
    )?;
    Ok(())
}

/// Stores the clock: its last time and the latest time it heard from the server.
pub fn save_clock(tx: &Transaction, clock: &HlcClock) -> Result<()> {
    let (last, heard) = (clock.last(), clock.heard());
    tx.execute(
        "UPDATE device SET hlc_wall_ms = ?1, hlc_logical = ?2, heard_wall_ms = ?3, heard_logical = ?4
         WHERE id = 1",
        params![
            to_i64(last.wall_ms),
            last.logical,
            to_i64(heard.wall_ms),
            heard.logical
        ],
    )?;
    Ok(())
}

/// Stores the pull cursor and the time of the sync that moved it.
pub fn save_cursor(tx: &Transaction, cursor: u64, synced_at_ms: u64) -> Result<()> {
    tx.execute(
        "UPDATE device SET cursor = ?1, last_sync_ms = ?2 WHERE id = 1",
        params![to_i64(cursor), to_i64(synced_at_ms)],
    )?;
    Ok(())
}

/// Marks the device revoked (after its data was wiped).
pub fn mark_revoked(tx: &Transaction) -> Result<()> {
    tx.execute(
        "UPDATE device SET revoked = 1, cursor = 0, last_sync_ms = NULL WHERE id = 1",
        [],
    )?;
    Ok(())
}

/// SQLite integers are signed; our counters and times never reach 2^63, and a negative value can only come from
/// a damaged file, which reads as 0.
pub fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// The inverse of [`to_u64`], saturating.
pub fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
