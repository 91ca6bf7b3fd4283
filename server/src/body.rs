//! Reading request bodies within their limits. A middleware ([`decode`]) undoes `Content-Encoding: gzip` or
//! `deflate` for every route before actix-web's extractors see the body, and it inflates into a buffer that refuses
//! to grow past the route's limit: memory stays bounded by the limit, never by what a small compressed body
//! expands to (a 63 KB gzip body inflates to 62 MiB). Other encodings are refused (`415`), because decoding them
//! would be unbounded again ([`crate::decode`] does the inflating). [`read`] reads a (decoded) body whole, within
//! a limit. Exceeding a limit is a `413` that names it.

use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{CONTENT_ENCODING, CONTENT_LENGTH, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes, BytesMut, Payload};
use futures_util::StreamExt;

pub use crate::decode::{DecodeError, Encoding, decode_bytes};
use crate::error::ApiError;
use crate::state::AppState;

/// The largest JSON body of the small endpoints (login, enrolment, users, codes, cards, fees), decoded.
pub const MAX_JSON_BYTES: usize = 64 * 1024;

/// The limit on `path`'s decoded body: `max_body_bytes` for sync requests, [`MAX_JSON_BYTES`] for the rest.
fn limit_for(path: &str, state: Option<&web::Data<AppState>>) -> (&'static str, usize) {
    match state {
        Some(s) if path == "/v1/sync" => ("max_body_bytes", s.config.limits.max_body_bytes),
        _ => ("max_json_bytes", MAX_JSON_BYTES),
    }
}

/// The middleware: a compressed request body is read (at most the limit, as sent), inflated within the limit, and
/// handed on decoded, without its `Content-Encoding`.
pub async fn decode(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let header = req
        .headers()
        .get(CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("?").to_string());
    let encoding = Encoding::from_header(header.as_deref());
    // Requests without a body (every GET here) are not refused for a header no one reads.
    let bodiless = matches!(*req.method(), Method::GET | Method::HEAD);
    if bodiless {
        return next.call(req).await;
    }
    let encoding = encoding.ok_or(ApiError::UnsupportedEncoding)?;
    if encoding != Encoding::Identity {
        let (limit_name, limit) = limit_for(req.path(), req.app_data::<web::Data<AppState>>());
        let too_large = ApiError::TooLarge { limit_name, limit };
        let payload = req.take_payload();
        let sent = read_stream(req.headers(), payload, limit, &too_large).await?;
        let decoded = web::block(move || decode_bytes(encoding, &sent, limit))
            .await
            .map_err(ApiError::from)?
            .map_err(|e| match e {
                DecodeError::TooLarge => too_large.clone(),
                DecodeError::Malformed => malformed(),
            })?;
        let headers = req.headers_mut();
        headers.remove(CONTENT_ENCODING);
        headers.insert(CONTENT_LENGTH, HeaderValue::from(decoded.len()));
        req.set_payload(actix_web::dev::Payload::from(decoded));
    }
    next.call(req).await
}

/// Reads the whole (decoded) body, refusing more than `limit` bytes.
pub async fn read(
    req: &actix_web::HttpRequest,
    payload: Payload,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let too_large = ApiError::TooLarge {
        limit_name: "max_body_bytes",
        limit,
    };
    read_stream(req.headers(), payload.into_inner(), limit, &too_large).await
}

async fn read_stream(
    headers: &actix_web::http::header::HeaderMap,
    mut stream: actix_web::dev::Payload,
    limit: usize,
    too_large: &ApiError,
) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large.clone());
    }
    let mut body = BytesMut::with_capacity(declared.unwrap_or(0));
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| malformed())?;
        if body.len() + chunk.len() > limit {
            return Err(too_large.clone());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn malformed() -> ApiError {
    ApiError::BadRequest {
        code: "malformed_body",
        detail: "the body could not be read or decoded".into(),
    }
}
