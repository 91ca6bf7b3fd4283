//! Reading request bodies within their limits. A middleware ([`decode`]) undoes `Content-Encoding: gzip` or
//! `deflate` for every route before actix-web's extractors see the body, and it inflates into a buffer that refuses
//! to grow past the route's limit: memory stays bounded by the limit, never by what a small compressed body
//! expands to (a 63 KB gzip body inflates to 62 MiB). Other encodings are refused (`415`), because decoding them
//! would be unbounded again. [`read`] reads a (decoded) body whole, within a limit. Exceeding a limit is a `413`
//! that names it.

use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{CONTENT_ENCODING, CONTENT_LENGTH, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes, BytesMut, Payload};
use futures_util::StreamExt;
use std::io::{self, Read};

use crate::app::AppState;
use crate::error::ApiError;

/// The largest JSON body of the small endpoints (login, enrolment, users, codes, cards, fees), decoded.
pub const MAX_JSON_BYTES: usize = 64 * 1024;

/// A request body's `Content-Encoding`, as far as the server decodes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// No encoding (or `identity`).
    Identity,
    /// `gzip` or `x-gzip` (RFC 1952).
    Gzip,
    /// `deflate`: the zlib format (RFC 1950), as HTTP defines it.
    Deflate,
}

impl Encoding {
    /// The encoding a header value names, or `None` for one the server does not decode.
    pub fn from_header(value: Option<&str>) -> Option<Encoding> {
        match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            None | Some("" | "identity") => Some(Encoding::Identity),
            Some("gzip" | "x-gzip") => Some(Encoding::Gzip),
            Some("deflate") => Some(Encoding::Deflate),
            Some(_) => None,
        }
    }
}

/// Why a body could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// The decoded body would exceed the limit.
    TooLarge,
    /// The bytes are not a complete stream of the encoding (or have bytes after its end).
    Malformed,
}

/// Decodes `input` in `encoding`, refusing to produce more than `limit` bytes: inflation stops at the first byte
/// past the limit, so the memory used is at most `limit` (plus the decoder's fixed window) whatever `input`
/// expands to.
pub fn decode_bytes(
    encoding: Encoding,
    input: &[u8],
    limit: usize,
) -> Result<Vec<u8>, DecodeError> {
    match encoding {
        Encoding::Identity if input.len() > limit => Err(DecodeError::TooLarge),
        Encoding::Identity => Ok(input.to_vec()),
        Encoding::Gzip => inflate(flate2::bufread::GzDecoder::new(input), limit),
        Encoding::Deflate => inflate(flate2::bufread::ZlibDecoder::new(input), limit),
    }
}

/// The decoders of `flate2` that read from a byte slice and give back what they did not consume.
trait SliceDecoder: Read {
    fn rest(&mut self) -> usize;
}

impl SliceDecoder for flate2::bufread::GzDecoder<&[u8]> {
    fn rest(&mut self) -> usize {
        self.get_mut().len()
    }
}

impl SliceDecoder for flate2::bufread::ZlibDecoder<&[u8]> {
    fn rest(&mut self) -> usize {
        self.get_mut().len()
    }
}

fn inflate(mut decoder: impl SliceDecoder, limit: usize) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::new();
    // One byte more than the limit tells "exactly the limit" from "more".
    let read = (&mut decoder)
        .take(u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1))
        .read_to_end(&mut out);
    match read {
        Ok(n) if n > limit => Err(DecodeError::TooLarge),
        // Bytes after the end of the stream are not part of any body a client means to send.
        Ok(_) if decoder.rest() > 0 => Err(DecodeError::Malformed),
        Ok(_) => Ok(out),
        Err(e) if e.kind() == io::ErrorKind::OutOfMemory => Err(DecodeError::TooLarge),
        Err(_) => Err(DecodeError::Malformed),
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use std::io::Write;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), Compression::best());
        e.write_all(bytes).expect("gzip");
        e.finish().expect("gzip")
    }

    fn zlib(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), Compression::best());
        e.write_all(bytes).expect("zlib");
        e.finish().expect("zlib")
    }

    #[test]
    fn bodies_decode_within_the_limit_and_no_further() {
        let body = b"{\"protocol\":1}".repeat(100);
        let n = body.len();
        for (encoding, sent) in [
            (Encoding::Identity, body.clone()),
            (Encoding::Gzip, gzip(&body)),
            (Encoding::Deflate, zlib(&body)),
        ] {
            assert_eq!(decode_bytes(encoding, &sent, n).as_deref(), Ok(&body[..]));
            assert_eq!(
                decode_bytes(encoding, &sent, n - 1),
                Err(DecodeError::TooLarge)
            );
            if encoding != Encoding::Identity {
                let cut = &sent[..sent.len() - 3];
                assert_eq!(decode_bytes(encoding, cut, n), Err(DecodeError::Malformed));
                let mut longer = sent.clone();
                longer.push(0);
                assert_eq!(
                    decode_bytes(encoding, &longer, n),
                    Err(DecodeError::Malformed)
                );
            }
        }
        assert_eq!(
            decode_bytes(Encoding::Gzip, b"not gzip", n),
            Err(DecodeError::Malformed)
        );
    }

    #[test]
    fn encodings_are_named_by_their_header() {
        assert_eq!(Encoding::from_header(None), Some(Encoding::Identity));
        assert_eq!(
            Encoding::from_header(Some("identity")),
            Some(Encoding::Identity)
        );
        assert_eq!(Encoding::from_header(Some("GZIP")), Some(Encoding::Gzip));
        assert_eq!(Encoding::from_header(Some("x-gzip")), Some(Encoding::Gzip));
        assert_eq!(
            Encoding::from_header(Some("deflate")),
            Some(Encoding::Deflate)
        );
        assert_eq!(Encoding::from_header(Some("br")), None);
        assert_eq!(Encoding::from_header(Some("gzip, gzip")), None);
    }
}
