//! Inflating a request body within a limit: gzip or deflate (zlib) bytes in, at most `limit` decoded bytes out,
//! inflation stopped at the first byte past the limit. Pure (std and flate2 only), so that the fuzz targets
//! (`fuzz/`) include this file without building the server.

use std::io::{self, Read};

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
