//! What the server benches share: an in-process server on loopback over a fresh data directory, the first admin
//! with one enrolled device, and community-years pushed through `/v1/sync` as that device.
//!
//! [`Seeder`] pushes everything through the first admin's one device, so into the first community. The start-up
//! bench (`startup.rs`), which needs one admin and device per community and clean restarts between them, seeds
//! through the real binary instead and uses only [`year0`], [`community_year`] and [`database`] from here.

use linli_server::config::Config;
use linli_server::{app, now_ms};
use linli_sync_core::prelude::*;
use linli_sync_core::test_support::community_year_of;
use serde_json::{Value, json};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

/// One day in milliseconds.
pub const DAY_MS: u64 = 86_400_000;

/// The first admin's password.
pub const PASSWORD: &str = "bench";

/// POSTs JSON (with a bearer token if given) and expects success; the answer.
pub async fn post(http: &reqwest::Client, url: String, token: Option<&str>, body: &Value) -> Value {
    let mut req = http.post(url).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.expect("request");
    let status = res.status();
    let body: Value = res.json().await.expect("json");
    assert!(status.is_success(), "{status} {body:#}");
    body
}

/// The server's configuration for a bench over `dir`: SQLite file `linli.sqlite3` in it, the first admin's
/// password [`PASSWORD`], access tokens valid for a day (a bench may restart the server and reuse them).
pub fn config(dir: &Path) -> Config {
    Config {
        data_dir: dir.to_path_buf(),
        database_url: database(dir).to_string_lossy().into_owned(),
        admin_password: Some(PASSWORD.into()),
        access_token_ttl_secs: 86_400,
        ..Config::default()
    }
}

/// The SQLite file of a bench's data directory.
pub fn database(dir: &Path) -> PathBuf {
    dir.join("linli.sqlite3")
}

/// A server running in this process, its first admin and the admin's device.
#[derive(Debug)]
pub struct Seeder {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The HTTP client.
    pub http: reqwest::Client,
    /// The first admin's access token.
    pub admin_token: String,
    /// The first admin.
    pub admin: UserId,
    /// The admin's enrolled device.
    pub device: ReplicaId,
    /// The device's access token.
    pub device_token: String,
    /// The sync cursor of the device.
    pub cursor: u64,
    handle: actix_web::dev::ServerHandle,
}

impl Seeder {
    /// Starts a server over `config` (on the current actix system), logs in as the first admin and enrols a
    /// device for it.
    pub async fn start(config: Config) -> Seeder {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (state, _) = app::prepare(config).expect("prepare");
        let server = app::server(state, listener).expect("server");
        let handle = server.handle();
        actix_web::rt::spawn(server);
        let http = reqwest::Client::new();
        let login = post(
            &http,
            format!("{base}/v1/auth/login"),
            None,
            &json!({"username": "admin", "password": PASSWORD}),
        )
        .await;
        let admin_token = login["access_token"].as_str().expect("token").to_string();
        let admin: UserId = login["user_id"]
            .as_str()
            .expect("user")
            .parse()
            .expect("uuid");
        let code = post(
            &http,
            format!("{base}/v1/enrolment-codes"),
            Some(&admin_token),
            &json!({"user_id": admin.to_string()}),
        )
        .await;
        let dev = post(
            &http,
            format!("{base}/v1/devices/enrol"),
            None,
            &json!({"code": code["code"]}),
        )
        .await;
        let device: ReplicaId = dev["device_id"]
            .as_str()
            .expect("device")
            .parse()
            .expect("uuid");
        let device_token = dev["access_token"].as_str().expect("token").to_string();
        Seeder {
            base,
            http,
            admin_token,
            admin,
            device,
            device_token,
            cursor: 0,
            handle,
        }
    }

    /// Pushes `ops` through `/v1/sync` in batches of 1,000, written (as far as the server is concerned) on the
    /// admin's device.
    pub async fn push(&mut self, ops: &[Op]) {
        for batch in ops.chunks(1000) {
            let ops: Vec<Value> = batch
                .iter()
                .map(|op| {
                    let mut op = op.clone();
                    op.replica = self.device;
                    op.author = self.admin;
                    op.to_value()
                })
                .collect();
            let body = json!({"protocol": 1, "cursor": self.cursor, "limit": 1, "ops": ops});
            let answer = post(
                &self.http,
                format!("{}/v1/sync", self.base),
                Some(&self.device_token),
                &body,
            )
            .await;
            self.cursor = answer["cursor"].as_u64().unwrap_or(self.cursor);
        }
    }

    /// Stops the server gracefully (its workers finish, the engine and pool are dropped).
    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}

/// When the `community`-th community-year of a bench starts: community 0's year ends yesterday, each next one a
/// year (366 days) earlier, so several are distinct years as well as distinct ids.
pub fn year0(community: u16) -> u64 {
    now_ms() - 366 * DAY_MS * (u64::from(community) + 1)
}

/// The `community`-th community-year of a bench (see [`year0`]): 365 days, 217,687 ops.
pub fn community_year(community: u16) -> Vec<Op> {
    community_year_of(community, year0(community), 365)
}
