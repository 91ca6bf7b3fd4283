//! Users, devices, one-time enrolment codes and refresh tokens, as stored. Secrets (passwords, codes, refresh
//! tokens) are stored only as hashes: argon2 for passwords, which people choose (computed by [`crate::password`],
//! never here, so no database connection is held while a password is hashed), and SHA-256 for codes and tokens,
//! which are long random strings the server drew from the operating system's CSPRNG. Shared by the HTTP routes and
//! the CLI.
//!
//! Refresh tokens rotate: each use revokes the token and issues the next one of the same *family*, the chain that
//! began when the device was enrolled (one device, one family). A rotated token used again means two parties hold
//! the chain, a thief and the phone: the whole family is revoked (RFC 9700 §4.14.2), so the newer token stops
//! working too and the device must be enrolled again.

use diesel::prelude::*;
use linli_sync_core::ids::{ReplicaId, UserId};
use linli_sync_core::rights::Role;
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::community::CommunityId;
use crate::db::Conn;
use crate::db::schema::{devices, enrolment_codes, login_throttle_lifts, refresh_tokens, users};
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
    /// A refresh token that was already rotated was used again: every token of its device was revoked.
    #[error(
        "this refresh token was already used; every refresh token of the device is now revoked: enrol it again"
    )]
    RefreshTokenReused {
        /// The device whose tokens were revoked.
        device: ReplicaId,
    },
    /// The device was revoked.
    #[error("the device was revoked")]
    DeviceRevoked,
    /// A user of a community is needed (a district admin has none): for any role but admin, and for a device.
    #[error("this needs a user of a community; a district admin belongs to none")]
    CommunityRequired,
    /// A stored role is not one this version knows.
    #[error("stored role `{0}` is unknown")]
    UnknownRole(String),
    /// Password hashing failed.
    #[error("password hashing: {0}")]
    Hash(String),
    /// The operating system's random generator failed.
    #[error("random generator: {0}")]
    Random(String),
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
    /// The community they belong to; `None` only for a district admin (role [`Role::Admin`]), who belongs to the
    /// street office and names a community in each request.
    pub community: Option<CommunityId>,
}

impl User {
    /// A district admin: an admin of no one community, who sees and manages every community.
    pub fn is_district_admin(&self) -> bool {
        self.community.is_none() && self.role == Role::Admin
    }

    /// The role as the API shows it: `district_admin`, or the role within the community.
    pub fn role_name(&self) -> &'static str {
        if self.is_district_admin() {
            "district_admin"
        } else {
            self.role.as_str()
        }
    }
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
    /// The community it was enrolled in (`devices.community_id`): its user's, or the device may not act
    /// (checked where its tokens are accepted, `auth.rs`).
    pub community: CommunityId,
}

/// The 32 symbols of enrolment codes and generated passwords: digits and capitals without look-alikes (0/O, 1/I).
pub const CODE_ALPHABET: &[u8; 32] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";

/// `n` bytes from the operating system's CSPRNG.
fn random_bytes<const N: usize>() -> Result<[u8; N], IdentityError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| IdentityError::Random(e.to_string()))?;
    Ok(bytes)
}

/// A fresh random secret (refresh tokens, the signing key): 256 bits from the CSPRNG, as 64 hex characters.
pub fn random_secret() -> Result<String, IdentityError> {
    Ok(random_bytes::<32>()?
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// A one-time enrolment code (or generated password) a person can type: 16 symbols of [`CODE_ALPHABET`], each
/// carrying 5 of 80 bits drawn from the CSPRNG (32 symbols, so no bias), grouped by four: `ABCD-EFGH-JKLM-NPQR`.
pub fn random_code() -> Result<String, IdentityError> {
    let mut n = random_bytes::<10>()?
        .iter()
        .fold(0u128, |acc, b| (acc << 8) | u128::from(*b));
    let mut code = String::with_capacity(19);
    for i in 0..16 {
        if i > 0 && i % 4 == 0 {
            code.push('-');
        }
        code.push(char::from(CODE_ALPHABET[(n % 32) as usize]));
        n /= 32;
    }
    Ok(code)
}

/// SHA-256 of a server-made secret, hex.
pub fn hash_secret(secret: &str) -> String {
    let normalised = secret.trim().to_ascii_uppercase().replace('-', "");
    let digest = Sha256::digest(normalised.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn role_of(s: &str) -> Result<Role, IdentityError> {
    s.parse()
        .map_err(|()| IdentityError::UnknownRole(s.to_string()))
}

/// A user's columns as read: id, username, role, then `extra` (the password hash, where read), then community.
type UserRow<Extra> = (String, String, String, Extra, Option<i64>);

/// A device's columns with its user's: device id, revoked time, user id, username, role, community.
type DeviceRow = (
    String,
    Option<i64>,
    String,
    String,
    String,
    Option<i64>,
    i64,
);

fn user_from(
    id: String,
    username: String,
    role: String,
    community: Option<i64>,
) -> Result<User, IdentityError> {
    Ok(User {
        id: id.parse().map_err(|_| IdentityError::NoSuchUser)?,
        username,
        role: role_of(&role)?,
        community: community.map(CommunityId),
    })
}

/// Creates a user of `community` (`None`: a district admin, whose role must be [`Role::Admin`]); `password_hash`
/// is the PHC string [`crate::password`] made, or `None` for no web login.
pub fn add_user(
    conn: &mut Conn,
    username: &str,
    role: Role,
    community: Option<CommunityId>,
    password_hash: Option<&str>,
    now_ms: i64,
) -> Result<User, IdentityError> {
    let hash = password_hash;
    match community {
        None if role != Role::Admin => return Err(IdentityError::CommunityRequired),
        Some(c) if crate::community::get(conn, c)?.is_none() => {
            return Err(IdentityError::Store(StoreError::NoSuchCommunity(c)));
        }
        _ => {}
    }
    let id = UserId::random();
    let inserted = diesel::insert_into(users::table)
        .values((
            users::id.eq(id.to_string()),
            users::username.eq(username),
            users::role.eq(role.as_str()),
            users::password_hash.eq(hash),
            users::created_ms.eq(now_ms),
            users::community_id.eq(community.map(|c| c.0)),
        ))
        .execute(conn);
    match inserted {
        Ok(_) => Ok(User {
            id,
            username: username.to_string(),
            role,
            community,
        }),
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => Err(IdentityError::UsernameTaken),
        Err(e) => Err(e.into()),
    }
}

/// Whether any admin exists (of a community, or of the district).
pub fn has_admin(conn: &mut Conn) -> Result<bool, IdentityError> {
    let n: i64 = users::table
        .filter(users::role.eq(Role::Admin.as_str()))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// A user by name.
pub fn user_by_name(conn: &mut Conn, username: &str) -> Result<User, IdentityError> {
    let (id, name, role, community): (String, String, String, Option<i64>) = users::table
        .filter(users::username.eq(username))
        .select((users::id, users::username, users::role, users::community_id))
        .first(conn)
        .optional()?
        .ok_or(IdentityError::NoSuchUser)?;
    user_from(id, name, role, community)
}

/// A user by id.
pub fn user_by_id(conn: &mut Conn, id: UserId) -> Result<User, IdentityError> {
    let (id, name, role, community): (String, String, String, Option<i64>) = users::table
        .find(id.to_string())
        .select((users::id, users::username, users::role, users::community_id))
        .first(conn)
        .optional()?
        .ok_or(IdentityError::NoSuchUser)?;
    user_from(id, name, role, community)
}

/// A user by name with their stored password hash (`None` inside for users without a web login), for a login to
/// check once the connection is released; `None` for an unknown name.
pub fn credentials(
    conn: &mut Conn,
    username: &str,
) -> Result<Option<(User, Option<String>)>, IdentityError> {
    let row: Option<UserRow<Option<String>>> = users::table
        .filter(users::username.eq(username))
        .select((
            users::id,
            users::username,
            users::role,
            users::password_hash,
            users::community_id,
        ))
        .first(conn)
        .optional()?;
    row.map(|(id, name, role, hash, community)| Ok((user_from(id, name, role, community)?, hash)))
        .transpose()
}

/// Replaces a user's password hash (after a login whose stored hash used older parameters).
pub fn set_password_hash(conn: &mut Conn, user: UserId, hash: &str) -> Result<(), IdentityError> {
    diesel::update(users::table.find(user.to_string()))
        .set(users::password_hash.eq(hash))
        .execute(conn)?;
    Ok(())
}

/// Records that an admin lifted a username's login throttle from the command line; the running server applies it
/// at the next refused attempt (see [`throttle_lifts_since`]).
pub fn record_throttle_lift(
    conn: &mut Conn,
    username: &str,
    now_ms: i64,
) -> Result<(), IdentityError> {
    diesel::replace_into(login_throttle_lifts::table)
        .values((
            login_throttle_lifts::username.eq(username),
            login_throttle_lifts::lifted_ms.eq(now_ms),
        ))
        .execute(conn)?;
    Ok(())
}

/// The usernames whose throttle was lifted after `since_ms`, with the time of each lift.
pub fn throttle_lifts_since(
    conn: &mut Conn,
    since_ms: i64,
) -> Result<Vec<(String, i64)>, IdentityError> {
    Ok(login_throttle_lifts::table
        .filter(login_throttle_lifts::lifted_ms.gt(since_ms))
        .select((
            login_throttle_lifts::username,
            login_throttle_lifts::lifted_ms,
        ))
        .load(conn)?)
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
    let code = random_code()?;
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
        // A phone syncs one community's log: a district admin has none to sync.
        let community = user.community.ok_or(IdentityError::CommunityRequired)?;
        let device = ReplicaId::random();
        diesel::insert_into(devices::table)
            .values((
                devices::id.eq(device.to_string()),
                devices::user_id.eq(&user_id),
                devices::label.eq(&label),
                devices::created_ms.eq(now_ms),
                devices::community_id.eq(community.0),
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
                community,
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
    let token = random_secret()?;
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

/// Exchanges a refresh token for a new one (rotation: the old one stops working) and the device it belongs to. A
/// token already rotated revokes its whole family (every refresh token of its device) and is refused with
/// [`IdentityError::RefreshTokenReused`].
pub fn refresh(
    conn: &mut Conn,
    token: &str,
    now_ms: i64,
    ttl_ms: i64,
) -> Result<(Device, String), IdentityError> {
    // The family's revocation must be committed although the request is refused, so the transaction returns it
    // as a value and the error is raised after the commit.
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
        if revoked.is_some() {
            revoke_refresh_tokens(conn, device.id, now_ms)?;
            return Ok(Err(IdentityError::RefreshTokenReused { device: device.id }));
        }
        if expires < now_ms {
            return Err(IdentityError::BadRefreshToken);
        }
        diesel::update(refresh_tokens::table.find(&hash))
            .set(refresh_tokens::revoked_ms.eq(now_ms))
            .execute(conn)?;
        let next = new_refresh_token(conn, device.id, now_ms, ttl_ms)?;
        Ok(Ok((device, next)))
    })?
}

/// Revokes every refresh token of a device that is not revoked yet.
fn revoke_refresh_tokens(
    conn: &mut Conn,
    device: ReplicaId,
    now_ms: i64,
) -> Result<(), IdentityError> {
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::device_id.eq(device.to_string()))
            .filter(refresh_tokens::revoked_ms.is_null()),
    )
    .set(refresh_tokens::revoked_ms.eq(now_ms))
    .execute(conn)?;
    Ok(())
}

/// A device with its user.
pub fn device(conn: &mut Conn, id: ReplicaId) -> Result<Device, IdentityError> {
    let row: Option<DeviceRow> = devices::table
        .inner_join(users::table.on(users::id.eq(devices::user_id)))
        .filter(devices::id.eq(id.to_string()))
        .select((
            devices::id,
            devices::revoked_ms,
            users::id,
            users::username,
            users::role,
            users::community_id,
            devices::community_id,
        ))
        .first(conn)
        .optional()?;
    let Some((_, revoked, uid, name, role, community, enrolled_in)) = row else {
        return Err(IdentityError::NoSuchDevice);
    };
    Ok(Device {
        id,
        user: user_from(uid, name, role, community)?,
        revoked: revoked.is_some(),
        community: CommunityId(enrolled_in),
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
        revoke_refresh_tokens(conn, id, now_ms)
    })
}

/// Of `users`, those who belong to a community other than `community` (district admins, and ids no user has, are
/// not listed): the people an op of `community` must not name.
pub fn users_elsewhere(
    conn: &mut Conn,
    users_named: &[String],
    community: CommunityId,
) -> Result<std::collections::HashSet<String>, IdentityError> {
    let mut out = std::collections::HashSet::new();
    for chunk in users_named.chunks(500) {
        let found: Vec<String> = users::table
            .filter(users::id.eq_any(chunk))
            .filter(users::community_id.ne(community.0))
            .select(users::id)
            .load(conn)?;
        out.extend(found);
    }
    Ok(out)
}

/// Of `devices`, those enrolled in a community other than `community`.
pub fn devices_elsewhere(
    conn: &mut Conn,
    devices_named: &[String],
    community: CommunityId,
) -> Result<std::collections::HashSet<String>, IdentityError> {
    let mut out = std::collections::HashSet::new();
    for chunk in devices_named.chunks(500) {
        let found: Vec<String> = devices::table
            .filter(devices::id.eq_any(chunk))
            .filter(devices::community_id.ne(community.0))
            .select(devices::id)
            .load(conn)?;
        out.extend(found);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_typeable_and_hash_the_same_however_typed() {
        let code = random_code().expect("code");
        assert_eq!(code.len(), 19, "{code}");
        assert_eq!(code.matches('-').count(), 3, "{code}");
        assert_eq!(
            hash_secret(&code),
            hash_secret(&code.to_lowercase().replace('-', ""))
        );
    }

    /// Found by probing the server as an attacker would: over 200 codes the 16th character was always A or B and
    /// the 13th one of ABCDSTUV, because codes were cut from a v4 UUID, version and variant bits included (about
    /// 74 bits, not the 80 claimed). Drawn from the CSPRNG, every position takes every symbol equally often.
    #[test]
    fn every_position_of_a_code_takes_every_symbol_equally_often() {
        const CODES: usize = 4096;
        let mut counts = [[0u32; 32]; 16];
        for _ in 0..CODES {
            let code = random_code().expect("code").replace('-', "");
            for (pos, c) in code.bytes().enumerate() {
                let symbol = CODE_ALPHABET
                    .iter()
                    .position(|a| *a == c)
                    .unwrap_or_else(|| panic!("{c} is not in the alphabet"));
                counts[pos][symbol] += 1;
            }
        }
        let expected = CODES as f64 / 32.0;
        for (pos, row) in counts.iter().enumerate() {
            assert!(
                row.iter().all(|n| *n > 0),
                "position {pos} misses a symbol: {row:?}"
            );
            // Chi-square with 31 degrees of freedom: mean 31, and above 90 with probability about 1e-7. The UUID
            // codes scored in the thousands at positions 13 and 16.
            let chi2: f64 = row
                .iter()
                .map(|n| (f64::from(*n) - expected).powi(2) / expected)
                .sum();
            assert!(chi2 < 90.0, "position {pos}: chi-square {chi2:.1}, {row:?}");
        }
    }

    #[test]
    fn secrets_are_256_random_bits_with_no_fixed_digit() {
        let secrets: Vec<String> = (0..256).map(|_| random_secret().expect("secret")).collect();
        assert!(
            secrets
                .iter()
                .all(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
        );
        // A v4 UUID's 13th hex digit is always 4 and its 17th one of 89ab: these secrets were two of them.
        for pos in [12, 16, 44, 48] {
            let digits: std::collections::BTreeSet<u8> =
                secrets.iter().map(|s| s.as_bytes()[pos]).collect();
            assert!(digits.len() > 8, "position {pos}: {digits:?}");
        }
    }
}
