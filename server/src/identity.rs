//! Users, devices, one-time enrolment codes and refresh tokens, as stored. Secrets (passwords, codes, refresh
//! tokens) are stored only as hashes: argon2 for passwords, which people choose, and SHA-256 for codes and tokens,
//! which are long random strings the server made. Shared by the HTTP routes and the CLI.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use diesel::prelude::*;
use linli_sync_core::ids::{ReplicaId, UserId};
use linli_sync_core::rights::Role;
use sha2::{Digest, Sha256};
use thiserror::Error;
use uuid::Uuid;

use crate::db::Conn;
use crate::db::schema::{devices, enrolment_codes, refresh_tokens, users};
use crate::store::StoreError;

/// Why an identity operation failed.
#[derive(Debug, Error)]
pub enum IdentityError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The username is taken.
    #[error("username already taken")]
    UsernameTaken,
    /// No such user.
    #[error("no such user")]
    NoSuchUser,
    /// No such device.
    #[error("no such device")]
    NoSuchDevice,
    /// Wrong username or password.
    #[error("wrong username or password")]
    BadCredentials,
    /// The enrolment code is unknown, used or expired.
    #[error("the enrolment code is unknown, already used or expired")]
    BadCode,
    /// The refresh token is unknown, revoked or expired.
    #[error("the refresh token is unknown, revoked or expired")]
    BadRefreshToken,
    /// The device was revoked.
    #[error("the device was revoked")]
    DeviceRevoked,
    /// A stored role is not one this version knows.
    #[error("stored role `{0}` is unknown")]
    UnknownRole(String),
    /// Password hashing failed.
    #[error("password hashing: {0}")]
    Hash(String),
}

impl From<diesel::result::Error> for IdentityError {
    fn from(e: diesel::result::Error) -> Self {
        IdentityError::Store(StoreError::Db(e))
    }
}

/// A user account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Id (also the author of their ops and the key of their card).
    pub id: UserId,
    /// Login name.
    pub username: String,
    /// Role.
    pub role: Role,
}

/// A device with its user, as checked on every authenticated request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// The device's replica id.
    pub id: ReplicaId,
    /// Its user.
    pub user: User,
    /// Revoked?
    pub revoked: bool,
}

/// A fresh random secret: 244 random bits from two v4 UUIDs, as 64 hex characters.
pub fn random_secret() -> String {
    format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())
}

/// A one-time enrolment code a person can type: 16 characters from an alphabet without look-alikes (80 bits).
pub fn random_code() -> String {
    const ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
    let bytes = Uuid::new_v4();
    let mut n = bytes.as_u128();
    (0..16)
        .map(|i| {
            let c = ALPHABET[(n % 32) as usize] as char;
            n /= 32;
            if i == 4 || i == 8 || i == 12 {
                format!("-{c}")
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// SHA-256 of a server-made secret, hex.
pub fn hash_secret(secret: &str) -> String {
    let normalised = secret.trim().to_ascii_uppercase().replace('-', "");
    let digest = Sha256::digest(normalised.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn hash_password(password: &str) -> Result<String, IdentityError> {
    let salt = SaltString::encode_b64(Uuid::new_v4().as_bytes())
        .map_err(|e| IdentityError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| IdentityError::Hash(e.to_string()))
}

fn role_of(s: &str) -> Result<Role, IdentityError> {
    s.parse()
        .map_err(|()| IdentityError::UnknownRole(s.to_string()))
}

fn user_from(id: String, username: String, role: String) -> Result<User, IdentityError> {
    Ok(User {
        id: id.parse().map_err(|_| IdentityError::NoSuchUser)?,
        username,
        role: role_of(&role)?,
    })
}

/// Creates a user.
pub fn add_user(
    conn: &mut Conn,
    username: &str,
    role: Role,
    password: Option<&str>,
    now_ms: i64,
) -> Result<User, IdentityError> {
    let hash = password.map(hash_password).transpose()?;
    let id = UserId::random();
    let inserted = diesel::insert_into(users::table)
        .values((
            users::id.eq(id.to_string()),
            users::username.eq(username),
            users::role.eq(role.as_str()),
            users::password_hash.eq(hash),
            users::created_ms.eq(now_ms),
        ))
        .execute(conn);
    match inserted {
        Ok(_) => Ok(User {
            id,
            username: username.to_string(),
            role,
        }),
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => Err(IdentityError::UsernameTaken),
        Err(e) => Err(e.into()),
    }
}

/// Whether any admin exists.
pub fn has_admin(conn: &mut Conn) -> Result<bool, IdentityError> {
    let n: i64 = users::table
        .filter(users::role.eq(Role::Admin.as_str()))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// A user by name.
pub fn user_by_name(conn: &mut Conn, username: &str) -> Result<User, IdentityError> {
    let (id, name, role): (String, String, String) = users::table
        .filter(users::username.eq(username))
        .select((users::id, users::username, users::role))
        .first(conn)
        .optional()?
        .ok_or(IdentityError::NoSuchUser)?;
    user_from(id, name, role)
}

/// A user by id.
pub fn user_by_id(conn: &mut Conn, id: UserId) -> Result<User, IdentityError> {
    let (id, name, role): (String, String, String) = users::table
        .find(id.to_string())
        .select((users::id, users::username, users::role))
        .first(conn)
        .optional()?
        .ok_or(IdentityError::NoSuchUser)?;
    user_from(id, name, role)
}

/// Checks a web login.
pub fn login(conn: &mut Conn, username: &str, password: &str) -> Result<User, IdentityError> {
    let row: Option<(String, String, String, Option<String>)> = users::table
        .filter(users::username.eq(username))
        .select((
            users::id,
            users::username,
            users::role,
            users::password_hash,
        ))
        .first(conn)
        .optional()?;
    let Some((id, name, role, Some(hash))) = row else {
        return Err(IdentityError::BadCredentials);
    };
    let parsed = PasswordHash::new(&hash).map_err(|e| IdentityError::Hash(e.to_string()))?;
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .map_err(|_| IdentityError::BadCredentials)?;
    user_from(id, name, role)
}

/// Issues a one-time enrolment code for `user`; returns the code (shown once, stored hashed).
pub fn issue_code(
    conn: &mut Conn,
    user: UserId,
    issued_by: UserId,
    label: &str,
    now_ms: i64,
    ttl_ms: i64,
) -> Result<String, IdentityError> {
    let code = random_code();
    diesel::insert_into(enrolment_codes::table)
        .values((
            enrolment_codes::code_hash.eq(hash_secret(&code)),
            enrolment_codes::user_id.eq(user.to_string()),
            enrolment_codes::issued_by.eq(issued_by.to_string()),
            enrolment_codes::label.eq(label),
            enrolment_codes::created_ms.eq(now_ms),
            enrolment_codes::expires_ms.eq(now_ms.saturating_add(ttl_ms)),
        ))
        .execute(conn)?;
    Ok(code)
}

/// Exchanges an enrolment code for a new device and its first refresh token (returned in clear, stored hashed).
pub fn enrol(
    conn: &mut Conn,
    code: &str,
    now_ms: i64,
    refresh_ttl_ms: i64,
) -> Result<(Device, String), IdentityError> {
    crate::db::sqlite::write_txn(conn, |conn| {
        let hash = hash_secret(code);
        let row: Option<(String, String, i64, Option<i64>)> = enrolment_codes::table
            .find(&hash)
            .select((
                enrolment_codes::user_id,
                enrolment_codes::label,
                enrolment_codes::expires_ms,
                enrolment_codes::used_ms,
            ))
            .first(conn)
            .optional()?;
        let Some((user_id, label, expires, None)) = row else {
            return Err(IdentityError::BadCode);
        };
        if expires < now_ms {
            return Err(IdentityError::BadCode);
        }
        let user = user_by_id(
            conn,
            user_id.parse().map_err(|_| IdentityError::NoSuchUser)?,
        )?;
        let device = ReplicaId::random();
        diesel::insert_into(devices::table)
            .values((
                devices::id.eq(device.to_string()),
                devices::user_id.eq(&user_id),
                devices::label.eq(&label),
                devices::created_ms.eq(now_ms),
            ))
            .execute(conn)?;
        diesel::update(enrolment_codes::table.find(&hash))
            .set((
                enrolment_codes::used_ms.eq(now_ms),
                enrolment_codes::device_id.eq(device.to_string()),
            ))
            .execute(conn)?;
        let refresh = new_refresh_token(conn, device, now_ms, refresh_ttl_ms)?;
        Ok((
            Device {
                id: device,
                user,
                revoked: false,
            },
            refresh,
        ))
    })
}

fn new_refresh_token(
    conn: &mut Conn,
    device: ReplicaId,
    now_ms: i64,
    ttl_ms: i64,
) -> Result<String, IdentityError> {
    let token = random_secret();
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::token_hash.eq(hash_secret(&token)),
            refresh_tokens::device_id.eq(device.to_string()),
            refresh_tokens::created_ms.eq(now_ms),
            refresh_tokens::expires_ms.eq(now_ms.saturating_add(ttl_ms)),
        ))
        .execute(conn)?;
    Ok(token)
}

/// Exchanges a refresh token for a new one (rotation: the old one stops working) and the device it belongs to.
pub fn refresh(
    conn: &mut Conn,
    token: &str,
    now_ms: i64,
    ttl_ms: i64,
) -> Result<(Device, String), IdentityError> {
    crate::db::sqlite::write_txn(conn, |conn| {
        let hash = hash_secret(token);
        let row: Option<(String, i64, Option<i64>)> = refresh_tokens::table
            .find(&hash)
            .select((
                refresh_tokens::device_id,
                refresh_tokens::expires_ms,
                refresh_tokens::revoked_ms,
            ))
            .first(conn)
            .optional()?;
        let Some((device_id, expires, revoked)) = row else {
            return Err(IdentityError::BadRefreshToken);
        };
        let device = device(
            conn,
            device_id.parse().map_err(|_| IdentityError::NoSuchDevice)?,
        )?;
        if device.revoked {
            return Err(IdentityError::DeviceRevoked);
        }
        if revoked.is_some() || expires < now_ms {
            return Err(IdentityError::BadRefreshToken);
        }
        diesel::update(refresh_tokens::table.find(&hash))
            .set(refresh_tokens::revoked_ms.eq(now_ms))
            .execute(conn)?;
        let next = new_refresh_token(conn, device.id, now_ms, ttl_ms)?;
        Ok((device, next))
    })
}

/// A device with its user.
pub fn device(conn: &mut Conn, id: ReplicaId) -> Result<Device, IdentityError> {
    let row: Option<(String, Option<i64>, String, String, String)> = devices::table
        .inner_join(users::table.on(users::id.eq(devices::user_id)))
        .filter(devices::id.eq(id.to_string()))
        .select((
            devices::id,
            devices::revoked_ms,
            users::id,
            users::username,
            users::role,
        ))
        .first(conn)
        .optional()?;
    let Some((_, revoked, uid, name, role)) = row else {
        return Err(IdentityError::NoSuchDevice);
    };
    Ok(Device {
        id,
        user: user_from(uid, name, role)?,
        revoked: revoked.is_some(),
    })
}

/// Revokes a device and every refresh token it holds. Revoking twice is harmless.
pub fn revoke_device(conn: &mut Conn, id: ReplicaId, now_ms: i64) -> Result<(), IdentityError> {
    crate::db::sqlite::write_txn(conn, |conn| {
        let n = diesel::update(
            devices::table
                .find(id.to_string())
                .filter(devices::revoked_ms.is_null()),
        )
        .set(devices::revoked_ms.eq(now_ms))
        .execute(conn)?;
        if n == 0 {
            device(conn, id)?;
        }
        diesel::update(
            refresh_tokens::table
                .filter(refresh_tokens::device_id.eq(id.to_string()))
                .filter(refresh_tokens::revoked_ms.is_null()),
        )
        .set(refresh_tokens::revoked_ms.eq(now_ms))
        .execute(conn)?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_typeable_and_hash_the_same_however_typed() {
        let code = random_code();
        assert_eq!(code.len(), 19, "{code}");
        assert_eq!(
            hash_secret(&code),
            hash_secret(&code.to_lowercase().replace('-', ""))
        );
    }
}
