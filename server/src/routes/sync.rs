//! `POST /v1/sync`: one push-and-pull round trip for an enrolled device.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::app::AppState;
use crate::auth::Auth;
use crate::error::ApiError;
use crate::ingest::Pusher;
use crate::routes::blocking;
use crate::{body, protocol};

/// The handler.
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
    let engine = state.engine.clone();
    let synced = blocking(move || engine.sync(who, request, &limits, crate::now_ms())).await?;
    if synced.stored > 0 {
        state.metrics.batch(pushed, synced.stored);
    }
    state.metrics.pulled(synced.response.ops.len());
    Ok(HttpResponse::Ok().json(synced.response))
}
