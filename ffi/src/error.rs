//! The library's internal error: every way a call can fail, before it is mapped (in one place, `api.rs`) to the
//! small public `ReplicaError` that crosses the FFI boundary.

use linli_sync_core::prelude::{OpError, RightsError};
use thiserror::Error;

/// Why a replica call failed.
#[derive(Debug, Error)]
pub enum Error {
    /// SQLite failed (disk full, I/O error, corrupt file).
    #[error("{}", storage_reason(.0))]
    Sqlite(#[from] rusqlite::Error),
    /// The op breaks a rule of `sync-core` (validation).
    #[error("{0}")]
    Op(#[from] OpError),
    /// The user's role or scope does not allow the op.
    #[error("{0}")]
    Rights(#[from] RightsError),
    /// The caller passed something malformed (an id that is not a UUID, bytes that are not a sync message).
    #[error("{0}")]
    Invalid(String),
    /// The server refused the request (its error code, without the request's content).
    #[error("the server refused the sync: {code}{}", http_status(*status))]
    Server {
        /// HTTP status (0 when a problem document without one was handed to `apply_sync_response`).
        status: u16,
        /// The server's error code.
        code: String,
    },
    /// The server refused one of this device's ops for good; it was set aside (see `rejected_ops`).
    #[error(
        "the server refused one of this device's ops ({code}); it was set aside and will not be sent again"
    )]
    SetAside {
        /// The server's problem code.
        code: String,
    },
    /// The server could not be reached or did not answer in time; nothing was lost, retry later.
    #[error("{0}")]
    Network(String),
    /// The server revoked this device; its local data has been wiped.
    #[error("this device was revoked by the server; its local data has been deleted")]
    Revoked,
    /// The replica file cannot be read with the key given (a wrong key, no key for an encrypted file, a key for a
    /// plain one); nothing was changed in the file.
    #[error("{0}")]
    WrongKey(String),
    /// The replica was closed.
    #[error("the replica is closed")]
    Closed,
}

/// SQLite's failure without SQLite's message: the message of a failed open carries the file's full path (which
/// names the app's sandbox, and on some phones the user), and a constraint message can name stored values. The
/// code says what failed; that is what an app or a bug report needs.
fn storage_reason(e: &rusqlite::Error) -> String {
    match e {
        rusqlite::Error::SqliteFailure(code, _) => {
            format!("the database failed: {code}")
        }
        rusqlite::Error::InvalidPath(_) => {
            "the database failed: the replica's path is not valid".into()
        }
        e => format!("the database failed: {e}"),
    }
}

fn http_status(status: u16) -> String {
    if status == 0 {
        String::new()
    } else {
        format!(" (HTTP {status})")
    }
}

/// Shorthand.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An `Invalid` error for JSON that could not be read or written, saying where and what kind of fault, but not
/// serde's message: that can quote a value, and values may be personal data (a name in a note).
pub fn json(what: &str, e: &serde_json::Error) -> Error {
    Error::Invalid(format!(
        "{what}: {:?} error at line {}, column {}",
        e.classify(),
        e.line(),
        e.column()
    ))
}

/// An `Invalid` error naming the field.
pub fn invalid(field: &str, reason: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("`{field}`: {reason}"))
}
