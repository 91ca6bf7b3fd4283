//! Memory under a burst of failed logins, measured on the real `linli serve` child from `/proc/<pid>/status`.
//! Found by probing the server as an attacker would, with no token at all: resident memory went from 54 MB to
//! 1.2 GB after 64 wrong passwords at 16 in parallel (6.3 GB after 256 at 64), never given back, because each
//! argon2 hash allocated its 19 MiB on whatever blocking thread ran it and glibc kept every thread's arena. Now
//! at most `LINLI_HASH_THREADS` hashes run at once, each on a long-lived thread that reuses one buffer.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::{PASSWORD, Server};

const HASH_THREADS: u64 = 2;
/// One argon2 buffer (19 MiB, the default memory cost) in KiB.
const HASH_KIB: u64 = 19 * 1024;
/// Room for everything else a burst allocates (connections, request buffers, allocator slack), in KiB.
const SLACK_KIB: u64 = 48 * 1024;

/// `(VmRSS, VmHWM)` of the server, in KiB.
fn memory(server: &Server) -> (u64, u64) {
    (
        server.proc_status("VmRSS") / 1024,
        server.proc_status("VmHWM") / 1024,
    )
}

/// `total` wrong-password logins from `parallel` clients at once; every answer must be 401.
async fn burst(server: &Server, total: usize, parallel: usize) {
    let client = reqwest::Client::new();
    let tasks: Vec<_> = (0..parallel)
        .map(|i| {
            let client = client.clone();
            let url = format!("{}/v1/auth/login", server.base);
            actix_web::rt::spawn(async move {
                let mut statuses = Vec::new();
                for j in 0..total / parallel {
                    let res = client
                        .post(&url)
                        .json(&json!({"username": "admin", "password": format!("wrong {i} {j}")}))
                        .send()
                        .await
                        .expect("login sent");
                    statuses.push(res.status());
                }
                statuses
            })
        })
        .collect();
    for t in tasks {
        let statuses = t.await.expect("task");
        assert!(
            statuses.iter().all(|s| *s == StatusCode::UNAUTHORIZED),
            "{statuses:?}"
        );
    }
}

#[actix_web::test]
async fn a_parallel_burst_of_failed_logins_keeps_memory_within_the_hashing_threads_buffers() {
    let threads = HASH_THREADS.to_string();
    let server = Server::start_with(
        "warn",
        &[
            ("LINLI_HASH_THREADS", threads.as_str()),
            ("LINLI_HASH_QUEUE", "64"),
            // The throttle would refuse most of the burst before any hash; this test is about the hashes.
            ("LINLI_LOGIN_USER_BURST", "100000"),
            ("LINLI_LOGIN_ADDRESS_BURST", "100000"),
        ],
    );
    // One good login first: the server is warm (a connection, one hashing buffer) before the baseline.
    let res = reqwest::Client::new()
        .post(format!("{}/v1/auth/login", server.base))
        .json(&json!({"username": "admin", "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    assert_eq!(res.status(), StatusCode::OK);
    let rss_before = server.proc_status("VmRSS") / 1024;

    burst(&server, 64, 16).await;
    let (rss_after, hwm_after) = memory(&server);
    let bound = rss_before + HASH_THREADS * HASH_KIB + SLACK_KIB;
    eprintln!(
        "VmRSS {rss_before} kB before, {rss_after} kB after 64 at 16 in parallel; VmHWM {hwm_after} kB; bound {bound} kB"
    );
    assert!(
        hwm_after <= bound,
        "peak {hwm_after} kB > bound {bound} kB (RSS before {rss_before} kB)"
    );

    // A second burst finds the same buffers: no growth.
    burst(&server, 64, 16).await;
    let (rss_again, hwm_again) = memory(&server);
    eprintln!("after a second burst: VmRSS {rss_again} kB, VmHWM {hwm_again} kB");
    assert!(hwm_again <= bound, "peak {hwm_again} kB > bound {bound} kB");
    assert!(
        rss_again <= rss_after + 16 * 1024,
        "RSS grew from {rss_after} kB to {rss_again} kB"
    );
}
