//! The front door under a login flood, measured on a real `linli serve` child over loopback: the answer time of a
//! wrong password for a known and for an unknown username (medians: equal times tell no names), the process's
//! memory (`VmRSS`, `VmHWM` from `/proc/<pid>/status`) around bursts of wrong passwords, and the latency of a
//! phone's `POST /v1/sync` while 16 clients send wrong passwords (p50/p99), with the throttle out of the way (the
//! hashing bound alone) and with the default throttle.
//!
//! Run: `cargo bench -p linli-server --bench login_flood`. `LINLI_BENCH_BIN=/path/to/linli` measures another
//! build of the server (an older one ignores the settings it does not know), for before/after figures.
//! Every request goes to 127.0.0.1, and every loop is bounded in count and time.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const PASSWORD: &str = "bench-admin-password";
const FLOOD_CLIENTS: usize = 16;
const SYNC_EVERY: Duration = Duration::from_millis(20);
/// Seconds of syncs measured, idle and during the flood.
const MEASURE_SECS: u64 = 15;

struct Server {
    child: Child,
    base: String,
    http: reqwest::Client,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn binary() -> String {
    std::env::var("LINLI_BENCH_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_linli").to_string())
}

/// Starts the server; `throttled` keeps the default login throttle, otherwise it is raised out of the way.
fn start(dir: &std::path::Path, throttled: bool) -> Server {
    let mut cmd = Command::new(binary());
    cmd.arg("serve")
        .env("LINLI_DATA_DIR", dir)
        .env("LINLI_BIND", "127.0.0.1:0")
        .env("LINLI_ADMIN_PASSWORD", PASSWORD)
        .env("LINLI_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if !throttled {
        cmd.env("LINLI_LOGIN_USER_BURST", "10000000")
            .env("LINLI_LOGIN_ADDRESS_BURST", "10000000")
            .env("LINLI_HASH_QUEUE", "1024");
    }
    let mut child = cmd.spawn().expect("linli starts");
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
        http: reqwest::Client::new(),
    }
}

impl Server {
    async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
        let mut req = self.http.post(format!("{}{path}", self.base)).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// `(VmRSS, VmHWM)` in MB.
    fn memory(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("proc status");
        let field = |name: &str| -> f64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
                .map_or(0.0, |kb| kb / 1024.0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    fn threads(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/task", self.child.id())).map_or(0, |d| d.count())
    }

    async fn metric(&self, name: &str) -> Option<f64> {
        let text = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
    }

    /// An enrolled phone's access token.
    async fn phone(&self) -> String {
        let (s, login) = self
            .post(
                "/v1/auth/login",
                None,
                &json!({"username": "admin", "password": PASSWORD}),
            )
            .await;
        assert_eq!(s, 200, "{login}");
        let admin = login["access_token"].as_str().expect("token").to_string();
        let (s, user) = self
            .post(
                "/v1/users",
                Some(&admin),
                &json!({"username": "butler", "role": "volunteer"}),
            )
            .await;
        assert_eq!(s, 201, "{user}");
        let (s, code) = self
            .post(
                "/v1/enrolment-codes",
                Some(&admin),
                &json!({"user_id": user["id"]}),
            )
            .await;
        assert_eq!(s, 201, "{code}");
        let (s, dev) = self
            .post("/v1/devices/enrol", None, &json!({"code": code["code"]}))
            .await;
        assert_eq!(s, 201, "{dev}");
        dev["access_token"].as_str().expect("token").to_string()
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    percentile(&v, 0.5)
}

/// Milliseconds of each sync of a phone that syncs every 20 ms (back to back when they take longer) for `secs`
/// seconds, sorted.
async fn sync_latencies(server: &Server, token: &str, secs: u64) -> Vec<f64> {
    let mut ms = Vec::new();
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        let t = Instant::now();
        let (s, body) = server
            .post(
                "/v1/sync",
                Some(token),
                &json!({"protocol": 1, "cursor": 0}),
            )
            .await;
        assert_eq!(s, 200, "{body}");
        let took = t.elapsed();
        ms.push(took.as_secs_f64() * 1000.0);
        if let Some(rest) = SYNC_EVERY.checked_sub(took) {
            actix_web::rt::time::sleep(rest).await;
        }
    }
    ms.sort_by(f64::total_cmp);
    ms
}

/// Wrong-password clients that run until `stop` (at most 20,000 requests and 120 s each); counts answers.
fn flood(
    server: &Server,
    stop: &Arc<AtomicBool>,
    answered: &Arc<AtomicU64>,
    throttled: &Arc<AtomicU64>,
) -> Vec<actix_web::rt::task::JoinHandle<()>> {
    (0..FLOOD_CLIENTS)
        .map(|i| {
            let http = reqwest::Client::new();
            let url = format!("{}/v1/auth/login", server.base);
            let (stop, answered, throttled) = (stop.clone(), answered.clone(), throttled.clone());
            actix_web::rt::spawn(async move {
                let deadline = Instant::now() + Duration::from_secs(120);
                for j in 0..20_000 {
                    if stop.load(Ordering::Relaxed) || Instant::now() > deadline {
                        break;
                    }
                    let body = json!({"username": "admin", "password": format!("guess {i} {j}")});
                    if let Ok(res) = http.post(&url).json(&body).send().await {
                        answered.fetch_add(1, Ordering::Relaxed);
                        if res.status().as_u16() == 429 {
                            throttled.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect()
}

async fn timing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start(dir.path(), false);
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for i in 0..41 {
        for (name, out) in [("admin", &mut known), ("nobody", &mut unknown)] {
            let t = Instant::now();
            let (s, _) = server
                .post(
                    "/v1/auth/login",
                    None,
                    &json!({"username": name, "password": format!("wrong {i}")}),
                )
                .await;
            assert_eq!(s, 401);
            // The first round warms the connection and the hashing buffer.
            if i > 0 {
                out.push(t.elapsed().as_secs_f64() * 1000.0);
            }
        }
    }
    let (k, u) = (median(known), median(unknown));
    println!(
        "| wrong password, known user (median of 40) | {k:.1} ms |\n| wrong password, unknown user (median of 40) | {u:.1} ms |\n| unknown ÷ known | {:.2} |",
        u / k
    );
}

async fn bursts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start(dir.path(), false);
    let (s, _) = server
        .post(
            "/v1/auth/login",
            None,
            &json!({"username": "admin", "password": PASSWORD}),
        )
        .await;
    assert_eq!(s, 200);
    let (rss0, _) = server.memory();
    println!(
        "| after one good login | {rss0:.0} | — | {} |",
        server.threads()
    );
    for (total, parallel) in [(20, 1), (64, 16), (256, 64)] {
        let t = Instant::now();
        let tasks: Vec<_> = (0..parallel)
            .map(|i| {
                let http = reqwest::Client::new();
                let url = format!("{}/v1/auth/login", server.base);
                actix_web::rt::spawn(async move {
                    for j in 0..total / parallel {
                        let body = json!({"username": "admin", "password": format!("w {i} {j}")});
                        let res = http.post(&url).json(&body).send().await.expect("sent");
                        assert_eq!(res.status().as_u16(), 401);
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("task");
        }
        let (rss, hwm) = server.memory();
        println!(
            "| +{total} wrong passwords, {parallel} at once ({:.1} s) | {rss:.0} | {hwm:.0} | {} |",
            t.elapsed().as_secs_f64(),
            server.threads()
        );
    }
    if let Some(max) = server.metric("linli_password_hash_concurrency_max").await {
        println!("\nmost hashes at once: {max}");
    }
}

async fn latency(throttled: bool) {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start(dir.path(), throttled);
    let token = server.phone().await;
    let idle = sync_latencies(&server, &token, MEASURE_SECS).await;
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let clients = flood(&server, &stop, &answered, &refused);
    // Let the flood reach its steady state first.
    actix_web::rt::time::sleep(Duration::from_secs(1)).await;
    let (answered0, refused0) = (
        answered.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed),
    );
    let t = Instant::now();
    let busy = sync_latencies(&server, &token, MEASURE_SECS).await;
    let secs = t.elapsed().as_secs_f64();
    let logins = answered.load(Ordering::Relaxed) - answered0;
    let throttled_logins = refused.load(Ordering::Relaxed) - refused0;
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.expect("flood client");
    }
    let label = if throttled {
        "default throttle"
    } else {
        "throttle out of the way"
    };
    println!(
        "| {label}: idle ({} syncs) | {:.1} | {:.1} | — |",
        idle.len(),
        percentile(&idle, 0.5),
        percentile(&idle, 0.99)
    );
    println!(
        "| {label}: {FLOOD_CLIENTS} clients sending wrong passwords ({} syncs) | {:.1} | {:.1} | {:.0} logins/s answered, {:.0}/s of them 429 |",
        busy.len(),
        percentile(&busy, 0.5),
        percentile(&busy, 0.99),
        logins as f64 / secs,
        throttled_logins as f64 / secs,
    );
    if let Some(max) = server.metric("linli_password_hash_concurrency_max").await {
        println!("| {label}: most hashes at once | {max} | | |");
    }
}

fn main() {
    println!("server binary: {}\n", binary());
    actix_web::rt::System::new().block_on(async {
        println!("| login answer | time |\n| --- | ---: |");
        timing().await;
        println!("\n| moment | VmRSS MB | VmHWM MB | threads |\n| --- | ---: | ---: | ---: |");
        bursts().await;
        println!(
            "\n| sync during a login flood | p50 ms | p99 ms | flood |\n| --- | ---: | ---: | --- |"
        );
        latency(false).await;
        latency(true).await;
    });
}
