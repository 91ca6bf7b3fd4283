//! The one error type of the HTTP layer and its one JSON envelope, RFC 9457 problem details
//! (`application/problem+json`) with a stable `code`:
//!
//! ```json
//! {"type":"https://linli.invalid/problems/out_of_scope","title":"Operation outside the user's scope",
//!  "status":403,"detail":"…","code":"out_of_scope","op_index":2,"op_id":"…"}
//! ```
//!
//! Every failure a client can see goes through [`ApiError`]; `From` conversions from the lower layers' errors live
//! here and nowhere else. Details never carry personal data (names, phone numbers, notes).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use linli_sync_core::error::OpError;
use linli_sync_core::hlc::ClockError;
use linli_sync_core::ids::OpId;
use linli_sync_core::op::WireError;
use linli_sync_core::rights::RightsError;
use serde::Serialize;
use serde_json::{Map, Value};
use std::fmt;

use crate::store::StoreError;

/// Where problem types are documented (`docs/http-api.md` lists every code).
pub const PROBLEM_BASE: &str = "https://linli.invalid/problems/";

/// Why a request failed.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// The body is not JSON, or not the expected shape.
    BadRequest {
        /// `malformed_json` or `invalid_request`.
        code: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// One op of a pushed batch is refused; the whole batch is rejected.
    OpRejected {
        /// Index of the op in the request's `ops` array.
        index: usize,
        /// Its id, when it could be read.
        op_id: Option<OpId>,
        /// Why.
        reason: OpRejection,
    },
    /// The client speaks an older protocol.
    UpgradeRequired {
        /// What the client sent.
        found: u64,
        /// What the server speaks.
        supported: u32,
    },
    /// The client speaks a newer protocol than this server.
    UnsupportedProtocol {
        /// What the client sent.
        found: u64,
        /// What the server speaks.
        supported: u32,
    },
    /// A request exceeds an explicit limit.
    TooLarge {
        /// `max_body_bytes` or `max_batch_ops`.
        limit_name: &'static str,
        /// The limit.
        limit: usize,
    },
    /// The body's `Content-Encoding` is not one the server decodes (gzip, deflate, identity).
    UnsupportedEncoding,
    /// No usable credentials.
    Unauthorized {
        /// `missing_token`, `invalid_token`, `token_expired`, `invalid_credentials`, `invalid_enrolment_code`.
        code: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// The device was revoked: the replica must wipe its data and be enrolled again.
    DeviceRevoked,
    /// Too many login attempts for this username or from this address (or too many at once): `429` with
    /// `Retry-After`.
    TooManyAttempts {
        /// Seconds until an attempt is allowed again.
        retry_after_secs: u64,
        /// Which limit (a fixed text: never the username).
        detail: &'static str,
    },
    /// Authenticated, but not allowed.
    Forbidden {
        /// `forbidden` or `device_required`.
        code: &'static str,
        /// Why.
        detail: String,
    },
    /// No such resource.
    NotFound {
        /// What was looked for.
        detail: String,
    },
    /// A unique name is taken.
    Conflict {
        /// `username_taken`, …
        code: &'static str,
        /// What.
        detail: String,
    },
    /// The server cannot do it now; the client retries (`503` with `Retry-After: 1`).
    Unavailable {
        /// `log_moved`: the community's log was written by another writer and this one could not catch up.
        code: &'static str,
        /// What happened.
        detail: String,
    },
    /// The server failed; the client may retry.
    Internal {
        /// For the log only; the client sees a generic text.
        detail: String,
    },
}

/// Why one op of a batch was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum OpRejection {
    /// It could not be read.
    Wire(WireError),
    /// Its clock is too far ahead of the server's.
    Clock(ClockError),
    /// Its author may not do it.
    Rights(RightsError),
    /// It breaks a rule of the data.
    Invalid(OpError),
    /// An op with this id was stored before with other content.
    IdConflict,
    /// Its JSON, unknown fields included, is longer than `max_op_bytes`.
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// It touches an entity or a person of another community than its author's (ids are unique across
    /// communities, so this is an out-of-scope write, never a coincidence).
    OtherCommunity,
}

impl OpRejection {
    fn code(&self) -> &'static str {
        match self {
            OpRejection::Wire(WireError::UnknownKind(_)) => "unknown_op_kind",
            OpRejection::Wire(WireError::UnsupportedVersion { .. }) => "unsupported_op_version",
            OpRejection::Wire(_) => "invalid_op",
            OpRejection::Clock(_) => "clock_skew",
            OpRejection::Rights(RightsError::RoleForbidden { .. }) => "role_forbidden",
            OpRejection::Rights(RightsError::OutOfScope { .. }) => "out_of_scope",
            OpRejection::Rights(RightsError::WrongActor { .. }) => "wrong_actor",
            OpRejection::Invalid(OpError::InsufficientRights { .. }) => "insufficient_rights",
            OpRejection::Invalid(_) => "op_invalid",
            OpRejection::IdConflict => "op_id_conflict",
            OpRejection::TooLarge { .. } => "op_too_large",
            OpRejection::OtherCommunity => "other_community",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            OpRejection::Rights(_) | OpRejection::OtherCommunity => StatusCode::FORBIDDEN,
            OpRejection::Invalid(_) | OpRejection::IdConflict => StatusCode::UNPROCESSABLE_ENTITY,
            OpRejection::Wire(_) | OpRejection::Clock(_) => StatusCode::BAD_REQUEST,
            OpRejection::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }

    /// What is wrong, naming fields and rules but no value of the op (sync-core's own texts quote a refused
    /// time, point amount or sequence number, which the server does not send back).
    fn detail(&self) -> String {
        match self {
            OpRejection::Wire(e) => e.to_string(),
            OpRejection::Clock(e) | OpRejection::Invalid(OpError::Clock(e)) => clock_detail(e),
            OpRejection::Rights(e) => e.to_string(),
            OpRejection::Invalid(OpError::InsufficientRights { held, .. }) => {
                format!("the spend needs rights this device does not hold (it holds {held} points)")
            }
            OpRejection::Invalid(OpError::SequenceGap { expected, .. }) => {
                format!("the spend sequence is out of order; the next expected is {expected}")
            }
            OpRejection::Invalid(e) => e.to_string(),
            OpRejection::IdConflict => {
                "an op with this id was stored before with different content".into()
            }
            OpRejection::TooLarge { limit } => format!("the op exceeds max_op_bytes = {limit}"),
            OpRejection::OtherCommunity => {
                "the op touches an entity or a user of another community".into()
            }
        }
    }

    /// The lower layer's own typed error, as JSON (its `code` is the rule broken), without the members that hold
    /// a value of the op ([`OP_VALUES`]).
    fn cause(&self) -> Option<Value> {
        let mut cause = self.typed_cause()?;
        if let Value::Object(members) = &mut cause {
            members.retain(|k, _| !OP_VALUES.contains(&k.as_str()));
        }
        Some(cause)
    }

    fn typed_cause(&self) -> Option<Value> {
        match self {
            OpRejection::Wire(e) => serde_json::to_value(e).ok(),
            OpRejection::Clock(e) => serde_json::to_value(e).ok(),
            OpRejection::Rights(e) => serde_json::to_value(e).ok(),
            OpRejection::Invalid(e) => serde_json::to_value(e).ok(),
            OpRejection::IdConflict | OpRejection::OtherCommunity => None,
            OpRejection::TooLarge { limit } => Some(serde_json::json!({
                "code": "op_too_large", "limit_name": "max_op_bytes", "limit": limit,
            })),
        }
    }
}

/// Members of sync-core's typed errors that hold a value of the refused op: the time, the points asked, the
/// sequence number found.
const OP_VALUES: &[&str] = &["time_ms", "now_ms", "requested", "found"];

fn clock_detail(e: &ClockError) -> String {
    match e {
        ClockError::TooFarAhead { max_ahead_ms, .. } => format!(
            "the op's time is more than {max_ahead_ms} ms ahead of the server's clock: check the phone's clock"
        ),
    }
}

impl ApiError {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. }
            | ApiError::Unauthorized { code, .. }
            | ApiError::Forbidden { code, .. }
            | ApiError::Conflict { code, .. }
            | ApiError::Unavailable { code, .. } => code,
            ApiError::OpRejected { reason, .. } => reason.code(),
            ApiError::UpgradeRequired { .. } => "upgrade_required",
            ApiError::UnsupportedProtocol { .. } => "unsupported_protocol",
            ApiError::TooLarge { .. } => "payload_too_large",
            ApiError::UnsupportedEncoding => "unsupported_encoding",
            ApiError::DeviceRevoked => "device_revoked",
            ApiError::TooManyAttempts { .. } => "too_many_attempts",
            ApiError::NotFound { .. } => "not_found",
            ApiError::Internal { .. } => "internal",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            ApiError::BadRequest { .. } => "The request could not be read",
            ApiError::OpRejected { reason, .. } => match reason {
                OpRejection::Wire(_) => "An operation could not be read",
                OpRejection::Clock(_) => "An operation's clock is too far ahead",
                OpRejection::Rights(_) => "An operation is not allowed for this user",
                OpRejection::Invalid(_) => "An operation breaks a rule",
                OpRejection::IdConflict => "An operation id was reused",
                OpRejection::TooLarge { .. } => "An operation is too large",
                OpRejection::OtherCommunity => "An operation touches another community",
            },
            ApiError::UpgradeRequired { .. } => "Upgrade required",
            ApiError::UnsupportedProtocol { .. } => "Protocol version not supported",
            ApiError::TooLarge { .. } => "Request too large",
            ApiError::UnsupportedEncoding => "Content encoding not supported",
            ApiError::Unauthorized { .. } => "Not authenticated",
            ApiError::DeviceRevoked => "Device revoked",
            ApiError::TooManyAttempts { .. } => "Too many attempts",
            ApiError::Forbidden { .. } => "Not allowed",
            ApiError::NotFound { .. } => "Not found",
            ApiError::Conflict { .. } => "Conflict",
            ApiError::Unavailable { .. } => "Try again",
            ApiError::Internal { .. } => "Internal error",
        }
    }

    fn detail(&self) -> String {
        match self {
            ApiError::BadRequest { detail, .. }
            | ApiError::Unauthorized { detail, .. }
            | ApiError::Forbidden { detail, .. }
            | ApiError::NotFound { detail }
            | ApiError::Conflict { detail, .. }
            | ApiError::Unavailable { detail, .. } => detail.clone(),
            ApiError::OpRejected { index, reason, .. } => {
                format!("op {index} rejected, nothing stored: {}", reason.detail())
            }
            // `found` is the client's value: not echoed.
            ApiError::UpgradeRequired { supported, .. } => format!(
                "this client speaks an older protocol; the server speaks {supported}: update the app"
            ),
            ApiError::UnsupportedProtocol { supported, .. } => {
                format!("this client speaks a newer protocol than this server's ({supported})")
            }
            ApiError::TooLarge { limit_name, limit } => {
                format!("the request exceeds {limit_name} = {limit}")
            }
            ApiError::DeviceRevoked => {
                "this device was revoked: wipe local data and enrol again".into()
            }
            ApiError::UnsupportedEncoding => {
                "send the body as is, or with `Content-Encoding: gzip` or `deflate`".into()
            }
            ApiError::TooManyAttempts {
                retry_after_secs,
                detail,
            } => format!("{detail}; retry after {retry_after_secs} s"),
            ApiError::Internal { .. } => "the server failed; retry later".into(),
        }
    }

    /// The problem document.
    pub fn problem(&self) -> Problem {
        let mut extra = Map::new();
        match self {
            ApiError::OpRejected {
                index,
                op_id,
                reason,
            } => {
                extra.insert("op_index".into(), Value::from(*index));
                if let Some(id) = op_id {
                    extra.insert("op_id".into(), Value::String(id.to_string()));
                }
                if let Some(cause) = reason.cause() {
                    extra.insert("cause".into(), cause);
                }
            }
            ApiError::TooLarge { limit_name, limit } => {
                extra.insert("limit_name".into(), Value::from(*limit_name));
                extra.insert("limit".into(), Value::from(*limit));
            }
            ApiError::UpgradeRequired { supported, .. }
            | ApiError::UnsupportedProtocol { supported, .. } => {
                extra.insert("supported_protocol".into(), Value::from(*supported));
            }
            ApiError::TooManyAttempts {
                retry_after_secs, ..
            } => {
                extra.insert("retry_after".into(), Value::from(*retry_after_secs));
            }
            _ => {}
        }
        let code = self.code();
        Problem {
            kind: format!("{PROBLEM_BASE}{code}"),
            title: self.title(),
            status: self.status_code().as_u16(),
            detail: self.detail(),
            code,
            extra,
        }
    }

    /// A bad request with code `invalid_request`.
    pub fn invalid(detail: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code: "invalid_request",
            detail: detail.into(),
        }
    }

    /// A 403 `forbidden`.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        ApiError::Forbidden {
            code: "forbidden",
            detail: detail.into(),
        }
    }

    /// A 403 `other_community`: the request names a user, device, grid cell or community that is not the
    /// caller's community ("the user is not in your community"; for a community, "that is not your community").
    ///
    /// Also the answer to anybody but a district admin naming a user or device that does not exist at all: "not
    /// yours" and "no such" read the same, so nobody probes which ids exist in other communities (review of issue 11).
    pub fn other_community(what: &str) -> Self {
        ApiError::Forbidden {
            code: "other_community",
            detail: if what == "community" {
                "that is not your community".to_string()
            } else {
                format!("the {what} is not in your community")
            },
        }
    }

    /// A 400 `community_required`: a district admin names the community a request is about.
    pub fn community_required() -> Self {
        ApiError::BadRequest {
            code: "community_required",
            detail: "a district admin names the community: `community` (the community's id)".into(),
        }
    }
}

/// The problem+json envelope as documented in the OpenAPI document (extension members vary by code).
#[derive(Debug, Clone, utoipa::ToSchema)]
#[schema(as = Problem, example = json!({"type": "https://linli.invalid/problems/out_of_scope", "title": "An operation is not allowed for this user", "status": 403, "detail": "op 2 rejected, nothing stored: …", "code": "out_of_scope", "op_index": 2, "op_id": "019a…"}))]
pub struct ProblemDoc {
    /// A URI naming the problem type.
    #[schema(rename = "type")]
    pub kind: String,
    /// Short, human-readable.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// This occurrence.
    pub detail: String,
    /// Stable code for programs (see docs/http-api.md).
    pub code: String,
    /// On op refusals: the op's index in the request.
    pub op_index: Option<u64>,
    /// On op refusals: the op's id.
    pub op_id: Option<String>,
    /// On 413: the limit's name.
    pub limit_name: Option<String>,
    /// On 413: the limit.
    pub limit: Option<u64>,
    /// On 429: seconds until an attempt is allowed again (also in `Retry-After`).
    pub retry_after: Option<u64>,
}

/// The problem+json body.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// A URI naming the problem type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short, human-readable.
    pub title: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// This occurrence.
    pub detail: String,
    /// Stable code for programs.
    pub code: &'static str,
    /// Extension members (`op_index`, `op_id`, `limit`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.detail())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::OpRejected { reason, .. } => reason.status(),
            ApiError::UpgradeRequired { .. } => StatusCode::UPGRADE_REQUIRED,
            ApiError::UnsupportedProtocol { .. } => StatusCode::BAD_REQUEST,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedEncoding => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unauthorized { .. } | ApiError::DeviceRevoked => StatusCode::UNAUTHORIZED,
            ApiError::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Internal { detail } => tracing::error!(detail = %detail, "request failed"),
            ApiError::OpRejected { index, op_id, .. } => {
                let op = op_id.map(|id| id.to_string()).unwrap_or_default();
                tracing::info!(code = self.code(), index, op = %op, "batch refused");
            }
            _ => {}
        }
        let mut res = HttpResponse::build(self.status_code());
        res.content_type("application/problem+json");
        if matches!(
            self,
            ApiError::Unauthorized { .. } | ApiError::DeviceRevoked
        ) {
            res.insert_header(("WWW-Authenticate", "Bearer"));
        }
        if let ApiError::TooManyAttempts {
            retry_after_secs, ..
        } = self
        {
            res.insert_header(("Retry-After", retry_after_secs.to_string()));
        }
        if matches!(self, ApiError::Unavailable { .. }) {
            res.insert_header(("Retry-After", "1"));
        }
        res.json(self.problem())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NoSuchCommunity(_) => ApiError::NotFound {
                detail: e.to_string(),
            },
            _ => ApiError::Internal {
                detail: e.to_string(),
            },
        }
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        ApiError::from(StoreError::from(e))
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        ApiError::Internal {
            detail: e.to_string(),
        }
    }
}
