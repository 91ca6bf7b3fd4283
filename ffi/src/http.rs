//! The HTTP round trip behind `Replica::sync`: a small blocking client (`ureq` on rustls, no OpenSSL) with
//! timeouts. It only moves bytes; what they mean is `sync.rs`'s business.

use std::time::Duration;
use ureq::Agent;

use crate::error::{Error, Result};

/// What the server answered.
#[derive(Debug)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

/// Time limits of one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// To open the connection (including TLS).
    pub connect: Duration,
    /// For the whole request, from start to the last byte of the answer.
    pub total: Duration,
}

impl Timeouts {
    /// 10 s to connect, 60 s in all: generous for a slow mobile link, short enough that a dead one is noticed.
    pub const DEFAULT: Timeouts = Timeouts {
        connect: Duration::from_secs(10),
        total: Duration::from_secs(60),
    };
}

/// The largest answer read (a page of ops, or a snapshot).
const MAX_BODY: u64 = 64 * 1024 * 1024;

fn agent(t: Timeouts) -> Agent {
    Agent::config_builder()
        .timeout_connect(Some(t.connect))
        .timeout_global(Some(t.total))
        .http_status_as_error(false)
        .build()
        .into()
}

fn offline(e: ureq::Error) -> Error {
    // The error names the failure (DNS, connect, timeout, TLS), never the request's content.
    Error::Network(e.to_string())
}

fn read(mut response: ureq::http::Response<ureq::Body>) -> Result<Answer> {
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_vec()
        .map_err(offline)?;
    Ok(Answer { status, body })
}

/// `POST url` with a JSON body and a bearer token.
pub fn post_json(url: &str, token: &str, body: &[u8], t: Timeouts) -> Result<Answer> {
    let response = agent(t)
        .post(url)
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", "application/json")
        .header("Accept", "application/json")
        .send(body)
        .map_err(offline)?;
    read(response)
}

/// `GET url` with a bearer token.
pub fn get(url: &str, token: &str, t: Timeouts) -> Result<Answer> {
    let response = agent(t)
        .get(url)
        .header("Authorization", &format!("Bearer {token}"))
        .header("Accept", "application/json")
        .call()
        .map_err(offline)?;
    read(response)
}

/// `base` joined with `path` (`https://host/api` + `/v1/sync`).
pub fn endpoint(base: &str, path: &str) -> String {
    format!("{}{}", base.trim_end_matches('/'), path)
}
