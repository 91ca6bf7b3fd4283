//! Open311 clients and the requests they filed: an admin issues an `api_key` per client (shown once, only its
//! SHA-256 kept), revokes it, and every request a client files is remembered with the SHA-256 of the token it was
//! answered, the resident's proof of ownership for a reopen. Written in diesel's DSL only.

use diesel::prelude::*;
use linli_sync_core::ids::{TicketId, UserId};
use uuid::Uuid;

use crate::community::CommunityId;
use crate::db::Conn;
use crate::db::schema::{open311_clients, open311_requests};
use crate::identity::{self, IdentityError};
use crate::store::StoreError;

/// The prefix of every api_key, so that a leaked one is recognisable in logs and secret scanners.
pub const KEY_PREFIX: &str = "o311_";

/// A client as listed (never its key).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Client {
    /// Its id; also the author of the ops it files.
    pub id: String,
    /// Its community (the Open311 jurisdiction it files into).
    #[schema(value_type = i64)]
    pub community: CommunityId,
    /// What it is ("12345 hotline bridge").
    pub name: String,
    /// When it was issued, ms since the epoch.
    pub created_ms: i64,
    /// When it was revoked, if it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_ms: Option<i64>,
}

impl Client {
    /// The user id its ops are authored by (the client's id).
    pub fn author(&self) -> Result<UserId, StoreError> {
        self.id.parse().map_err(bad_row)
    }
}

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Storage.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The CSPRNG.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// No such client in this community.
    #[error("no such client")]
    NoSuchClient,
}

impl From<diesel::result::Error> for ClientError {
    fn from(e: diesel::result::Error) -> Self {
        ClientError::Store(StoreError::Db(e))
    }
}

type ClientRow = (String, i64, String, i64, Option<i64>);

fn client_of(row: ClientRow) -> Client {
    let (id, community, name, created_ms, revoked_ms) = row;
    Client {
        id,
        community: CommunityId(community),
        name,
        created_ms,
        revoked_ms,
    }
}

const CLIENT_COLUMNS: (
    open311_clients::id,
    open311_clients::community_id,
    open311_clients::name,
    open311_clients::created_ms,
    open311_clients::revoked_ms,
) = (
    open311_clients::id,
    open311_clients::community_id,
    open311_clients::name,
    open311_clients::created_ms,
    open311_clients::revoked_ms,
);

/// Issues a client and its key; the key is returned only here.
pub fn issue(
    conn: &mut Conn,
    community: CommunityId,
    name: &str,
    now_ms: i64,
) -> Result<(Client, String), ClientError> {
    let key = format!("{KEY_PREFIX}{}", identity::random_secret()?);
    let id = Uuid::now_v7().to_string();
    diesel::insert_into(open311_clients::table)
        .values((
            open311_clients::id.eq(&id),
            open311_clients::community_id.eq(community.0),
            open311_clients::name.eq(name),
            open311_clients::key_hash.eq(identity::hash_secret(&key)),
            open311_clients::created_ms.eq(now_ms),
        ))
        .execute(conn)?;
    let client = Client {
        id,
        community,
        name: name.to_string(),
        created_ms: now_ms,
        revoked_ms: None,
    };
    Ok((client, key))
}

/// The clients of a community, oldest first.
pub fn list(conn: &mut Conn, community: CommunityId) -> Result<Vec<Client>, ClientError> {
    let rows: Vec<ClientRow> = open311_clients::table
        .filter(open311_clients::community_id.eq(community.0))
        .order(open311_clients::created_ms.asc())
        .select(CLIENT_COLUMNS)
        .load(conn)?;
    Ok(rows.into_iter().map(client_of).collect())
}

/// Revokes a client of `community` (again: nothing changes). Returns it as stored now.
pub fn revoke(
    conn: &mut Conn,
    community: CommunityId,
    id: &str,
    now_ms: i64,
) -> Result<Client, ClientError> {
    let mine = open311_clients::table
        .filter(open311_clients::id.eq(id))
        .filter(open311_clients::community_id.eq(community.0));
    diesel::update(mine.filter(open311_clients::revoked_ms.is_null()))
        .set(open311_clients::revoked_ms.eq(now_ms))
        .execute(conn)?;
    let row: Option<ClientRow> = mine.select(CLIENT_COLUMNS).first(conn).optional()?;
    row.map(client_of).ok_or(ClientError::NoSuchClient)
}

/// The live (not revoked) client holding `key`, if any.
pub fn by_key(conn: &mut Conn, key: &str) -> Result<Option<Client>, ClientError> {
    let row: Option<ClientRow> = open311_clients::table
        .filter(open311_clients::key_hash.eq(identity::hash_secret(key)))
        .filter(open311_clients::revoked_ms.is_null())
        .select(CLIENT_COLUMNS)
        .first(conn)
        .optional()?;
    Ok(row.map(client_of))
}

/// Remembers that `client` filed `ticket`, answered with `token`.
pub fn remember_request(
    conn: &mut Conn,
    client: &Client,
    ticket: TicketId,
    token: &str,
    now_ms: i64,
) -> Result<(), ClientError> {
    diesel::insert_into(open311_requests::table)
        .values((
            open311_requests::ticket_id.eq(ticket.to_string()),
            open311_requests::community_id.eq(client.community.0),
            open311_requests::client_id.eq(&client.id),
            open311_requests::token_hash.eq(identity::hash_secret(token)),
            open311_requests::created_ms.eq(now_ms),
        ))
        .execute(conn)?;
    Ok(())
}

/// The tickets of `community` filed over Open311: the only tickets Open311 shows (a ticket raised on a phone or
/// at the desk is staff's record, and may quote a household's details).
pub fn filed(
    conn: &mut Conn,
    community: CommunityId,
) -> Result<std::collections::BTreeSet<TicketId>, ClientError> {
    let ids: Vec<String> = open311_requests::table
        .filter(open311_requests::community_id.eq(community.0))
        .select(open311_requests::ticket_id)
        .load(conn)?;
    ids.iter()
        .map(|s| s.parse().map_err(|e| ClientError::Store(bad_row(e))))
        .collect()
}

/// The ticket a token was answered for, in `community`.
pub fn ticket_of_token(
    conn: &mut Conn,
    community: CommunityId,
    token: &str,
) -> Result<Option<TicketId>, ClientError> {
    let id: Option<String> = open311_requests::table
        .filter(open311_requests::token_hash.eq(identity::hash_secret(token)))
        .filter(open311_requests::community_id.eq(community.0))
        .select(open311_requests::ticket_id)
        .first(conn)
        .optional()?;
    id.map(|s| s.parse().map_err(|e| ClientError::Store(bad_row(e))))
        .transpose()
}

fn bad_row(e: uuid::Error) -> StoreError {
    StoreError::Db(diesel::result::Error::DeserializationError(Box::new(e)))
}

/// Forgets the request row of `ticket` (its op could not be written).
pub fn forget_request(conn: &mut Conn, ticket: TicketId) -> Result<(), ClientError> {
    diesel::delete(
        open311_requests::table.filter(open311_requests::ticket_id.eq(ticket.to_string())),
    )
    .execute(conn)?;
    Ok(())
}
