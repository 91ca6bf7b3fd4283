//! The real server as a child process: `linli serve` on a fresh data directory and a loopback port, which the
//! tests kill with SIGKILL and restart on the same directory and port.
//!
//! The binary is found through `LINLI_BIN`, else `<target dir>/debug/linli` (the target dir being
//! `CARGO_TARGET_DIR` or the workspace's `target/`). Build it first: `cargo build -p linli-server --bin linli`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The first admin's password on every simulated server.
pub const ADMIN_PASSWORD: &str = "field-day-admin-password";

/// Where the `linli` binary is: `LINLI_BIN`, else the debug build in the target dir.
pub fn linli_bin() -> PathBuf {
    linli_bin_of("debug")
}

/// `LINLI_BIN`, else the build of `profile` (`debug`, `release`) in the target dir.
pub fn linli_bin_of(profile: &str) -> PathBuf {
    if let Some(p) = std::env::var_os("LINLI_BIN") {
        return PathBuf::from(p);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    );
    target.join(profile).join("linli")
}

/// Settings of a simulated server.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// `LINLI_MAX_AHEAD_MS`: the drift bound.
    pub max_ahead_ms: u64,
    /// `LINLI_MAX_PULL_OPS`: the pull page size (small values exercise paging).
    pub max_pull_ops: usize,
    /// `LINLI_WORKERS`.
    pub workers: usize,
    /// `LINLI_MAX_OP_BYTES`: the longest op the server accepts (small values exercise `op_too_large`).
    pub max_op_bytes: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_ahead_ms: 600_000,
            max_pull_ops: 5_000,
            workers: 2,
            max_op_bytes: 65_536,
        }
    }
}

/// A running (or killed) `linli serve` process.
#[derive(Debug)]
pub struct ServerProc {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`; the same across restarts.
    pub base: String,
    bind: String,
    data_dir: PathBuf,
    config: ServerConfig,
    external: bool,
}

impl ServerProc {
    /// Starts a server on `data_dir` (created if needed) on a free loopback port.
    pub fn start(data_dir: &Path, config: ServerConfig) -> ServerProc {
        let bin = linli_bin();
        assert!(
            bin.is_file(),
            "the linli server binary is missing at {}: build it first with `cargo build -p linli-server --bin linli` \
             (or point LINLI_BIN at it)",
            bin.display()
        );
        let mut server = ServerProc {
            child: None,
            base: String::new(),
            bind: "127.0.0.1:0".into(),
            data_dir: data_dir.to_path_buf(),
            config,
            external: false,
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        // A restart binds the port of the first start; the old socket may linger for a moment, so retry briefly.
        for attempt in 0..50 {
            let mut child = Command::new(linli_bin())
                .arg("serve")
                .env("LINLI_DATA_DIR", &self.data_dir)
                .env("LINLI_BIND", &self.bind)
                .env("LINLI_ADMIN_PASSWORD", ADMIN_PASSWORD)
                .env("LINLI_WORKERS", self.config.workers.to_string())
                .env("LINLI_MAX_AHEAD_MS", self.config.max_ahead_ms.to_string())
                .env("LINLI_MAX_PULL_OPS", self.config.max_pull_ops.to_string())
                .env("LINLI_MAX_OP_BYTES", self.config.max_op_bytes.to_string())
                .env("LINLI_ACCESS_TOKEN_TTL_SECS", "86400")
                .env("LINLI_LOG", "error")
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", linli_bin().display()));
            let stdout = child.stdout.take().expect("piped stdout");
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            if let Some(base) = line.trim().strip_prefix("linli listening on ") {
                self.base = base.to_string();
                self.bind = base.trim_start_matches("http://").to_string();
                // Keep draining stdout so the server never blocks on a full pipe.
                std::thread::spawn(move || {
                    let mut sink = String::new();
                    while reader.read_line(&mut sink).is_ok_and(|n| n > 0) {
                        sink.clear();
                    }
                });
                self.child = Some(child);
                return;
            }
            let _ = child.kill();
            let _ = child.wait();
            assert!(attempt < 49, "linli serve did not start: {line:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A server this crate did not start (the demo's in-process server): [`ServerProc::kill`] does nothing and
    /// [`ServerProc::restart`] panics.
    pub fn external(base: &str, data_dir: &Path) -> ServerProc {
        ServerProc {
            child: None,
            base: base.to_string(),
            bind: base.trim_start_matches("http://").to_string(),
            data_dir: data_dir.to_path_buf(),
            config: ServerConfig::default(),
            external: true,
        }
    }

    /// SIGKILL: no shutdown, no flush beyond what SQLite already made durable.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same data directory and port.
    pub fn restart(&mut self) {
        assert!(
            !self.external,
            "restart of a server that is not a child process"
        );
        self.kill();
        self.spawn();
    }

    /// Whether the process is running.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// The SQLite file.
    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("linli.sqlite3")
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        self.kill();
    }
}
