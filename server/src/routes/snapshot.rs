//! `GET /v1/snapshot?protocol=1`: the merged state of the caller's scope, in their community, and the cursor to
//! pull from next.

use actix_web::{HttpResponse, web};
use linli_sync_core::rights::Viewer;
use serde::Deserialize;

use crate::auth::Auth;
use crate::error::{ApiError, ProblemDoc};
use crate::protocol::check_version;
use crate::routes::blocking;
use crate::state::AppState;

/// Query parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SnapshotQuery {
    /// The client's protocol version (defaults to the server's).
    pub protocol: Option<u64>,
}

/// The handler.
#[utoipa::path(get, path = "/v1/snapshot", tag = "sync", security(("bearer" = [])), params(SnapshotQuery),
    responses(
        (status = 200, description = "`sync_core::sync::Snapshot`: the merged state of the caller's scope and its cursor", body = crate::openapi::SnapshotDoc, content_type = "application/json"),
        (status = 401, description = "Missing, invalid or expired token; device revoked", body = ProblemDoc, content_type = "application/problem+json"), (status = 426, description = "Upgrade required", body = ProblemDoc, content_type = "application/problem+json")
    ))]
pub async fn snapshot(
    state: web::Data<AppState>,
    auth: Auth,
    query: web::Query<SnapshotQuery>,
) -> Result<HttpResponse, ApiError> {
    if let Some(v) = query.protocol {
        check_version(v)?;
    }
    let viewer = Viewer {
        user: auth.user.id,
        role: auth.user.role,
    };
    let community = auth.community(None)?;
    let engines = state.engines.clone();
    let snapshot =
        blocking(move || Ok(engines.get(community)?.snapshot(viewer, crate::now_ms()))).await?;
    Ok(HttpResponse::Ok().json(snapshot))
}
