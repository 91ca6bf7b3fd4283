//! Managing communities, people and devices: `POST /v1/communities` (district admin), `GET /v1/communities`,
//! `POST /v1/users` (admin: in their community; a district admin names one), `POST /v1/enrolment-codes` (admin for anyone; a grid
//! worker for themself or a volunteer), `POST /v1/devices/{id}/revoke` (admin).

use actix_web::{HttpResponse, web};
use linli_sync_core::ids::{ReplicaId, UserId};
use linli_sync_core::rights::Role;
use serde::{Deserialize, Serialize};

use crate::auth::Auth;
use crate::community::CommunityId;
use crate::error::{ApiError, ProblemDoc};
use crate::identity;
use crate::routes::{now_i64, with_conn};
use crate::state::AppState;

/// `POST /v1/users` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewUser {
    /// Login name (unique).
    pub username: String,
    /// `admin`, `grid_worker` or `volunteer`.
    #[schema(value_type = String, example = "volunteer")]
    pub role: Role,
    /// For web logins; phones use enrolment codes instead.
    pub password: Option<String>,
    /// The community the user belongs to: a district admin names it; an admin's users land in the admin's own
    /// community (naming another is refused `other_community`).
    #[schema(value_type = Option<i64>)]
    pub community: Option<CommunityId>,
}

/// A user as returned.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserOut {
    /// Id.
    pub id: String,
    /// Login name.
    pub username: String,
    /// Role: `admin`, `grid_worker`, `volunteer`, or `district_admin`.
    #[schema(example = "volunteer")]
    pub role: String,
    /// Their community (absent for a district admin).
    #[schema(value_type = Option<i64>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub community: Option<CommunityId>,
}

impl From<identity::User> for UserOut {
    fn from(user: identity::User) -> UserOut {
        UserOut {
            id: user.id.to_string(),
            role: user.role_name().to_string(),
            username: user.username,
            community: user.community,
        }
    }
}

/// `POST /v1/enrolment-codes` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewCode {
    /// The user the device will belong to.
    #[schema(value_type = String)]
    pub user_id: UserId,
    /// A label for the device ("Li's phone").
    #[serde(default)]
    pub label: String,
}

/// An issued code.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CodeOut {
    /// The one-time code, shown only now.
    pub code: String,
    /// The user it enrols a device for.
    pub user_id: String,
    /// When it stops working (ms since the epoch).
    pub expires_ms: i64,
}

/// `POST /v1/communities` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewCommunity {
    /// Its name, e.g. 幸福里社区.
    pub name: String,
    /// The street office, e.g. 城东街道.
    #[serde(default)]
    pub street_office: String,
}

/// Creates a community (district admin only); its admins are then created with `POST /v1/users` naming it.
#[utoipa::path(post, path = "/v1/communities", tag = "admin", security(("bearer" = [])), request_body = NewCommunity, responses((status = 201, body = crate::community::Community, description = "Created"), (status = 401, description = "Not authenticated", body = ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "Not a district admin", body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn add_community(
    state: web::Data<AppState>,
    auth: Auth,
    body: web::Json<NewCommunity>,
) -> Result<HttpResponse, ApiError> {
    auth.require_district()?;
    let NewCommunity {
        name,
        street_office,
    } = body.into_inner();
    if name.trim().is_empty() || name.chars().count() > 100 {
        return Err(ApiError::invalid("name: 1 to 100 characters"));
    }
    let community = with_conn(state.pool.clone(), move |c| {
        Ok(crate::community::create(
            c,
            name.trim(),
            street_office.trim(),
            now_i64(),
        )?)
    })
    .await?;
    tracing::info!(community = %community.id, "community created");
    Ok(HttpResponse::Created().json(community))
}

/// The communities the caller may see: every one for a district admin, their own for anybody else.
#[utoipa::path(get, path = "/v1/communities", tag = "admin", security(("bearer" = [])), responses((status = 200, body = Vec<crate::community::Community>, description = "The communities"), (status = 401, description = "Not authenticated", body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn communities(state: web::Data<AppState>, auth: Auth) -> Result<HttpResponse, ApiError> {
    let own = auth.user.community;
    let list = with_conn(state.pool.clone(), move |c| {
        let all = crate::community::list(c)?;
        Ok(all
            .into_iter()
            .filter(|x| own.is_none_or(|o| o == x.id))
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Creates a user (admin only).
#[utoipa::path(post, path = "/v1/users", tag = "admin", security(("bearer" = [])), request_body = NewUser, responses((status = 201, body = UserOut, description = "Created"), (status = 401, description = "Not authenticated", body = ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "Not an admin", body = ProblemDoc, content_type = "application/problem+json"), (status = 409, description = "username_taken", body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn add_user(
    state: web::Data<AppState>,
    auth: Auth,
    body: web::Json<NewUser>,
) -> Result<HttpResponse, ApiError> {
    auth.require(&[Role::Admin])?;
    let NewUser {
        username,
        role,
        password,
        community,
    } = body.into_inner();
    let community = auth.community(community)?;
    if username.trim().is_empty() || username.chars().count() > 64 {
        return Err(ApiError::invalid("username: 1 to 64 characters"));
    }
    // Hashed on the hashing threads, before a connection is taken.
    let hash = match password {
        Some(p) => Some(state.hasher.hash(p).await?),
        None => None,
    };
    let pool = state.pool.clone();
    let user = with_conn(pool, move |c| {
        Ok(identity::add_user(
            c,
            username.trim(),
            role,
            Some(community),
            hash.as_deref(),
            now_i64(),
        )?)
    })
    .await?;
    Ok(HttpResponse::Created().json(UserOut::from(user)))
}

/// Issues a one-time enrolment code.
#[utoipa::path(post, path = "/v1/enrolment-codes", tag = "admin", security(("bearer" = [])), request_body = NewCode, responses((status = 201, body = CodeOut, description = "The code, shown only now"), (status = 401, description = "Not authenticated", body = ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "Not allowed for this user", body = ProblemDoc, content_type = "application/problem+json"), (status = 404, description = "No such user", body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn issue_code(
    state: web::Data<AppState>,
    auth: Auth,
    body: web::Json<NewCode>,
) -> Result<HttpResponse, ApiError> {
    auth.require(&[Role::Admin, Role::GridWorker])?;
    let NewCode { user_id, label } = body.into_inner();
    let pool = state.pool.clone();
    let ttl = i64::try_from(state.config.enrolment_code_ttl_secs.saturating_mul(1000))
        .unwrap_or(i64::MAX);
    let caller = auth.user.clone();
    let (code, expires) = with_conn(pool, move |conn| {
        let target = match identity::user_by_id(conn, user_id) {
            Err(identity::IdentityError::NoSuchUser) if !caller.is_district_admin() => {
                return Err(ApiError::other_community("user"));
            }
            found => found?,
        };
        if !(caller.is_district_admin()
            || (caller.community.is_some() && caller.community == target.community))
        {
            return Err(ApiError::other_community("user"));
        }
        let allowed = match caller.role {
            Role::Admin => true,
            Role::GridWorker => target.id == caller.id || target.role == Role::Volunteer,
            Role::Volunteer => false,
        };
        if !allowed {
            return Err(ApiError::forbidden(
                "a grid worker enrols devices for themself and for volunteers",
            ));
        }
        let now = now_i64();
        let code = identity::issue_code(conn, target.id, caller.id, &label, now, ttl)?;
        Ok((code, now.saturating_add(ttl)))
    })
    .await?;
    Ok(HttpResponse::Created().json(CodeOut {
        code,
        user_id: user_id.to_string(),
        expires_ms: expires,
    }))
}

/// Revokes a device (admin only): its tokens stop working, its next sync gets `device_revoked`, and the card
/// spending rights it held return to the pool (ADR 0001).
#[utoipa::path(post, path = "/v1/devices/{id}/revoke", tag = "admin", security(("bearer" = [])), params(("id" = String, Path, description = "The device id")), responses((status = 204, description = "Revoked"), (status = 401, description = "Not authenticated", body = ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "Not an admin", body = ProblemDoc, content_type = "application/problem+json"), (status = 404, description = "No such device", body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn revoke_device(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    auth.require(&[Role::Admin])?;
    let id: ReplicaId = path
        .into_inner()
        .parse()
        .map_err(|_| ApiError::invalid("the device id is not a UUID"))?;
    let pool = state.pool.clone();
    let caller = auth.user.clone();
    let community = with_conn(pool, move |c| {
        let device = match identity::device(c, id) {
            Err(identity::IdentityError::NoSuchDevice) if !caller.is_district_admin() => {
                return Err(ApiError::other_community("device"));
            }
            found => found?,
        };
        if !(caller.is_district_admin()
            || (caller.community.is_some() && caller.community == device.user.community))
        {
            return Err(ApiError::other_community("device"));
        }
        identity::revoke_device(c, id, now_i64())?;
        device
            .user
            .community
            .ok_or_else(ApiError::community_required)
    })
    .await?;
    // The device can push nothing more, so the card rights it still holds go back to the pool (`revocation.rs`,
    // ADR 0001). A revocation repeated after a failure here returns what is still held; a second one finds nothing.
    let engines = state.engines.clone();
    let author = auth.user.id;
    let returned = crate::routes::blocking(move || {
        let engine = engines.get(community)?;
        crate::revocation::return_rights(&engine, id, author, crate::now_ms())
    })
    .await?;
    if !returned.is_empty() {
        state.metrics.batch(returned.len(), returned.len());
    }
    tracing::info!(device = %id, cards = returned.len(), "device revoked");
    Ok(HttpResponse::NoContent().finish())
}
