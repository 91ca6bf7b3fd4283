//! `GET /healthz` (the database answers; communities load on their first request) and `GET /metrics` (Prometheus text).

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::auth::Auth;
use crate::community;
use crate::error::{ApiError, ProblemDoc};
use crate::routes::with_conn;
use crate::state::AppState;

/// Liveness and readiness in one: 200 when the database answers. Without a token it says no more than that and
/// how many communities there are, `community_count` (review of issue 11: an unauthenticated caller listed every
/// community and its activity). With an access token it adds `communities`, the heads the caller may see — every
/// community's for a district admin, their own community's for anybody else — and `last_seq`, their sum. Each
/// field has one type whoever asks (review of h11r: `communities` was a number or a list by the caller).
#[utoipa::path(get, path = "/healthz", tag = "meta", responses((status = 200, description = "Ready", content_type = "application/json", example = json!({"status": "ok", "community_count": 2, "version": "0.1.0"})), (status = 500, description = "The database does not answer", body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn healthz(
    state: web::Data<AppState>,
    auth: Option<Auth>,
) -> Result<HttpResponse, ApiError> {
    let heads = with_conn(state.pool.clone(), |c| Ok(community::heads(c)?)).await?;
    let Some(auth) = auth else {
        return Ok(HttpResponse::Ok().json(json!({
            "status": "ok",
            "community_count": heads.len(),
            "version": env!("CARGO_PKG_VERSION"),
        })));
    };
    let visible: Vec<_> = heads
        .iter()
        .filter(|(id, _)| auth.user.is_district_admin() || auth.user.community == Some(*id))
        .collect();
    let stored: i64 = visible.iter().map(|(_, seq)| seq).sum();
    let communities: Vec<_> = visible
        .iter()
        .map(|(id, seq)| json!({"id": id, "last_seq": seq}))
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "status": "ok",
        "community_count": heads.len(),
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
