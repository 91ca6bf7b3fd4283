//! The real `linli` binary on port 0 in a temporary data directory (or a given one), its log written to a file, and
//! the HTTP calls the tests make to it. The start-up bench (`benches/startup.rs`) spawns the binary through this
//! file too.

use reqwest::StatusCode;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The first admin's password.
pub const PASSWORD: &str = "process-test-password";

/// A running server process.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Its standard error: the log.
    log: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `linli serve` with the log filter `log`.
    pub fn start(log: &str) -> Server {
        Server::start_with(log, &[])
    }

    /// Starts `linli serve` with the log filter `log` and the extra settings `env` (`LINLI_*` variables).
    pub fn start_with(log: &str, env: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut server = Server::start_in(dir.path(), log, env);
        server._dir = Some(dir);
        server
    }

    /// Starts `linli serve` over the data directory `data_dir` (left in place when the server stops), with the
    /// log filter `log` and the extra settings `env`; returns once the server has printed its address, that is
    /// once it has loaded its replica and listens.
    pub fn start_in(data_dir: &Path, log: &str, env: &[(&str, &str)]) -> Server {
        let log_path = data_dir.join("linli.log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_linli"))
            .arg("serve")
            .env("LINLI_DATA_DIR", data_dir)
            .env("LINLI_BIND", "127.0.0.1:0")
            .env("LINLI_ADMIN_PASSWORD", PASSWORD)
            .env("LINLI_WORKERS", "2")
            .env("LINLI_LOG", log)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log_path).expect("log file"))
            .spawn()
            .expect("linli starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("first line");
        let base = line
            .trim()
            .strip_prefix("linli listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Server {
            child,
            base,
            log: log_path,
            _dir: None,
        }
    }

    /// Stops the server as an operator does (SIGTERM: a clean shutdown) and waits for it to exit; whether it exited
    /// successfully.
    pub fn terminate(&mut self) -> bool {
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "SIGTERM sent");
        self.child.wait().expect("the server exits").success()
    }

    /// GETs `path` with an optional token and expects success; the body text.
    pub async fn get_text(&self, path: &str, token: Option<&str>) -> String {
        let mut req = reqwest::Client::new().get(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let (status, text) = self.send(req).await;
        assert!(status.is_success(), "{status}: {text}");
        text
    }

    /// The value of the metric line `name` (with its labels, e.g. `linli_community_loads_total{from="log"}`).
    pub async fn metric(&self, name: &str) -> u64 {
        let text = self.get_text("/metrics", None).await;
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no metric {name}"))
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A field of the server's `/proc/<pid>/status` (`VmRSS`, `VmHWM`), in bytes.
    pub fn proc_status(&self, field: &str) -> u64 {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("the server's /proc status");
        let kb: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().strip_suffix("kB")?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc status"));
        kb * 1024
    }

    /// What the server has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).expect("log file")
    }

    /// Sends a request: status and body text.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> (StatusCode, String) {
        let res = req.send().await.expect("request sent");
        let status = res.status();
        (status, res.text().await.expect("body"))
    }

    /// POSTs JSON and expects success; the answer.
    pub async fn post_ok(&self, path: &str, token: Option<&str>, body: &Value) -> Value {
        let mut req = reqwest::Client::new()
            .post(format!("{}{path}", self.base))
            .json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let (status, text) = self.send(req).await;
        assert!(status.is_success(), "{status}: {text}");
        serde_json::from_str(&text).expect("json")
    }

    /// Logs in as the first admin; the login answer.
    pub async fn admin(&self) -> Value {
        self.post_ok(
            "/v1/auth/login",
            None,
            &serde_json::json!({"username": "admin", "password": PASSWORD}),
        )
        .await
    }

    /// Enrols a device for the user `user_id` (as admin `token`); the enrolment answer.
    pub async fn enrol(&self, token: &str, user_id: &Value) -> Value {
        let code = self
            .post_ok(
                "/v1/enrolment-codes",
                Some(token),
                &serde_json::json!({"user_id": user_id}),
            )
            .await;
        self.post_ok(
            "/v1/devices/enrol",
            None,
            &serde_json::json!({"code": code["code"]}),
        )
        .await
    }
}
