//! Encryption at rest: the replica's key ([`ReplicaKey`], 32 bytes the app keeps in the platform keystore) and
//! the first statements of an open ([`unlock`]) and of a re-key ([`rekey`]).
//!
//! The library is built with SQLCipher only under the `sqlcipher` cargo feature (see `ffi/Cargo.toml` and
//! `docs/embedding.md`, section 1a). The key is handed to SQLCipher in its raw form, `x'<64 hex digits>'`: the
//! app's key is 256 random bits from the keystore, so SQLCipher's passphrase KDF (PBKDF2-HMAC-SHA512, 256,000
//! iterations) would add no strength and would cost every open a few hundred milliseconds on a cheap phone.

use std::fmt;

use rusqlite::{Connection, ErrorCode};

use crate::error::{Error, Result};

/// Whether this build encrypts (was built with the `sqlcipher` feature).
pub const ENCRYPTION: bool = cfg!(feature = "sqlcipher");

/// The length of a replica key in bytes (AES-256).
pub const KEY_LEN: usize = 32;

/// A replica's key: 32 bytes, never printed. The bytes are overwritten when it is dropped.
pub struct ReplicaKey([u8; KEY_LEN]);

impl ReplicaKey {
    /// A key from the app's bytes; anything but 32 bytes is `Invalid` (a bug in the app, not a wrong key).
    pub fn new(bytes: &[u8]) -> Result<ReplicaKey> {
        let key: [u8; KEY_LEN] = bytes.try_into().map_err(|_| {
            Error::Invalid(format!(
                "`key` must be {KEY_LEN} bytes (a random 256-bit key), got {}",
                bytes.len()
            ))
        })?;
        Ok(ReplicaKey(key))
    }

    /// SQLCipher's raw-key literal, `"x'…'"`, quoted for a PRAGMA.
    fn pragma_value(&self) -> String {
        let mut s = String::with_capacity(KEY_LEN * 2 + 5);
        s.push_str("\"x'");
        for b in self.0 {
            s.push(char::from(HEX[usize::from(b >> 4)]));
            s.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        s.push_str("'\"");
        s
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl fmt::Debug for ReplicaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReplicaKey(..)")
    }
}

impl Drop for ReplicaKey {
    fn drop(&mut self) {
        self.0.fill(0);
    }
}

/// The first statements on a freshly opened connection: `PRAGMA key` (when a key is given), then one read of the
/// schema, which is where SQLCipher checks the key and plain SQLite the file format. Nothing has been written
/// when this fails, so a wrong key leaves the file as it was. Returns whether the replica is encrypted.
pub(crate) fn unlock(conn: &Connection, key: Option<&ReplicaKey>) -> Result<bool> {
    if let Some(key) = key {
        if !ENCRYPTION {
            // Never a plain file in place of the encrypted one the app asked for.
            return Err(Error::Invalid(
                "a key was given but this build of the library has no encryption (built without the `sqlcipher` \
                 feature); ship the encrypted build or open without a key"
                    .into(),
            ));
        }
        run(conn, &format!("PRAGMA key = {}", key.pragma_value()))?;
    }
    match conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    }) {
        Ok(_) => Ok(key.is_some()),
        Err(rusqlite::Error::SqliteFailure(f, _)) if f.code == ErrorCode::NotADatabase => {
            Err(Error::WrongKey(if key.is_some() {
                "the replica file cannot be read with this key: the key is wrong, or the file is not an encrypted \
                 replica"
                    .into()
            } else {
                "the replica file cannot be read without a key: it is encrypted (open it with its key), or it is \
                 not a replica file"
                    .into()
            }))
        }
        Err(e) => Err(e.into()),
    }
}

/// Re-encrypts the whole file with `new` (`PRAGMA rekey`), then truncates the WAL so that no page written under
/// the old key stays in it. Only an encrypted replica can be re-keyed: turning a plain file into an encrypted one
/// is a new replica (wipe and bootstrap), never done in place.
pub(crate) fn rekey(conn: &Connection, encrypted: bool, new: &ReplicaKey) -> Result<()> {
    if !ENCRYPTION {
        return Err(Error::Invalid(
            "this build of the library has no encryption (built without the `sqlcipher` feature); it cannot re-key"
                .into(),
        ));
    }
    if !encrypted {
        return Err(Error::Invalid(
            "the replica is not encrypted: it was opened without a key, so there is no key to change".into(),
        ));
    }
    run(conn, &format!("PRAGMA rekey = {}", new.pragma_value()))?;
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    Ok(())
}

/// Runs one statement, reading and discarding any rows (SQLCipher's key pragmas answer `ok`).
fn run(conn: &Connection, sql: &str) -> Result<()> {
    let mut stmt = conn.prepare(sql)?;
    let mut rows = stmt.query([])?;
    while rows.next()?.is_some() {}
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_32_bytes_and_never_printed() {
        assert!(matches!(ReplicaKey::new(&[7; 31]), Err(Error::Invalid(_))));
        let key = ReplicaKey::new(&[0xab; 32]).expect("32 bytes");
        assert_eq!(format!("{key:?}"), "ReplicaKey(..)");
        assert_eq!(key.pragma_value(), format!("\"x'{}'\"", "ab".repeat(32)));
    }
}
