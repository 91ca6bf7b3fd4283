//! Getting tokens: `POST /v1/auth/login` (web login with a password: an access token without a device),
//! `POST /v1/devices/enrol` (a phone exchanges a one-time enrolment code for its device id and tokens) and
//! `POST /v1/auth/refresh` (a refresh token for a new access token and a new refresh token; the old one stops
//! working, and using it again revokes every refresh token of the device). `POST /v1/auth/throttle/lift` (admin)
//! lifts the login throttle of a username or an address.
//!
//! A login is throttled first (no hash for a refused attempt), reads the stored hash and gives the connection
//! back, then waits for one of the hashing threads: never a database connection held while argon2 runs.

use actix_web::{HttpRequest, HttpResponse, web};
use linli_sync_core::rights::Role;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

use crate::auth::Auth;
use crate::error::{ApiError, ProblemDoc};
use crate::identity::{self, Device, IdentityError};
use crate::password::Verdict;
use crate::routes::{now_i64, with_conn};
use crate::state::AppState;

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
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", request_body = LoginRequest, responses((status = 200, body = LoginTokens, description = "An access token without a device"), (status = 401, description = "invalid_credentials", body = ProblemDoc, content_type = "application/problem+json"), (status = 429, description = "too_many_attempts: throttled (see `Retry-After`); the right password is refused too until then", body = ProblemDoc, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds until an attempt is allowed again")))))]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let LoginRequest { username, password } = body.into_inner();
    let address = req.peer_addr().map(|a| a.ip());
    let attempt = admit(&state, &username, address).await?;
    let pool = state.pool.clone();
    let name = username.clone();
    let found = with_conn(pool, move |c| Ok(identity::credentials(c, &name)?)).await?;
    let stored = found.as_ref().and_then(|(_, hash)| hash.clone());
    // Unknown users and users without a password are checked against a dummy hash: the same work, the same time.
    let verdict = match state.hasher.verify(password.clone(), stored).await {
        Ok(v) => v,
        Err(e) => {
            state.throttle.cancelled(attempt);
            return Err(e.into());
        }
    };
    let (user, rehash) = match (found, verdict) {
        (Some((user, _)), Verdict::Match { rehash }) => (user, rehash),
        _ => return Err(IdentityError::BadCredentials.into()),
    };
    state.throttle.succeeded(attempt);
    if rehash {
        upgrade_hash(&state, user.id, password).await;
    }
    Ok(HttpResponse::Ok().json(LoginTokens {
        user_id: user.id.to_string(),
        role: user.role_name().to_string(),
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
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "auth", request_body = RefreshRequest, responses((status = 200, body = DeviceTokens, description = "New tokens; the old refresh token stops working"), (status = 401, description = "invalid_refresh_token (unknown, expired, or already used: then every refresh token of the device is revoked) or device_revoked", body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn refresh(
    state: web::Data<AppState>,
    body: web::Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let pool = state.pool.clone();
    let ttl = refresh_ttl_ms(&state);
    let token = body.into_inner().refresh_token;
    let (device, next) = with_conn(pool, move |c| {
        identity::refresh(c, &token, now_i64(), ttl).map_err(|e| {
            if let IdentityError::RefreshTokenReused { device } = &e {
                tracing::warn!(device = %device, "a rotated refresh token was used again: its family is revoked");
            }
            ApiError::from(e)
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(device_tokens(&state, &device, next)?))
}

/// Admits a login attempt or refuses it with `429`. Refusals are not logged (a flood is thousands a second;
/// `linli_login_throttled_total` counts them).
async fn admit(
    state: &AppState,
    username: &str,
    address: Option<IpAddr>,
) -> Result<crate::throttle::Attempt, ApiError> {
    let refused = match state.throttle.admit(username, address) {
        Ok(attempt) => return Ok(attempt),
        Err(refused) => refused,
    };
    // A lift left by `linli user unthrottle` may be waiting in the database (read at most once a second).
    let mut again = Err(refused);
    if let Some(since) = state.throttle.lifts_due() {
        let lifts = with_conn(state.pool.clone(), move |c| {
            Ok(identity::throttle_lifts_since(c, since)?)
        })
        .await?;
        if !lifts.is_empty() {
            state.throttle.apply_lifts(&lifts);
            again = state.throttle.admit(username, address);
        }
    }
    again.map_err(|r| ApiError::TooManyAttempts {
        retry_after_secs: r.retry_after_secs,
        detail: "too many login attempts for this username or from this address",
    })
}

/// Replaces a stored hash of older parameters after a successful login; a failure is logged, the login stands.
async fn upgrade_hash(state: &AppState, user: linli_sync_core::ids::UserId, password: String) {
    let hash = match state.hasher.hash(password).await {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(error = %e, "password rehash skipped");
            return;
        }
    };
    let written = with_conn(state.pool.clone(), move |c| {
        Ok(identity::set_password_hash(c, user, &hash)?)
    })
    .await;
    if let Err(e) = written {
        tracing::warn!(error = %e, "password rehash not stored");
    }
}

/// `POST /v1/auth/throttle/lift` body: a username, an address, or both.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct LiftThrottle {
    /// The login name whose throttle is lifted (known or not).
    #[serde(default)]
    pub username: Option<String>,
    /// The client address whose throttle is lifted (an IPv6 address lifts its /64).
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "192.0.2.7")]
    pub address: Option<IpAddr>,
}

/// What a lift found.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LiftedThrottle {
    /// Whether the username had spent attempts (it may log in at once now either way).
    pub username_was_throttled: Option<bool>,
    /// Whether the address had spent attempts.
    pub address_was_throttled: Option<bool>,
}

/// Lifts the login throttle of a username or an address (admin only).
#[utoipa::path(post, path = "/v1/auth/throttle/lift", tag = "admin", security(("bearer" = [])), request_body = LiftThrottle, responses((status = 200, body = LiftedThrottle, description = "Lifted: the next attempt is allowed"), (status = 400, description = "invalid_request: neither a username nor an address", body = ProblemDoc, content_type = "application/problem+json"), (status = 401, description = "Not authenticated", body = ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "Not an admin", body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn lift_throttle(
    state: web::Data<AppState>,
    auth: Auth,
    body: web::Json<LiftThrottle>,
) -> Result<HttpResponse, ApiError> {
    auth.require(&[Role::Admin])?;
    let LiftThrottle { username, address } = body.into_inner();
    if username.is_none() && address.is_none() {
        return Err(ApiError::invalid(
            "name a `username`, an `address`, or both",
        ));
    }
    // An admin of one community lifts the throttle of their community's people only (an unknown username is
    // throttled like any other, so lifting it reveals nothing).
    if let Some(name) = username.clone().filter(|_| auth.user.community.is_some()) {
        let own = auth.user.community;
        with_conn(state.pool.clone(), move |c| {
            match identity::user_by_name(c, &name) {
                Ok(user) if user.community != own => Err(ApiError::other_community("user")),
                Ok(_) | Err(IdentityError::NoSuchUser) => Ok(()),
                Err(e) => Err(e.into()),
            }
        })
        .await?;
    }
    // An address is not of one community: its throttle holds back the logins of every community's people behind it.
    // A community's admin lifts it only while theirs is the only community; with several, a district admin does
    // (review of issue 11).
    if address.is_some() && auth.user.community.is_some() {
        let communities = with_conn(state.pool.clone(), |c| Ok(crate::community::list(c)?)).await?;
        if communities.len() > 1 {
            return Err(ApiError::forbidden(
                "an address is shared by every community: a district admin lifts its throttle",
            ));
        }
    }
    let lifted = LiftedThrottle {
        username_was_throttled: username.as_deref().map(|u| state.throttle.lift_user(u)),
        address_was_throttled: address.map(|a| state.throttle.lift_address(a)),
    };
    tracing::info!(admin = %auth.user.id, "login throttle lifted");
    Ok(HttpResponse::Ok().json(lifted))
}
