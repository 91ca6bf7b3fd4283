//! Getting tokens: `POST /v1/auth/login` (web login with a password: an access token without a device),
//! `POST /v1/devices/enrol` (a phone exchanges a one-time enrolment code for its device id and tokens) and
//! `POST /v1/auth/refresh` (a refresh token for a new access token and a new refresh token; the old one stops
//! working).

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::error::{ApiError, ProblemDoc};
use crate::identity::{self, Device};
use crate::routes::{now_i64, with_conn};

/// `POST /v1/auth/login` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct LoginRequest {
    /// Login name.
    pub username: String,
    /// Password.
    pub password: String,
}

/// `POST /v1/devices/enrol` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct EnrolRequest {
    /// The one-time code (dashes and case do not matter).
    pub code: String,
}

/// `POST /v1/auth/refresh` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RefreshRequest {
    /// The refresh token.
    pub refresh_token: String,
}

/// Tokens for a device.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeviceTokens {
    /// The device's replica id: the `replica` of every op it writes.
    pub device_id: String,
    /// The user: the `author` of every op it writes.
    pub user_id: String,
    /// The user's role.
    pub role: String,
    /// Short-lived access token (`Authorization: Bearer …`).
    pub access_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Long-lived refresh token; keep it secret, use it once.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
}

/// A web login's token.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LoginTokens {
    /// The user.
    pub user_id: String,
    /// Their role.
    pub role: String,
    /// Access token (no device: it cannot sync).
    pub access_token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
    /// Always `Bearer`.
    pub token_type: &'static str,
}

fn device_tokens(
    state: &AppState,
    device: &Device,
    refresh_token: String,
) -> Result<DeviceTokens, ApiError> {
    Ok(DeviceTokens {
        device_id: device.id.to_string(),
        user_id: device.user.id.to_string(),
        role: device.user.role.to_string(),
        access_token: state
            .keys
            .issue(&device.user, Some(device.id), crate::now_ms() / 1000)?,
        expires_in: state.keys.ttl_secs(),
        refresh_token,
        token_type: "Bearer",
    })
}

fn refresh_ttl_ms(state: &AppState) -> i64 {
    i64::try_from(
        state
            .config
            .refresh_token_ttl_days
            .saturating_mul(86_400_000),
    )
    .unwrap_or(i64::MAX)
}

/// Web login.
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", request_body = LoginRequest, responses((status = 200, body = LoginTokens, description = "An access token without a device"), (status = 401, description = "invalid_credentials", body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn login(
    state: web::Data<AppState>,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let pool = state.pool.clone();
    let LoginRequest { username, password } = body.into_inner();
    let user = with_conn(pool, move |c| Ok(identity::login(c, &username, &password)?)).await?;
    Ok(HttpResponse::Ok().json(LoginTokens {
        user_id: user.id.to_string(),
        role: user.role.to_string(),
        access_token: state.keys.issue(&user, None, crate::now_ms() / 1000)?,
        expires_in: state.keys.ttl_secs(),
        token_type: "Bearer",
    }))
}

/// Device enrolment.
#[utoipa::path(post, path = "/v1/devices/enrol", tag = "auth", request_body = EnrolRequest, responses((status = 201, body = DeviceTokens, description = "The new device and its tokens"), (status = 401, description = "invalid_enrolment_code", body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn enrol(
    state: web::Data<AppState>,
    body: web::Json<EnrolRequest>,
) -> Result<HttpResponse, ApiError> {
    let pool = state.pool.clone();
    let ttl = refresh_ttl_ms(&state);
    let code = body.into_inner().code;
    let (device, refresh) = with_conn(pool, move |c| {
        Ok(identity::enrol(c, &code, now_i64(), ttl)?)
    })
    .await?;
    tracing::info!(device = %device.id, "device enrolled");
    Ok(HttpResponse::Created().json(device_tokens(&state, &device, refresh)?))
}

/// Token refresh.
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "auth", request_body = RefreshRequest, responses((status = 200, body = DeviceTokens, description = "New tokens; the old refresh token stops working"), (status = 401, description = "invalid_refresh_token or device_revoked", body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn refresh(
    state: web::Data<AppState>,
    body: web::Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let pool = state.pool.clone();
    let ttl = refresh_ttl_ms(&state);
    let token = body.into_inner().refresh_token;
    let (device, next) = with_conn(pool, move |c| {
        Ok(identity::refresh(c, &token, now_i64(), ttl)?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(device_tokens(&state, &device, next)?))
}
