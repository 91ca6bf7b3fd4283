//! Why an op is refused: the typed validation errors of `sync-core`, shared by the phone library and the server.

use serde::Serialize;
use thiserror::Error;

use crate::card::Points;
use crate::hlc::ClockError;
use crate::op::OpKind;

/// An op that breaks a rule. Each variant names the rule; none carries personal data.
#[derive(Clone, Debug, PartialEq, Eq, Error, Serialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum OpError {
    /// The op refers to an entity this replica does not know.
    #[error("{entity} {id} is not known")]
    UnknownEntity {
        /// `ticket`, `grid`, `entry`, `card`, `household`.
        entity: &'static str,
        /// Its id.
        id: String,
    },
    /// A create for an entity that already exists (under another op).
    #[error("{entity} {id} already exists")]
    AlreadyExists {
        /// Entity kind.
        entity: &'static str,
        /// Its id.
        id: String,
    },
    /// A field is out of range, empty, too long or inconsistent.
    #[error("invalid `{field}`: {reason}")]
    InvalidField {
        /// Which field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// A lifecycle step that does not follow from the current status (checked where the op is written).
    #[error("`{kind}` is not allowed while the {entity} is {status}")]
    InvalidTransition {
        /// The op kind.
        kind: OpKind,
        /// Entity kind.
        entity: &'static str,
        /// The current status.
        status: String,
    },
    /// A spend larger than the rights the issuing replica holds.
    #[error("spending {requested} points needs rights this device does not hold (it holds {held})")]
    InsufficientRights {
        /// Rights held by the issuer.
        held: Points,
        /// Points asked for.
        requested: Points,
    },
    /// A spend whose sequence number is not the issuer's next one.
    #[error("spend sequence {found} is out of order; the next expected is {expected}")]
    SequenceGap {
        /// The next sequence number.
        expected: u64,
        /// The one received.
        found: u64,
    },
    /// A time too far ahead of the receiver's clock.
    #[error(transparent)]
    Clock(#[from] ClockError),
}
