//! Communities (社区), the tenants: a community of a street office (街道) owns its users, devices, op log and
//! report rows. This module stores them and their *head*: the last sequence number a community's op log has given,
//! bumped by every commit in the same transaction (`UPDATE community_head SET last_seq = last_seq + n … RETURNING`),
//! the one row a community's writers serialise on (ADR 0005). Written in diesel's DSL only.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use std::fmt;

use crate::db::Conn;
use crate::db::schema::{communities, community_head};
use crate::store::StoreError;

/// A community's id: a small integer, given by the database (1 is the community an upgraded database became).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(transparent)]
pub struct CommunityId(pub i64);

impl CommunityId {
    /// The community a database of the single-community release became on upgrade, and the first community of a
    /// fresh database (its first admin's).
    pub const FIRST: CommunityId = CommunityId(1);
}

impl fmt::Display for CommunityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for CommunityId {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim().parse().map(CommunityId)
    }
}

/// A community as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Community {
    /// Its id.
    #[schema(value_type = i64)]
    pub id: CommunityId,
    /// Its name, e.g. 幸福里社区.
    pub name: String,
    /// The street office it belongs to, e.g. 城东街道.
    pub street_office: String,
}

/// Creates a community with an empty op log.
pub fn create(
    conn: &mut Conn,
    name: &str,
    street_office: &str,
    now_ms: i64,
) -> Result<Community, StoreError> {
    crate::db::sqlite::write_txn(conn, |conn| {
        let id: i64 = diesel::insert_into(communities::table)
            .values((
                communities::name.eq(name),
                communities::street_office.eq(street_office),
                communities::created_ms.eq(now_ms),
            ))
            .returning(communities::id)
            .get_result(conn)?;
        diesel::insert_into(community_head::table)
            .values((
                community_head::community_id.eq(id),
                community_head::last_seq.eq(0),
            ))
            .execute(conn)?;
        Ok(Community {
            id: CommunityId(id),
            name: name.to_string(),
            street_office: street_office.to_string(),
        })
    })
}

/// Renames a community (the one an upgrade made is called `community 1` until its operator names it).
pub fn rename(
    conn: &mut Conn,
    id: CommunityId,
    name: &str,
    street_office: &str,
) -> Result<(), StoreError> {
    let n = diesel::update(communities::table.find(id.0))
        .set((
            communities::name.eq(name),
            communities::street_office.eq(street_office),
        ))
        .execute(conn)?;
    if n == 0 {
        return Err(StoreError::NoSuchCommunity(id));
    }
    Ok(())
}

/// Every community, by id.
pub fn list(conn: &mut Conn) -> Result<Vec<Community>, StoreError> {
    let rows: Vec<(i64, String, String)> = communities::table
        .order(communities::id.asc())
        .select((
            communities::id,
            communities::name,
            communities::street_office,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, name, street_office)| Community {
            id: CommunityId(id),
            name,
            street_office,
        })
        .collect())
}

/// One community, or `None`.
pub fn get(conn: &mut Conn, id: CommunityId) -> Result<Option<Community>, StoreError> {
    let row: Option<(i64, String, String)> = communities::table
        .find(id.0)
        .select((
            communities::id,
            communities::name,
            communities::street_office,
        ))
        .first(conn)
        .optional()?;
    Ok(row.map(|(id, name, street_office)| Community {
        id: CommunityId(id),
        name,
        street_office,
    }))
}

/// Advances the community's head by `n` ops inside the caller's write transaction; the new last sequence number.
/// On SQLite the write transaction already holds the file's write lock; on PostgreSQL this `UPDATE` locks the row
/// until commit, so two writers of one community (in one process or several) follow each other here.
pub fn bump_head(conn: &mut Conn, id: CommunityId, n: i64) -> Result<i64, StoreError> {
    Ok(diesel::update(community_head::table.find(id.0))
        .set(community_head::last_seq.eq(community_head::last_seq + n))
        .returning(community_head::last_seq)
        .get_result(conn)?)
}

/// Every community's head, by id.
pub fn heads(conn: &mut Conn) -> Result<Vec<(CommunityId, i64)>, StoreError> {
    let rows: Vec<(i64, i64)> = community_head::table
        .order(community_head::community_id.asc())
        .select((community_head::community_id, community_head::last_seq))
        .load(conn)?;
    Ok(rows.into_iter().map(|(c, s)| (CommunityId(c), s)).collect())
}

/// The community's head: the last sequence number given (0 for an empty log).
pub fn head(conn: &mut Conn, id: CommunityId) -> Result<i64, StoreError> {
    Ok(community_head::table
        .find(id.0)
        .select(community_head::last_seq)
        .first(conn)?)
}
