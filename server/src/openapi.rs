//! The OpenAPI 3 description of the HTTP API, generated from the handlers' annotations and served at
//! `GET /openapi.json`. The sync bodies are `sync-core` types (`SyncRequest`, `SyncResponse`, `Snapshot`, the op
//! envelope), described here by schemas of the same shape ([`SyncRequestDoc`] and the rest); an op's `body` and a
//! snapshot's `state` stay objects, their forms are in `docs/protocol.md`. Every failure an operation can answer,
//! status and problem codes, is listed once, in [`FAILURES`], and written into each operation's responses: a schemathesis run
//! (`server/tests/schemathesis/run.sh`) holds the document to what the server answers.

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
        routes::admin::add_community,
        routes::admin::communities,
        routes::admin::issue_code,
        routes::admin::revoke_device,
        routes::cards::grant,
        routes::reports::report,
        routes::reports::record_payment,
        crate::open311::add_client,
        crate::open311::list_clients,
        crate::open311::revoke_client,
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
        routes::admin::NewCommunity,
        crate::community::Community,
        routes::admin::UserOut,
        routes::admin::NewCode,
        routes::admin::CodeOut,
        routes::cards::Grant,
        routes::reports::PaymentIn,
        routes::reports::PaymentOut,
        crate::open311::NewClient,
        crate::open311::IssuedClient,
        crate::open311::clients::Client,
        SyncRequestDoc,
        SyncResponseDoc,
        SnapshotDoc,
        OpDoc,
        HlcDoc,
        ReportNameDoc,
    )),
    modifiers(&BearerAuth, &Failures),
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

/// `sync_core::hlc::Hlc` on the wire.
#[derive(Debug, utoipa::ToSchema)]
#[schema(as = Hlc)]
pub struct HlcDoc {
    /// Milliseconds since the Unix epoch.
    pub wall_ms: u64,
    /// Orders events within one millisecond.
    pub logical: u32,
}

/// The op envelope (`docs/protocol.md` section 2). Unknown members are kept as sent.
#[derive(Debug, utoipa::ToSchema)]
#[schema(as = Op)]
pub struct OpDoc {
    /// Wire version.
    pub v: u32,
    /// The op id (UUIDv7).
    pub id: String,
    /// The replica (device) that wrote it.
    pub replica: String,
    /// Its author.
    pub author: String,
    /// When, in hybrid logical time.
    pub time: HlcDoc,
    /// The op kind, e.g. `ticket.create`.
    pub kind: String,
    /// The entity it acts on.
    pub entity: String,
    /// The kind's body (`docs/protocol.md` section 3).
    pub body: serde_json::Map<String, serde_json::Value>,
}

/// `sync_core::sync::SyncRequest`.
#[derive(Debug, utoipa::ToSchema)]
#[schema(as = SyncRequest)]
pub struct SyncRequestDoc {
    /// The client's protocol version.
    pub protocol: u32,
    /// The last sequence number pulled.
    pub cursor: u64,
    /// Ops to push, oldest first.
    pub ops: Option<Vec<OpDoc>>,
    /// The most ops wanted in the answer, at least 1.
    #[schema(minimum = 1)]
    pub limit: Option<u32>,
}

/// `sync_core::sync::SyncResponse`.
#[derive(Debug, utoipa::ToSchema)]
#[schema(as = SyncResponse)]
pub struct SyncResponseDoc {
    /// The server's protocol version.
    pub protocol: u32,
    /// Pushed op ids now stored.
    pub acked: Vec<String>,
    /// A page of ops the caller may see, in server order.
    pub ops: Vec<OpDoc>,
    /// The next cursor.
    pub cursor: u64,
    /// More ops wait after `cursor`.
    pub has_more: bool,
    /// The server's clock.
    pub server_time: HlcDoc,
}

/// `sync_core::sync::Snapshot`.
#[derive(Debug, utoipa::ToSchema)]
#[schema(as = Snapshot)]
pub struct SnapshotDoc {
    /// The server's protocol version.
    pub protocol: u32,
    /// The cursor the state is complete up to.
    pub cursor: u64,
    /// The merged state of the caller's scope, in sync-core's JSON form.
    pub state: serde_json::Map<String, serde_json::Value>,
    /// The server's clock.
    pub server_time: HlcDoc,
}

/// The reports of `GET /v1/reports/{name}` (docs/reports.md).
#[derive(Debug, utoipa::ToSchema)]
#[schema(as = ReportName, rename_all = "snake_case")]
pub enum ReportNameDoc {
    /// Rule 5-20-22 compliance.
    Compliance,
    /// Ticket outcomes.
    Outcomes,
    /// The red/black list of a month: handlers, and linked bodies as their own group.
    Ranking,
    /// Linked bodies' dispatch, acceptance and completion figures.
    Agencies,
    /// Complex tickets decided by a council, and the time to decision.
    Councils,
    /// Visit coverage of a day.
    Coverage,
    /// Service hours.
    Hours,
    /// Fee collection.
    Fees,
    /// The grid cells.
    Grids,
    /// The district-wide red/black list of a month (district admins).
    DistrictRanking,
}

/// A status and the problem codes answered with it.
pub type Failure = (u16, &'static str);

/// Problem codes by status, for the failures many operations share.
const BODY: &[Failure] = &[
    (400, "`malformed_json`, `malformed_body`, `invalid_request`"),
    (413, "`payload_too_large` (`max_json_bytes`, 64 KiB)"),
    (415, "`unsupported_encoding`"),
];
const TOKEN: Failure = (
    401,
    "`missing_token`, `invalid_token`, `token_expired`, `device_revoked`",
);
const INTERNAL: Failure = (500, "`internal`");

/// The answer of a write whose community's log was written by another writer and could not be caught up with.
const LOG_MOVED: &str = "`log_moved` (see `Retry-After`): the community's log moved under this server and it could not catch up";

/// Every failure each operation can answer: method, path, then status and problem codes, besides [`BODY`] for
/// operations with a JSON body and [`INTERNAL`] for all but the static ones.
pub const FAILURES: &[(&str, &str, bool, &[Failure])] = &[
    ("get", "/healthz", false, &[]),
    (
        "post",
        "/v1/sync",
        false,
        &[
            (
                400,
                "`malformed_json`, `malformed_body`, `invalid_request`, `invalid_op`, `unknown_op_kind`, `unsupported_op_version`, `unsupported_protocol`, `clock_skew`",
            ),
            TOKEN,
            (
                403,
                "`device_required`, `role_forbidden`, `out_of_scope`, `wrong_actor`, `other_community`",
            ),
            (409, "`cursor_ahead`"),
            (
                413,
                "`payload_too_large` (`max_body_bytes`, `max_batch_ops`), `op_too_large`",
            ),
            (415, "`unsupported_encoding`"),
            (422, "`op_invalid`, `insufficient_rights`, `op_id_conflict`"),
            (426, "`upgrade_required`"),
            (503, LOG_MOVED),
        ],
    ),
    (
        "get",
        "/v1/snapshot",
        false,
        &[
            (
                400,
                "`invalid_request`, `unsupported_protocol`, `community_required`",
            ),
            TOKEN,
            (426, "`upgrade_required`"),
        ],
    ),
    (
        "post",
        "/v1/auth/login",
        true,
        &[
            (401, "`invalid_credentials`"),
            (429, "`too_many_attempts` (see `Retry-After`)"),
        ],
    ),
    (
        "post",
        "/v1/auth/throttle/lift",
        true,
        &[TOKEN, (403, "`forbidden`, `other_community`")],
    ),
    (
        "post",
        "/v1/auth/refresh",
        true,
        &[(401, "`invalid_refresh_token`, `device_revoked`")],
    ),
    (
        "post",
        "/v1/devices/enrol",
        true,
        &[(401, "`invalid_enrolment_code`")],
    ),
    (
        "post",
        "/v1/users",
        true,
        &[
            (400, "`community_required`"),
            TOKEN,
            (403, "`forbidden`, `other_community`"),
            (404, "`not_found`: no such community"),
            (409, "`username_taken`"),
            (
                429,
                "`too_many_attempts`: the password hashing queue is full",
            ),
        ],
    ),
    (
        "post",
        "/v1/enrolment-codes",
        true,
        &[
            (400, "`community_required`"),
            TOKEN,
            (403, "`forbidden`, `other_community`"),
            (404, "`not_found`"),
        ],
    ),
    (
        "post",
        "/v1/communities",
        true,
        &[TOKEN, (403, "`forbidden`")],
    ),
    ("get", "/v1/communities", false, &[TOKEN]),
    (
        "post",
        "/v1/devices/{id}/revoke",
        false,
        &[
            (400, "`invalid_request`, `clock_skew`, `community_required`"),
            TOKEN,
            (403, "`forbidden`, `other_community`"),
            (404, "`not_found`"),
            (415, "`unsupported_encoding`"),
            (
                422,
                "`insufficient_rights`, `op_invalid`: the return of its card rights was refused",
            ),
            (503, LOG_MOVED),
        ],
    ),
    (
        "post",
        "/v1/cards/{volunteer}/grants",
        true,
        &[
            (400, "`community_required`"),
            TOKEN,
            (403, "`forbidden`, `other_community`"),
            (404, "`not_found`"),
            (422, "`insufficient_rights`, `op_invalid`"),
            (503, LOG_MOVED),
        ],
    ),
    (
        "get",
        "/v1/reports/{name}",
        false,
        &[
            (
                400,
                "`invalid_query`, `invalid_request`, `community_required`",
            ),
            TOKEN,
            (403, "`forbidden`, `out_of_scope`, `other_community`"),
            (404, "`not_found`"),
        ],
    ),
    (
        "post",
        "/v1/fees/payments",
        true,
        &[
            (400, "`community_required`"),
            TOKEN,
            (403, "`forbidden`, `other_community`"),
            (404, "`not_found`"),
        ],
    ),
    (
        "post",
        "/v1/open311/clients",
        true,
        &[
            (400, "`community_required`"),
            TOKEN,
            (403, "`forbidden`, `other_community`"),
        ],
    ),
    (
        "get",
        "/v1/open311/clients",
        false,
        &[
            (400, "`invalid_request`, `community_required`"),
            TOKEN,
            (403, "`forbidden`, `other_community`"),
        ],
    ),
    (
        "post",
        "/v1/open311/clients/{id}/revoke",
        false,
        &[
            (400, "`invalid_request`, `community_required`"),
            TOKEN,
            (403, "`forbidden`, `other_community`"),
            (404, "`not_found`"),
        ],
    ),
];

/// Writes [`FAILURES`] into the operations' responses (replacing what an annotation said for the same status).
struct Failures;

impl Modify for Failures {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        for (method, path, body, failures) in FAILURES {
            let Some(item) = openapi.paths.paths.get_mut(*path) else {
                continue;
            };
            let op = match *method {
                "get" => item.get.as_mut(),
                _ => item.post.as_mut(),
            };
            let Some(op) = op else { continue };
            let shared = if *body { BODY } else { &[] };
            let mut by_status: std::collections::BTreeMap<u16, Vec<&str>> = Default::default();
            for (status, codes) in shared.iter().chain(failures.iter()).chain([&INTERNAL]) {
                by_status.entry(*status).or_default().push(codes);
            }
            for (status, codes) in by_status {
                let response = ResponseBuilder::new()
                    .description(codes.join("; "))
                    .content(
                        "application/problem+json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("Problem")))
                            .build(),
                    )
                    .build();
                op.responses
                    .responses
                    .insert(status.to_string(), response.into());
            }
        }
    }
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "meta", responses((status = 200, description = "The OpenAPI 3 document", content_type = "application/json")))]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found in issue 15: `/v1/snapshot` declared `protocol` as a path parameter, 400 answers were undocumented on
    /// seven operations, and two endpoints were missing. Every route is in the document, each path parameter is in
    /// its path, and each operation lists its failures (the schemathesis run checks them against the server).
    #[test]
    fn every_route_is_described_with_its_parameters_and_failures() {
        let doc = serde_json::to_value(ApiDoc::openapi()).expect("json");
        let paths = doc["paths"].as_object().expect("paths");
        let mut described = Vec::new();
        for (path, item) in paths {
            for (method, op) in item.as_object().expect("path item") {
                described.push(format!("{method} {path}"));
                for p in op["parameters"].as_array().into_iter().flatten() {
                    let name = p["name"].as_str().expect("name");
                    let in_path = path.contains(&format!("{{{name}}}"));
                    assert_eq!(
                        p["in"] == "path",
                        in_path,
                        "{method} {path}: parameter {name}"
                    );
                }
                let listed = FAILURES.iter().any(|(m, p, _, _)| m == method && p == path);
                let statics = ["/metrics", "/openapi.json"].contains(&path.as_str());
                assert!(listed || statics, "{method} {path} lists no failures");
                if listed {
                    assert!(op["responses"]["500"].is_object(), "{method} {path}: 500");
                }
            }
        }
        described.sort();
        let mut served: Vec<String> = [
            "get /healthz",
            "get /metrics",
            "get /openapi.json",
            "post /v1/sync",
            "get /v1/snapshot",
            "post /v1/auth/login",
            "post /v1/auth/refresh",
            "post /v1/auth/throttle/lift",
            "post /v1/devices/enrol",
            "post /v1/users",
            "post /v1/communities",
            "get /v1/communities",
            "post /v1/enrolment-codes",
            "post /v1/devices/{id}/revoke",
            "post /v1/cards/{volunteer}/grants",
            "get /v1/reports/{name}",
            "post /v1/fees/payments",
            "post /v1/open311/clients",
            "get /v1/open311/clients",
            "post /v1/open311/clients/{id}/revoke",
        ]
        .map(String::from)
        .to_vec();
        served.sort();
        assert_eq!(
            described, served,
            "the routes of routes::configure (less the dashboard) and open311's admin routes (GeoReport itself is its own standard, docs/open311.md)"
        );
        let snapshot = &paths["/v1/snapshot"]["get"]["parameters"][0];
        assert_eq!(
            (&snapshot["name"], &snapshot["in"]),
            (&json("protocol"), &json("query"))
        );
    }

    fn json(s: &str) -> serde_json::Value {
        serde_json::Value::from(s)
    }
}
