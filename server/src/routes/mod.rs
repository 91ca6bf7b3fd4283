//! The HTTP routes. Handlers are thin: read the request into domain types, call one function, map the result.
//! Every failure, including those of actix-web's own extractors, is answered with the problem+json envelope.

pub mod admin;
pub mod auth;
pub mod cards;
pub mod dashboard;
pub mod health;
pub mod reports;
pub mod snapshot;
pub mod sync;

use actix_web::error::{JsonPayloadError, QueryPayloadError};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};

use linli_sync_core::redact;

use crate::error::ApiError;

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/metrics", web::get().to(health::metrics))
        .route("/openapi.json", web::get().to(crate::openapi::openapi_json))
        .route("/v1/sync", web::post().to(sync::sync))
        .route("/v1/snapshot", web::get().to(snapshot::snapshot))
        .route("/v1/auth/login", web::post().to(auth::login))
        .route("/v1/auth/refresh", web::post().to(auth::refresh))
        .route(
            "/v1/auth/throttle/lift",
            web::post().to(auth::lift_throttle),
        )
        .route("/v1/devices/enrol", web::post().to(auth::enrol))
        .route("/v1/users", web::post().to(admin::add_user))
        .route("/v1/communities", web::post().to(admin::add_community))
        .route("/v1/communities", web::get().to(admin::communities))
        .route("/v1/enrolment-codes", web::post().to(admin::issue_code))
        .route(
            "/v1/devices/{id}/revoke",
            web::post().to(admin::revoke_device),
        )
        .route("/v1/cards/{volunteer}/grants", web::post().to(cards::grant))
        .route("/v1/reports/{name}", web::get().to(reports::report))
        .route("/v1/fees/payments", web::post().to(reports::record_payment))
        .route("/", web::get().to(dashboard::index))
        .route("/static/{path:.*}", web::get().to(dashboard::file));
}

/// Unknown routes.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    ApiError::NotFound {
        // The path is not quoted back: it is the client's text.
        detail: format!("no route for this {} request", req.method()),
    }
    .error_response()
}

/// JSON bodies of the small endpoints: problem+json on any failure.
pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(64 * 1024)
        .error_handler(|err, _| json_error(&err).into())
}

/// Query strings: problem+json on any failure.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err: QueryPayloadError, _| {
        // The parameter's value is not quoted back: it may be personal data (`redact`).
        let detail = match &err {
            QueryPayloadError::Deserialize(e) => redact::message(&e.to_string()),
            _ => "invalid value".into(),
        };
        ApiError::invalid(format!("query string: {detail}")).into()
    })
}

fn json_error(err: &JsonPayloadError) -> ApiError {
    match err {
        JsonPayloadError::Deserialize(e) if e.is_data() => {
            ApiError::invalid(redact::serde_error(e))
        }
        JsonPayloadError::Deserialize(e) => ApiError::BadRequest {
            code: "malformed_json",
            detail: redact::serde_error(e),
        },
        JsonPayloadError::Overflow { limit }
        | JsonPayloadError::OverflowKnownLength { limit, .. } => ApiError::TooLarge {
            limit_name: "max_json_bytes",
            limit: *limit,
        },
        JsonPayloadError::ContentType => ApiError::invalid("send `Content-Type: application/json`"),
        _ => ApiError::invalid("the body could not be read"),
    }
}

/// The server clock in milliseconds, as `i64` for storage.
pub(crate) fn now_i64() -> i64 {
    i64::try_from(crate::now_ms()).unwrap_or(i64::MAX)
}

/// Runs blocking database work off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    web::block(f).await?
}

/// Runs `f` with a pooled connection, off the async workers.
pub(crate) async fn with_conn<T: Send + 'static>(
    pool: crate::db::DbPool,
    f: impl FnOnce(&mut crate::db::Conn) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    blocking(move || {
        let mut conn = pool.get().map_err(|e| ApiError::Internal {
            detail: e.to_string(),
        })?;
        f(&mut conn)
    })
    .await
}
