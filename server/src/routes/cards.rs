//! `POST /v1/cards/{volunteer}/grants` (admin): the server hands green-energy-card spending rights from its pool
//! to a device (the property office's phone), so that device can redeem offline within them. The server writes
//! the `card.transfer` op as its own replica; it is validated and stored like any other op and reaches the
//! device on its next pull. Only an enrolled, not revoked device whose user's role may redeem receives rights:
//! rights granted to any other id could never be spent nor returned (issue 17).

use actix_web::{HttpResponse, web};
use linli_sync_core::card::{CardOp, Points};
use linli_sync_core::ids::{ReplicaId, UserId};
use linli_sync_core::op::{OpBody, OpKind};
use linli_sync_core::rights::{Role, permits};
use serde::Deserialize;

use crate::auth::Auth;
use crate::error::{ApiError, ProblemDoc};
use crate::identity;
use crate::routes::{blocking, with_conn};
use crate::state::AppState;

/// Request body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct Grant {
    /// The device that receives the rights.
    #[schema(value_type = String)]
    pub device_id: ReplicaId,
    /// How many points it may spend.
    pub points: u64,
    /// The community of the card (a district admin names it; an admin's is their own).
    #[schema(value_type = Option<i64>)]
    #[serde(default)]
    pub community: Option<crate::community::CommunityId>,
}

/// The handler: answers `201` with the stored `card.transfer` op.
#[utoipa::path(post, path = "/v1/cards/{volunteer}/grants", tag = "admin", security(("bearer" = [])), params(("volunteer" = String, Path, description = "The volunteer's user id (the card)")), request_body = Grant, responses((status = 201, body = crate::openapi::OpDoc, description = "The stored card.transfer op"), (status = 401, description = "Not authenticated", body = ProblemDoc, content_type = "application/problem+json"), (status = 400, description = "invalid_request: the device is revoked or its user's role may not redeem", body = ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "Not an admin", body = ProblemDoc, content_type = "application/problem+json"), (status = 404, description = "No such device or volunteer (district admins; a community's staff get 403 other_community)", body = ProblemDoc, content_type = "application/problem+json"), (status = 422, description = "insufficient_rights: the pool holds less", body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn grant(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<String>,
    body: web::Json<Grant>,
) -> Result<HttpResponse, ApiError> {
    auth.require(&[Role::Admin])?;
    let volunteer: UserId = path
        .into_inner()
        .parse()
        .map_err(|_| ApiError::invalid("the volunteer id is not a UUID"))?;
    let Grant {
        device_id,
        points,
        community,
    } = body.into_inner();
    let community = auth.community(community)?;
    let district = auth.user.is_district_admin();
    with_conn(state.pool.clone(), move |conn| {
        // The card's volunteer first: to a community's staff an unknown volunteer and another community's read the
        // same (`other_community`), as for the device below (review of h11r, finding 8).
        let owner = match identity::user_by_id(conn, volunteer) {
            Err(identity::IdentityError::NoSuchUser) if !district => {
                return Err(ApiError::other_community("user"));
            }
            found => found?,
        };
        if owner.community != Some(community) {
            return Err(ApiError::other_community("user"));
        }
        let device = match identity::device(conn, device_id) {
            Err(identity::IdentityError::NoSuchDevice) if !district => {
                return Err(ApiError::other_community("device"));
            }
            found => found?,
        };
        if device.user.community != Some(community) {
            return Err(ApiError::other_community("device"));
        }
        if device.revoked {
            return Err(ApiError::invalid("the receiving device is revoked"));
        }
        if !permits(device.user.role, OpKind::CardRedeem) {
            return Err(ApiError::invalid(format!(
                "the receiving device belongs to a {}, who may not redeem points",
                device.user.role
            )));
        }
        Ok(())
    })
    .await?;
    let engines = state.engines.clone();
    let author = auth.user.id;
    let op = blocking(move || {
        engines.get(community)?.issue(
            author,
            |s| {
                let seq = s
                    .card(&volunteer)
                    .map_or(1, |c| c.next_seq(ReplicaId::SERVER));
                OpBody::Card(
                    volunteer,
                    CardOp::Transfer {
                        to: device_id,
                        points: Points(points),
                        seq,
                    },
                )
            },
            crate::now_ms(),
        )
    })
    .await?;
    state.metrics.batch(1, 1);
    Ok(HttpResponse::Created().json(op))
}
