//! The OpenAPI 3 description of the HTTP API, generated from the handlers' annotations and served at
//! `GET /openapi.json`. The sync bodies are `sync-core` types described in `docs/protocol.md`; here they appear as
//! objects with examples, so the document stays true without duplicating the op schema.

use actix_web::HttpResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes;

/// The API document.
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "Linli sync server", description = "Offline-first sync for neighbourhood service teams. See docs/http-api.md and docs/protocol.md."),
    paths(
        routes::health::healthz,
        routes::health::metrics,
        routes::sync::sync,
        routes::snapshot::snapshot,
        routes::auth::login,
        routes::auth::enrol,
        routes::auth::refresh,
        routes::auth::lift_throttle,
        routes::admin::add_user,
        routes::admin::issue_code,
        routes::admin::revoke_device,
        routes::cards::grant,
        openapi_json,
    ),
    components(schemas(
        crate::error::ProblemDoc,
        routes::auth::LoginRequest,
        routes::auth::EnrolRequest,
        routes::auth::RefreshRequest,
        routes::auth::DeviceTokens,
        routes::auth::LoginTokens,
        routes::auth::LiftThrottle,
        routes::auth::LiftedThrottle,
        routes::admin::NewUser,
        routes::admin::UserOut,
        routes::admin::NewCode,
        routes::admin::CodeOut,
        routes::cards::Grant,
    )),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "meta", responses((status = 200, description = "The OpenAPI 3 document", content_type = "application/json")))]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
