//! The sync round trip on the wire. Reading a request into `linli_sync_core::sync::SyncRequest`, checking the
//! protocol version first (so an old client gets `upgrade_required`, not a confusing parse error), then the batch
//! limit, then each op in turn (so a bad op is named by its index and, when readable, its id). Writing the answer
//! as `linli_sync_core::sync::SyncResponse`'s JSON with the pulled ops copied as the op log stores them.

use linli_sync_core::hlc::Hlc;
use linli_sync_core::ids::OpId;
use linli_sync_core::op::{Op, WireError};
use linli_sync_core::redact;
use linli_sync_core::sync::PROTOCOL_VERSION;
use serde::Deserialize;
use serde_json::Value;
use serde_json::error::Category;
use serde_json::value::RawValue;

use crate::config::Limits;
use crate::error::{ApiError, OpRejection};

/// A sync request as the server reads it (`linli_sync_core::sync::SyncRequest` on the wire).
#[derive(Debug, Clone, PartialEq)]
pub struct Incoming {
    /// The device's pull cursor.
    pub cursor: u64,
    /// The page size it asks for.
    pub limit: Option<u32>,
    /// The pushed ops, in request order.
    pub ops: Vec<Received>,
}

/// A pushed op with its canonical JSON (what the op log stores), made while reading the request
/// (`Op::from_json_canonical`), outside the writer lock.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    /// The op.
    pub op: Op,
    /// `op.to_json()`.
    pub json: String,
    /// What the op log will store of it (`op_row::body_of`: compressed here, on the request's thread, not under
    /// the writer lock).
    pub body: crate::op_row::Body,
}

impl Received {
    /// An op made on the server.
    pub fn new(op: Op) -> Self {
        let json = op.to_json();
        Received::of(op, json)
    }

    /// A received op and its canonical JSON.
    pub fn of(op: Op, json: String) -> Self {
        let body = crate::op_row::body_of(&op, &json);
        Received { op, json, body }
    }
}

/// The request's top level, each field left unparsed so the protocol version is checked before anything else.
#[derive(Deserialize)]
struct Top<'a> {
    #[serde(borrow)]
    protocol: Option<&'a RawValue>,
    #[serde(borrow)]
    cursor: Option<&'a RawValue>,
    #[serde(borrow)]
    limit: Option<&'a RawValue>,
    #[serde(borrow)]
    ops: Option<&'a RawValue>,
}

/// Parses and checks a sync request body.
pub fn parse_sync(body: &[u8], limits: &Limits) -> Result<Incoming, ApiError> {
    let parsed = serde_json::from_slice::<Top<'_>>(body);
    // A struct also deserialises from an array: only an object is a request.
    if parsed.is_ok()
        || parsed
            .as_ref()
            .is_err_and(|e| e.classify() == Category::Data)
    {
        let first = body.iter().find(|b| !b.is_ascii_whitespace());
        if first != Some(&b'{') {
            return Err(ApiError::invalid("a sync request is a JSON object"));
        }
    }
    let top = parsed.map_err(|e| match e.classify() {
        Category::Data => ApiError::invalid(redact::serde_error(&e)),
        _ => ApiError::BadRequest {
            code: "malformed_json",
            detail: format!("the body is not valid JSON: {}", redact::serde_error(&e)),
        },
    })?;
    let protocol: Option<Value> = top.protocol.map(field("protocol")).transpose()?;
    check_protocol(protocol.as_ref())?;
    let raw_ops: Vec<&RawValue> = match top.ops {
        None => Vec::new(),
        Some(raw) if raw.get() == "null" => Vec::new(),
        Some(raw) => serde_json::from_str(raw.get())
            .map_err(|_| ApiError::invalid("field `ops`: must be an array of ops"))?,
    };
    if raw_ops.len() > limits.max_batch_ops {
        return Err(ApiError::TooLarge {
            limit_name: "max_batch_ops",
            limit: limits.max_batch_ops,
        });
    }
    let cursor = top
        .cursor
        .ok_or_else(|| ApiError::invalid("missing field `cursor`"))
        .and_then(field("cursor"))?;
    let limit = top
        .limit
        .map(field::<Option<u32>>("limit"))
        .transpose()?
        .flatten();
    // A page of no ops would never advance the cursor; clamping 0 to 1 silently gave the client what it did not ask.
    if limit == Some(0) {
        return Err(ApiError::invalid("field `limit`: must be at least 1"));
    }
    let ops = raw_ops
        .into_iter()
        .enumerate()
        .map(|(index, raw)| {
            let too_large = || ApiError::OpRejected {
                index,
                op_id: op_id_of(raw),
                reason: OpRejection::TooLarge {
                    limit: limits.max_op_bytes,
                },
            };
            // Unknown fields are kept as sent (forward compatibility), so the op as sent is what is bounded; its
            // canonical form is checked too, as that is what is stored and sent to every device in scope.
            if raw.get().len() > limits.max_op_bytes {
                return Err(too_large());
            }
            let (op, json) = Op::from_json_canonical(raw.get()).map_err(|e: WireError| {
                ApiError::OpRejected {
                    index,
                    op_id: op_id_of(raw),
                    reason: OpRejection::Wire(e),
                }
            })?;
            if json.len() > limits.max_op_bytes {
                return Err(too_large());
            }
            Ok(Received::of(op, json))
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(Incoming { cursor, limit, ops })
}

/// Reads one top-level field, naming it in the error.
fn field<'a, T: serde::de::DeserializeOwned>(
    name: &'static str,
) -> impl Fn(&'a RawValue) -> Result<T, ApiError> {
    move |raw| {
        serde_json::from_str(raw.get())
            .map_err(|e| ApiError::invalid(format!("field `{name}`: {}", redact::serde_error(&e))))
    }
}

/// The id of an op that did not parse, when it has a readable one.
fn op_id_of(raw: &RawValue) -> Option<OpId> {
    #[derive(Deserialize)]
    struct Id {
        id: Option<String>,
    }
    serde_json::from_str::<Id>(raw.get()).ok()?.id?.parse().ok()
}

/// A sync answer as the server has it: the pulled ops are the op log's canonical JSON, unparsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncAnswer {
    /// Pushed op ids now durably stored.
    pub acked: Vec<OpId>,
    /// Visible ops after the cursor, as stored.
    pub ops: Vec<String>,
    /// The next cursor.
    pub cursor: u64,
    /// More ops wait after `cursor`.
    pub has_more: bool,
    /// The server's clock.
    pub server_time: Hlc,
}

impl SyncAnswer {
    /// The answer as `SyncResponse` JSON (same fields, same order): the ops are copied, not re-encoded, which is
    /// most of what a pull costs otherwise. They are canonical JSON because the server wrote them.
    pub fn to_json(&self) -> Vec<u8> {
        use std::io::Write;
        let size =
            self.ops.iter().map(|o| o.len() + 1).sum::<usize>() + 40 * self.acked.len() + 160;
        let mut out = Vec::with_capacity(size);
        // Writing into a Vec cannot fail.
        let _ = write!(out, r#"{{"protocol":{PROTOCOL_VERSION},"acked":["#);
        for (i, id) in self.acked.iter().enumerate() {
            let _ = write!(out, r#"{}"{id}""#, if i == 0 { "" } else { "," });
        }
        out.extend_from_slice(br#"],"ops":["#);
        for (i, op) in self.ops.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(op.as_bytes());
        }
        let _ = write!(
            out,
            r#"],"cursor":{},"has_more":{},"server_time":{{"wall_ms":{},"logical":{}}}}}"#,
            self.cursor, self.has_more, self.server_time.wall_ms, self.server_time.logical
        );
        out
    }
}

/// Checks a client's protocol version.
pub fn check_protocol(v: Option<&Value>) -> Result<(), ApiError> {
    let found = match v {
        None => return Err(ApiError::invalid("missing field `protocol`")),
        Some(v) => v
            .as_u64()
            .ok_or_else(|| ApiError::invalid("field `protocol`: must be a positive integer"))?,
    };
    check_version(found)
}

/// Compares a protocol version with the server's.
pub fn check_version(found: u64) -> Result<(), ApiError> {
    let supported = PROTOCOL_VERSION;
    if found < u64::from(supported) {
        Err(ApiError::UpgradeRequired { found, supported })
    } else if found > u64::from(supported) {
        Err(ApiError::UnsupportedProtocol { found, supported })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_batch_ops: 2,
        max_body_bytes: 1000,
        max_pull_ops: 10,
        max_op_bytes: 200,
        max_pull_bytes: 1000,
    };

    fn code(body: &str) -> &'static str {
        match parse_sync(body.as_bytes(), &LIMITS) {
            Ok(_) => "ok",
            Err(e) => e.code(),
        }
    }

    #[test]
    fn requests_are_checked_version_first_then_limits_then_each_op() {
        assert_eq!(code(r#"{"protocol":1,"cursor":0,"ops":[]}"#), "ok");
        assert_eq!(code(r#"{"protocol":1,"cursor":0}"#), "ok");
        assert_eq!(
            code(r#"{"protocol":1,"cursor":0,"ops":[}"#),
            "malformed_json"
        );
        assert_eq!(
            code(r#"{"protocol":0,"cursor":"x","ops":[1,2,3]}"#),
            "upgrade_required"
        );
        assert_eq!(code(r#"{"protocol":9,"cursor":0}"#), "unsupported_protocol");
        assert_eq!(code(r#"{"cursor":0}"#), "invalid_request");
        assert_eq!(code(r#"{"protocol":1,"cursor":"zero"}"#), "invalid_request");
        assert_eq!(
            code(r#"{"protocol":1,"cursor":0,"ops":[1,2,3]}"#),
            "payload_too_large"
        );
        assert_eq!(
            code(r#"{"protocol":1,"cursor":0,"ops":[{"v":1}]}"#),
            "invalid_op"
        );
        assert_eq!(code(r#"[1]"#), "invalid_request");
    }

    #[test]
    fn an_answer_reads_back_as_the_sync_response_with_the_stored_ops() {
        use linli_sync_core::sync::SyncResponse;
        let op = linli_sync_core::test_support::wire_examples()
            .into_iter()
            .next()
            .expect("a wire example");
        for (acked, ops) in [
            (vec![], vec![]),
            (vec![op.id, op.id], vec![op.clone(), op.clone()]),
        ] {
            let answer = SyncAnswer {
                acked: acked.clone(),
                ops: ops.iter().map(Op::to_json).collect(),
                cursor: 42,
                has_more: true,
                server_time: Hlc {
                    wall_ms: 1_795_766_581_234,
                    logical: 7,
                },
            };
            let read: SyncResponse =
                serde_json::from_slice(&answer.to_json()).expect("a SyncResponse");
            let expected = SyncResponse {
                protocol: PROTOCOL_VERSION,
                acked,
                ops,
                cursor: 42,
                has_more: true,
                server_time: answer.server_time,
            };
            assert_eq!(read, expected);
            // Byte for byte what serde writes for the same response.
            assert_eq!(
                answer.to_json(),
                serde_json::to_vec(&expected).expect("json")
            );
        }
    }
}
