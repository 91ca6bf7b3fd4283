//! Reading a sync request into `linli_sync_core::sync::SyncRequest`, checking the protocol version first (so an
//! old client gets `upgrade_required`, not a confusing parse error), then the batch limit, then each op in turn
//! (so a bad op is named by its index and, when readable, its id).

use linli_sync_core::op::{Op, WireError};
use linli_sync_core::sync::{PROTOCOL_VERSION, SyncRequest};
use serde_json::Value;

use crate::config::Limits;
use crate::error::{ApiError, OpRejection};

/// Parses and checks a sync request body.
pub fn parse_sync(body: &[u8], limits: &Limits) -> Result<SyncRequest, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| ApiError::BadRequest {
        code: "malformed_json",
        detail: format!("the body is not valid JSON: {e}"),
    })?;
    let Value::Object(mut top) = value else {
        return Err(ApiError::invalid("a sync request is a JSON object"));
    };
    check_protocol(top.get("protocol"))?;
    let raw_ops = match top.insert("ops".into(), Value::Array(Vec::new())) {
        Some(Value::Array(ops)) => ops,
        Some(Value::Null) | None => Vec::new(),
        Some(_) => return Err(ApiError::invalid("field `ops`: must be an array of ops")),
    };
    if raw_ops.len() > limits.max_batch_ops {
        return Err(ApiError::TooLarge {
            limit_name: "max_batch_ops",
            limit: limits.max_batch_ops,
        });
    }
    let mut request: SyncRequest = serde_json::from_value(Value::Object(top))
        .map_err(|e| ApiError::invalid(format!("{e}")))?;
    request.ops = raw_ops
        .into_iter()
        .enumerate()
        .map(|(index, raw)| {
            let op_id = raw
                .get("id")
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok());
            Op::from_value(raw).map_err(|e: WireError| ApiError::OpRejected {
                index,
                op_id,
                reason: OpRejection::Wire(e),
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(request)
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
}
