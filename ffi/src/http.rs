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
    /// The `Content-Type` header's media type (`application/json`, `text/html`), if any: it goes into the reason
    /// when the answer turns out not to be Linli's, so a captive portal can be told from a server bug.
    pub content_type: Option<String>,
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
    match e {
        // A URL that cannot be requested is the app's configuration, not the network: retrying cannot help.
        ureq::Error::BadUri(_) | ureq::Error::Http(_) => Error::Invalid(
            "`base_url`: cannot be requested; it must be http(s)://host[:port][/path]".into(),
        ),
        // The error names the failure (DNS, connect, timeout, TLS), never the request's content.
        e => Error::Network(e.to_string()),
    }
}

/// Checks that `base` is an absolute `http` or `https` URL with a host, before anything is sent: a malformed base
/// URL is a bug in the app's configuration (`Invalid`), not a network that may come back (`Offline`). The reason
/// does not repeat the URL, which may carry credentials.
pub fn check_base(base: &str) -> Result<()> {
    let bad = |why: &str| Err(crate::error::invalid("base_url", why));
    let Ok(uri) = base.trim().parse::<ureq::http::Uri>() else {
        return bad("is not a URL");
    };
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(_) => return bad("must use http or https"),
        None => return bad("must be absolute (http(s)://host…)"),
    }
    if uri.host().is_none_or(str::is_empty) {
        return bad("has no host");
    }
    if uri.query().is_some() {
        return bad("must not have a query; paths such as /v1/sync are appended to it");
    }
    Ok(())
}

fn read(mut response: ureq::http::Response<ureq::Body>) -> Result<Answer> {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(ureq::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_vec()
        .map_err(offline)?;
    Ok(Answer {
        status,
        content_type,
        body,
    })
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
