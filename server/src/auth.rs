//! Who calls: the [`Auth`] extractor checks the access token ([`crate::token`]), then the device and user as stored
//! now (a revoked device is refused with `device_revoked` even while its access token has not expired), and says
//! which community the request is about.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use linli_sync_core::ids::{ReplicaId, UserId};
use linli_sync_core::rights::Role;
use std::future::Future;
use std::pin::Pin;

use crate::community::CommunityId;
use crate::error::ApiError;
use crate::identity::{self, IdentityError, User};
use crate::state::AppState;
pub use crate::token::{ALGORITHM, Claims, Keys};

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Auth {
    /// The user, as stored now.
    pub user: User,
    /// The device, for device tokens.
    pub device: Option<ReplicaId>,
}

impl Auth {
    /// The device, or `device_required`.
    pub fn device(&self) -> Result<ReplicaId, ApiError> {
        self.device.ok_or(ApiError::Forbidden {
            code: "device_required",
            detail: "this endpoint needs a device token (enrol the device first)".into(),
        })
    }

    /// The community a request is about: the caller's own; a district admin's is the one they name. A user of a
    /// community who names another is refused `other_community`; a district admin who names none,
    /// `community_required`.
    pub fn community(&self, named: Option<CommunityId>) -> Result<CommunityId, ApiError> {
        match (self.user.community, named) {
            (Some(own), None) => Ok(own),
            (Some(own), Some(n)) if n == own => Ok(own),
            (Some(_), Some(_)) => Err(ApiError::other_community("community")),
            // Only an admin may be of no community (a district admin); any other role without one (a row written
            // outside this release's code paths) acts nowhere rather than everywhere.
            (None, _) if !self.user.is_district_admin() => {
                Err(ApiError::forbidden("this account belongs to no community"))
            }
            (None, Some(n)) => Ok(n),
            (None, None) => Err(ApiError::community_required()),
        }
    }

    /// Whether the caller may act in `community` (their own, or any for a district admin).
    pub fn may_enter(&self, community: Option<CommunityId>) -> bool {
        self.user.is_district_admin()
            || (self.user.community.is_some() && self.user.community == community)
    }

    /// Refuses callers who are not district admins.
    pub fn require_district(&self) -> Result<(), ApiError> {
        if self.user.is_district_admin() {
            Ok(())
        } else {
            Err(ApiError::forbidden("only a district admin may do this"))
        }
    }

    /// Refuses callers whose role is not among `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.user.role) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "a {} may not do this",
                self.user.role
            )))
        }
    }
}

impl FromRequest for Auth {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Auth, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let header = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::Internal {
                detail: "application state missing".into(),
            })?;
            let token = header
                .as_deref()
                .and_then(|h| h.strip_prefix("Bearer "))
                .ok_or_else(|| ApiError::Unauthorized {
                    code: "missing_token",
                    detail: "send `Authorization: Bearer <access token>`".into(),
                })?;
            let claims = state.keys.verify(token.trim())?;
            let bad = || ApiError::Unauthorized {
                code: "invalid_token",
                detail: "the token's subject is invalid".into(),
            };
            let user_id: UserId = claims.sub.parse().map_err(|_| bad())?;
            let device: Option<ReplicaId> = match &claims.dev {
                Some(d) => Some(d.parse().map_err(|_| bad())?),
                None => None,
            };
            let pool = state.pool.clone();
            let user = web::block(move || -> Result<User, ApiError> {
                let mut conn = pool.get().map_err(|e| ApiError::Internal {
                    detail: e.to_string(),
                })?;
                match device {
                    Some(d) => {
                        let dev = identity::device(&mut conn, d).map_err(|_| bad())?;
                        if dev.revoked {
                            return Err(ApiError::DeviceRevoked);
                        }
                        if dev.user.id != user_id {
                            return Err(bad());
                        }
                        // The device's community and its user's must agree: a sync works in the user's community,
                        // while the tenancy checks tell a device's community by its own row (review of issue 11).
                        if dev.user.community != Some(dev.community) {
                            return Err(ApiError::Unauthorized {
                                code: "invalid_token",
                                detail: "the device was enrolled in another community than its user's: enrol it again"
                                    .into(),
                            });
                        }
                        Ok(dev.user)
                    }
                    None => identity::user_by_id(&mut conn, user_id).map_err(|e| match e {
                        IdentityError::NoSuchUser => bad(),
                        other => ApiError::from(other),
                    }),
                }
            })
            .await??;
            Ok(Auth { user, device })
        })
    }
}

impl From<IdentityError> for ApiError {
    fn from(e: IdentityError) -> Self {
        match e {
            IdentityError::Store(s) => ApiError::from(s),
            IdentityError::UsernameTaken => ApiError::Conflict {
                code: "username_taken",
                detail: e.to_string(),
            },
            IdentityError::NoSuchUser | IdentityError::NoSuchDevice => ApiError::NotFound {
                detail: e.to_string(),
            },
            IdentityError::BadCredentials => ApiError::Unauthorized {
                code: "invalid_credentials",
                detail: e.to_string(),
            },
            IdentityError::BadCode => ApiError::Unauthorized {
                code: "invalid_enrolment_code",
                detail: e.to_string(),
            },
            IdentityError::BadRefreshToken | IdentityError::RefreshTokenReused { .. } => {
                ApiError::Unauthorized {
                    code: "invalid_refresh_token",
                    detail: e.to_string(),
                }
            }
            IdentityError::DeviceRevoked => ApiError::DeviceRevoked,
            IdentityError::CommunityRequired => ApiError::community_required(),
            IdentityError::UnknownRole(_) | IdentityError::Hash(_) | IdentityError::Random(_) => {
                ApiError::Internal {
                    detail: e.to_string(),
                }
            }
        }
    }
}

impl From<crate::password::HashError> for ApiError {
    fn from(e: crate::password::HashError) -> Self {
        match e {
            crate::password::HashError::Busy => ApiError::TooManyAttempts {
                retry_after_secs: 1,
                detail: "too many logins are being checked at once; retry in a moment",
            },
            crate::password::HashError::Failed(_) => ApiError::Internal {
                detail: e.to_string(),
            },
        }
    }
}
