//! Reading a request body: gzip (and the other encodings actix-web decodes) undone, and the size limit applied to
//! the decoded bytes, so a small compressed body cannot expand past the limit. Exceeding it is a 413 that names
//! the limit.

use actix_web::HttpRequest;
use actix_web::dev::Decompress;
use actix_web::web::{Bytes, BytesMut, Payload};
use futures_util::StreamExt;

use crate::error::ApiError;

/// Reads the whole decoded body, refusing more than `limit` bytes.
pub async fn read(req: &HttpRequest, payload: Payload, limit: usize) -> Result<Bytes, ApiError> {
    let too_large = || ApiError::TooLarge {
        limit_name: "max_body_bytes",
        limit,
    };
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut stream = Decompress::from_headers(payload, req.headers());
    let mut body = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest {
            code: "malformed_body",
            detail: format!("the body could not be read or decoded: {e}"),
        })?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}
