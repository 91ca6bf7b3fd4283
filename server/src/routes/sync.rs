//! `POST /v1/sync`: one push-and-pull round trip for an enrolled device, in its user's community's log.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::auth::Auth;
use crate::error::{ApiError, ProblemDoc};
use crate::ingest::Pusher;
use crate::routes::blocking;
use crate::state::AppState;
use crate::{body, protocol};

/// The handler.
#[utoipa::path(post, path = "/v1/sync", tag = "sync", security(("bearer" = [])),
    request_body(content = crate::openapi::SyncRequestDoc, description = "`sync_core::sync::SyncRequest` (docs/protocol.md section 8); may be gzip-encoded", content_type = "application/json",
        example = json!({"protocol": 1, "cursor": 1200, "limit": 500, "ops": [{"author": "0193…", "body": {}, "entity": "4be7…", "id": "019a…", "kind": "ticket.take", "replica": "5f0c…", "time": {"logical": 0, "wall_ms": 1_795_766_580_000_i64}, "v": 1}]})),
    responses(
        (status = 200, description = "`sync_core::sync::SyncResponse`: acknowledgements and a page of visible ops", body = crate::openapi::SyncResponseDoc, content_type = "application/json",
            example = json!({"protocol": 1, "acked": ["019a…"], "ops": [], "cursor": 1350, "has_more": false, "server_time": {"logical": 0, "wall_ms": 1_795_766_581_234_i64}})),
        (status = 400, description = "Malformed request, unreadable op, clock skew, unsupported protocol", body = ProblemDoc, content_type = "application/problem+json"), (status = 401, description = "Missing, invalid or expired token; device revoked", body = ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "Role or scope forbids an op; web token without device", body = ProblemDoc, content_type = "application/problem+json"), (status = 409, description = "Cursor beyond the server's last sequence number", body = ProblemDoc, content_type = "application/problem+json"), (status = 413, description = "A limit is exceeded", body = ProblemDoc, content_type = "application/problem+json"), (status = 422, description = "An op breaks a rule of the data", body = ProblemDoc, content_type = "application/problem+json"), (status = 426, description = "Upgrade required", body = ProblemDoc, content_type = "application/problem+json")
    ))]
pub async fn sync(
    state: web::Data<AppState>,
    auth: Auth,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let device = auth.device()?;
    let limits = state.config.limits;
    let bytes = body::read(&req, payload, limits.max_body_bytes).await?;
    let request = protocol::parse_sync(&bytes, &limits)?;
    let who = Pusher {
        device,
        user: auth.user.id,
        role: auth.user.role,
    };
    let pushed = request.ops.len();
    // A device syncs its user's community, the only one its ops may belong to.
    let community = auth.community(None)?;
    let engines = state.engines.clone();
    let synced = blocking(move || {
        engines
            .get(community)?
            .sync(who, request, &limits, crate::now_ms())
    })
    .await?;
    if synced.stored > 0 {
        state.metrics.batch(pushed, synced.stored);
    }
    state.metrics.pulled(synced.response.ops.len());
    tracing::info!(
        device = %device,
        pushed,
        stored = synced.stored,
        pulled = synced.response.ops.len(),
        cursor = synced.response.cursor,
        "sync"
    );
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(synced.response.to_json()))
}
