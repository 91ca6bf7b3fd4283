//! `GET /healthz` (the database answers and the replica is loaded) and `GET /metrics` (Prometheus text).

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::community;
use crate::error::{ApiError, ProblemDoc};
use crate::routes::with_conn;
use crate::state::AppState;

/// Liveness and readiness in one: 200 when the database answers. `last_seq` is the number of ops stored in every
/// community (the sum of their last sequence numbers; with one community, its last sequence number), and
/// `communities` each community's own.
#[utoipa::path(get, path = "/healthz", tag = "meta", responses((status = 200, description = "Ready", content_type = "application/json", example = json!({"status": "ok", "last_seq": 183001, "version": "0.1.0"})), (status = 500, description = "The database does not answer", body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn healthz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let heads = with_conn(state.pool.clone(), |c| Ok(community::heads(c)?)).await?;
    let stored: i64 = heads.iter().map(|(_, seq)| seq).sum();
    let communities: Vec<_> = heads
        .iter()
        .map(|(id, seq)| json!({"id": id, "last_seq": seq}))
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "status": "ok",
        "last_seq": stored,
        "communities": communities,
        "version": env!("CARGO_PKG_VERSION"),
    })))
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "meta", responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain")))]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let mut text = state.metrics.render();
    state.hasher.render_metrics(&mut text);
    state.throttle.render_metrics(&mut text);
    // Loaded on first request, evicted least recently used under the budget (engine.rs).
    state.engines.render_metrics(&mut text);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(text)
}
