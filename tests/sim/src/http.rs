//! HTTP on loopback: the admin console (web login, users, enrolment codes, device enrolment, card grants,
//! revocation, snapshots) and the raw exchange a phone makes, gzip both ways so the bytes on the wire can be
//! counted.

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use linli_sync_core::prelude::{
    HlcClock, Op, OpBody, ReplicaId, Role, Rules, Snapshot, UserId, Writer,
};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::time::Duration;
use ureq::Agent;

/// Why an HTTP call did not give an answer.
#[derive(Debug)]
pub enum HttpError {
    /// No answer: refused, reset, cut, timed out.
    Network(String),
}

/// A raw answer, with the bytes that crossed the wire.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The decoded body.
    pub body: Vec<u8>,
    /// Bytes of the request body as sent (gzip).
    pub sent_bytes: usize,
    /// Bytes of the answer body as received (gzip when the server compressed it).
    pub received_bytes: usize,
}

impl Answer {
    /// The body as JSON (`Null` if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

fn agent() -> Agent {
    Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(5)))
        .timeout_global(Some(Duration::from_secs(60)))
        .http_status_as_error(false)
        .build()
        .into()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(bytes).expect("gzip into memory");
    enc.finish().expect("gzip into memory")
}

fn read(mut response: ureq::http::Response<ureq::Body>, sent: usize) -> Result<Answer, HttpError> {
    let status = response.status().as_u16();
    let gzipped = response
        .headers()
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    let raw = response
        .body_mut()
        .with_config()
        .limit(512 * 1024 * 1024)
        .read_to_vec()
        .map_err(|e| HttpError::Network(e.to_string()))?;
    let body = if gzipped {
        let mut out = Vec::new();
        GzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| HttpError::Network(format!("gzip: {e}")))?;
        out
    } else {
        raw.clone()
    };
    Ok(Answer {
        status,
        body,
        sent_bytes: sent,
        received_bytes: raw.len(),
    })
}

/// `POST url` with a JSON body (gzip-compressed) and an optional bearer token.
pub fn post(url: &str, token: Option<&str>, body: &[u8]) -> Result<Answer, HttpError> {
    let packed = gzip(body);
    let mut req = agent()
        .post(url)
        .header("Content-Type", "application/json")
        .header("Content-Encoding", "gzip")
        .header("Accept-Encoding", "gzip");
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    let response = req
        .send(packed.as_slice())
        .map_err(|e| HttpError::Network(e.to_string()))?;
    read(response, packed.len())
}

/// `POST url` with a form-encoded body (as an Open311 client posts), no token.
pub fn post_form(url: &str, fields: &[(&str, &str)]) -> Result<Answer, HttpError> {
    let response = agent()
        .post(url)
        .header("Accept-Encoding", "gzip")
        .send_form(fields.iter().copied())
        .map_err(|e| HttpError::Network(e.to_string()))?;
    read(response, 0)
}

/// `GET url` with a bearer token.
pub fn get(url: &str, token: &str) -> Result<Answer, HttpError> {
    let response = agent()
        .get(url)
        .header("Authorization", &format!("Bearer {token}"))
        .header("Accept-Encoding", "gzip")
        .call()
        .map_err(|e| HttpError::Network(e.to_string()))?;
    read(response, 0)
}

/// What enrolment gives a phone.
#[derive(Clone, Debug)]
pub struct Enrolment {
    /// Device (replica) id.
    pub device: ReplicaId,
    /// Its user.
    pub user: UserId,
    /// The user's role.
    pub role: Role,
    /// Access token.
    pub token: String,
}

/// The admin console: a web login plus an admin device that writes grid set-up ops (grid cells, members,
/// households), which the phone library does not offer (an admin does them from the console, not a phone).
#[derive(Debug)]
pub struct Console {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The admin's web-login token.
    pub token: String,
    /// The admin's user id.
    pub admin: UserId,
    device: Option<(String, Writer)>,
}

fn must(answer: Result<Answer, HttpError>, what: &str, expect: u16) -> Value {
    let answer = answer.unwrap_or_else(|e| panic!("{what}: no answer: {e:?}"));
    assert_eq!(
        answer.status,
        expect,
        "{what}: {}",
        String::from_utf8_lossy(&answer.body)
    );
    answer.json()
}

fn parse<T: std::str::FromStr>(v: &Value, field: &str) -> T {
    v[field]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("`{field}` missing in {v}"))
}

impl Console {
    /// Logs in as the first admin.
    pub fn login(base: &str, password: &str) -> Console {
        Console::login_as(base, "admin", password)
    }

    /// Logs in as the admin `username`.
    pub fn login_as(base: &str, username: &str, password: &str) -> Console {
        let body = json!({"username": username, "password": password}).to_string();
        let v = must(
            post(&format!("{base}/v1/auth/login"), None, body.as_bytes()),
            "login",
            200,
        );
        Console {
            base: base.to_string(),
            token: v["access_token"].as_str().expect("token").to_string(),
            admin: parse(&v, "user_id"),
            device: None,
        }
    }

    /// Creates a user; returns the id.
    pub fn add_user(&self, username: &str, role: Role) -> UserId {
        let body =
            json!({"username": username, "role": role.as_str(), "password": null}).to_string();
        let v = must(
            post(
                &format!("{}/v1/users", self.base),
                Some(&self.token),
                body.as_bytes(),
            ),
            "add user",
            201,
        );
        parse(&v, "id")
    }

    /// Issues an enrolment code for `user` and enrols a new device with it.
    pub fn enrol(&self, user: UserId, label: &str) -> Enrolment {
        let body = json!({"user_id": user.to_string(), "label": label}).to_string();
        let v = must(
            post(
                &format!("{}/v1/enrolment-codes", self.base),
                Some(&self.token),
                body.as_bytes(),
            ),
            "enrolment code",
            201,
        );
        let code = v["code"].as_str().expect("code");
        let body = json!({"code": code}).to_string();
        let v = must(
            post(
                &format!("{}/v1/devices/enrol", self.base),
                None,
                body.as_bytes(),
            ),
            "enrol",
            201,
        );
        let role = match v["role"].as_str() {
            Some("admin") => Role::Admin,
            Some("grid_worker") => Role::GridWorker,
            _ => Role::Volunteer,
        };
        Enrolment {
            device: parse(&v, "device_id"),
            user: parse(&v, "user_id"),
            role,
            token: v["access_token"].as_str().expect("token").to_string(),
        }
    }

    /// Grants `points` of `volunteer`'s card rights from the server's pool to `device`.
    pub fn grant(&self, volunteer: UserId, device: ReplicaId, points: u64) -> Answer {
        let body = json!({"device_id": device.to_string(), "points": points}).to_string();
        post(
            &format!("{}/v1/cards/{volunteer}/grants", self.base),
            Some(&self.token),
            body.as_bytes(),
        )
        .unwrap_or_else(|e| panic!("grant: {e:?}"))
    }

    /// Revokes a device.
    pub fn revoke(&self, device: ReplicaId) {
        must(
            post(
                &format!("{}/v1/devices/{device}/revoke", self.base),
                Some(&self.token),
                b"{}",
            ),
            "revoke",
            204,
        );
    }

    /// The whole merged state (an admin's snapshot).
    pub fn snapshot(&self) -> Snapshot {
        let answer = get(
            &format!("{}/v1/snapshot?protocol=1", self.base),
            &self.token,
        )
        .unwrap_or_else(|e| panic!("snapshot: {e:?}"));
        assert_eq!(
            answer.status,
            200,
            "snapshot: {}",
            String::from_utf8_lossy(&answer.body)
        );
        serde_json::from_slice(&answer.body).expect("a snapshot")
    }

    /// Writes admin set-up ops (grid cells, members, households) from the console's own device, and pushes them.
    pub fn write(&mut self, now_ms: u64, bodies: Vec<OpBody>) -> Vec<Op> {
        self.write_at(bodies.into_iter().map(|b| (now_ms, b)).collect())
    }

    /// Like [`Console::write`], each op at its own time (a history written after the fact, times in order).
    pub fn write_at(&mut self, timed: Vec<(u64, OpBody)>) -> Vec<Op> {
        if self.device.is_none() {
            let e = self.enrol(self.admin, "admin console");
            let writer = Writer::new(e.device, e.user, HlcClock::new(Rules::DEFAULT.drift));
            self.device = Some((e.token, writer));
        }
        let Some((token, writer)) = self.device.as_mut() else {
            unreachable!("set above")
        };
        let ops: Vec<Op> = timed.into_iter().map(|(t, b)| writer.op(t, b)).collect();
        for chunk in ops.chunks(2_000) {
            let body = json!({"protocol": 1, "cursor": 0, "limit": 1,
                "ops": chunk.iter().map(Op::to_value).collect::<Vec<_>>()})
            .to_string();
            must(
                post(
                    &format!("{}/v1/sync", self.base),
                    Some(token),
                    body.as_bytes(),
                ),
                "console push",
                200,
            );
        }
        ops
    }
}
