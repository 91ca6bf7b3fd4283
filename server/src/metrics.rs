//! Prometheus metrics in the text exposition format, kept in process: request counts and latencies per route
//! pattern and status, ops ingested, and the sizes of pushed batches. Labels carry route patterns, never ids.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Upper bounds of the batch size histogram.
const BATCH_BUCKETS: [u64; 8] = [1, 10, 50, 100, 500, 1000, 5000, 10_000];
/// Upper bounds of the latency histogram, in seconds.
const LATENCY_BUCKETS: [f64; 9] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

/// The counters.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    ops_ingested: AtomicU64,
    ops_pulled: AtomicU64,
    batches: Mutex<Histogram>,
}

#[derive(Debug, Default, Clone)]
struct Histogram {
    buckets: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, bounds: &[f64], v: f64) {
        if self.buckets.len() != bounds.len() {
            self.buckets = vec![0; bounds.len()];
        }
        for (b, bound) in self.buckets.iter_mut().zip(bounds) {
            if v <= *bound {
                *b += 1;
            }
        }
        self.sum += v;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str, bounds: &[f64]) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, bound) in bounds.iter().enumerate() {
            let n = self.buckets.get(i).copied().unwrap_or(0);
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Metrics {
    /// Counts a stored batch.
    pub fn batch(&self, pushed: usize, stored: usize) {
        self.ops_ingested
            .fetch_add(stored as u64, Ordering::Relaxed);
        let bounds: Vec<f64> = BATCH_BUCKETS.iter().map(|b| *b as f64).collect();
        lock(&self.batches).observe(&bounds, pushed as f64);
    }

    /// Counts pulled ops.
    pub fn pulled(&self, n: usize) {
        self.ops_pulled.fetch_add(n as u64, Ordering::Relaxed);
    }

    fn request(&self, route: &str, status: u16, secs: f64) {
        *lock(&self.requests)
            .entry((route.to_string(), status))
            .or_default() += 1;
        lock(&self.latency)
            .entry(route.to_string())
            .or_default()
            .observe(&LATENCY_BUCKETS, secs);
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP linli_http_requests_total HTTP requests by route pattern and status.\n",
        );
        out.push_str("# TYPE linli_http_requests_total counter\n");
        for ((route, status), n) in lock(&self.requests).iter() {
            let _ = writeln!(
                out,
                "linli_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        out.push_str(
            "# HELP linli_http_request_duration_seconds Request latency by route pattern.\n",
        );
        out.push_str("# TYPE linli_http_request_duration_seconds histogram\n");
        for (route, h) in lock(&self.latency).iter() {
            h.render(
                &mut out,
                "linli_http_request_duration_seconds",
                &format!("route=\"{route}\""),
                &LATENCY_BUCKETS,
            );
        }
        out.push_str("# HELP linli_ops_ingested_total Ops stored from pushes.\n");
        out.push_str("# TYPE linli_ops_ingested_total counter\n");
        let _ = writeln!(
            out,
            "linli_ops_ingested_total {}",
            self.ops_ingested.load(Ordering::Relaxed)
        );
        out.push_str("# HELP linli_ops_pulled_total Ops sent in pull pages.\n");
        out.push_str("# TYPE linli_ops_pulled_total counter\n");
        let _ = writeln!(
            out,
            "linli_ops_pulled_total {}",
            self.ops_pulled.load(Ordering::Relaxed)
        );
        out.push_str("# HELP linli_sync_batch_ops Ops per accepted push batch.\n");
        out.push_str("# TYPE linli_sync_batch_ops histogram\n");
        let bounds: Vec<f64> = BATCH_BUCKETS.iter().map(|b| *b as f64).collect();
        lock(&self.batches).render(&mut out, "linli_sync_batch_ops", "", &bounds);
        out
    }
}

/// Middleware: counts every request under its route pattern (unmatched requests as `unmatched`).
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let start = Instant::now();
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".into());
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let res = next.call(req).await?;
    if let Some(metrics) = metrics {
        metrics.request(&route, res.status().as_u16(), start.elapsed().as_secs_f64());
    }
    Ok(res)
}
