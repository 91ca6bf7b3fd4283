//! Open311 GeoReport v2 under `/open311/v2/` (`docs/open311.md`): a community is a jurisdiction, ticket
//! categories are services, tickets are service requests. Every endpoint answers `.json` and `.xml`; errors are
//! the standard's array of `{code, description}` (400, 403 for a missing or revoked `api_key`, 404). A request
//! posted here becomes a `ticket.create` written through the same validated op path as a phone's, authored by the
//! client, so it reaches the grid worker's next sync.
//!
//! The admin side, `POST/GET /v1/open311/clients` and `POST /v1/open311/clients/{id}/revoke`, issues and revokes
//! the clients' keys.

pub mod catalogue;
pub mod clients;
pub mod privacy;
pub mod render;
pub mod request;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use linli_reports::calendar::parse_w3c_datetime;
use linli_reports::policy::ReportPolicy;
use linli_sync_core::ids::{GridId, TicketId};
use linli_sync_core::op::OpBody;
use linli_sync_core::rights::Role;
use linli_sync_core::state::State;
use linli_sync_core::ticket::{
    Channel, Location, Note, Reporter, RequestType, TicketCreate, TicketOp, transition_allowed,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use crate::auth::Auth;
use crate::community::{self, CommunityId};
use crate::engine::Engine;
use crate::error::{ApiError, ProblemDoc};
use crate::routes::{blocking, now_i64, with_conn};
use crate::state::AppState;
use catalogue::Lang;
use clients::{Client, ClientError};
use render::{Format, Node};

/// The standard's cap on one `GET requests` answer.
pub const MAX_REQUESTS: usize = 1000;
/// The standard's default and widest window of `GET requests`: 90 days.
pub const WINDOW_MS: u64 = 90 * 86_400_000;
/// The longest description a request may carry (characters), before the op's own text limit.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// Registers the Open311 routes and the admin routes of its clients.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/open311/v2/{file}", web::get().to(get_top))
        .route("/open311/v2/{file}", web::post().to(post_top))
        .route("/open311/v2/services/{file}", web::get().to(get_service))
        .route("/open311/v2/requests/{file}", web::get().to(get_request))
        .route("/open311/v2/tokens/{file}", web::get().to(get_token))
        .route("/v1/open311/clients", web::post().to(add_client))
        .route("/v1/open311/clients", web::get().to(list_clients))
        .route(
            "/v1/open311/clients/{id}/revoke",
            web::post().to(revoke_client),
        );
}

/// An Open311 failure: the HTTP status and the description, answered as `[{code, description}]`.
#[derive(Debug)]
pub struct Failure {
    status: StatusCode,
    description: String,
}

impl Failure {
    fn new(status: StatusCode, description: impl Into<String>) -> Failure {
        Failure {
            status,
            description: description.into(),
        }
    }

    fn bad(description: impl Into<String>) -> Failure {
        Failure::new(StatusCode::BAD_REQUEST, description)
    }

    fn not_found(description: impl Into<String>) -> Failure {
        Failure::new(StatusCode::NOT_FOUND, description)
    }

    fn key() -> Failure {
        Failure::new(
            StatusCode::FORBIDDEN,
            "api_key is missing, unknown or revoked",
        )
    }

    fn answer(&self, format: Format) -> HttpResponse {
        let node = Node::List(
            "error",
            vec![Node::Obj(vec![
                ("code", Node::Int(i64::from(self.status.as_u16()))),
                ("description", Node::text(self.description.clone())),
            ])],
        );
        render::respond(self.status, format, "errors", &node)
    }
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Failure {
        use actix_web::ResponseError;
        let status = e.status_code();
        let problem = e.problem();
        // Refusals of the op path keep their stable code in the text; internal details stay in the log.
        let description = if status.is_server_error() {
            "the server failed; try again".to_string()
        } else {
            format!("{}: {}", problem.code, problem.detail)
        };
        Failure::new(status, description)
    }
}

impl From<crate::store::StoreError> for Failure {
    fn from(e: crate::store::StoreError) -> Failure {
        Failure::from(ApiError::from(e))
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Failure {
        match e {
            ClientError::NoSuchClient => Failure::not_found("no such client"),
            other => {
                tracing::error!(error = %other, "open311 client store");
                Failure::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the server failed; try again",
                )
            }
        }
    }
}

/// `name.json` / `name.xml` → (`name`, format). A path without a known extension is answered in JSON.
fn split_file(file: &str) -> Result<(&str, Format), Failure> {
    let (name, ext) = file
        .rsplit_once('.')
        .ok_or_else(|| Failure::not_found("add the format to the path: .json or .xml"))?;
    match ext {
        "json" => Ok((name, Format::Json)),
        "xml" => Ok((name, Format::Xml)),
        _ => Err(Failure::not_found("unknown format: use .json or .xml")),
    }
}

/// Runs an Open311 handler: the name and format from the path's last segment (a path without a known extension
/// is answered in JSON), the parameters from `input` (the query string, or a form of at most `limit` bytes), and
/// any failure answered in the format asked for.
async fn answered<Fut>(
    file: &str,
    input: &[u8],
    limit: usize,
    handle: impl FnOnce(String, Format, BTreeMap<String, String>) -> Fut,
) -> HttpResponse
where
    Fut: Future<Output = Result<HttpResponse, Failure>>,
{
    let (name, format) = match split_file(file) {
        Ok(x) => x,
        Err(f) => return f.answer(Format::Json),
    };
    let result = async {
        if input.len() > limit {
            return Err(Failure::bad(format!(
                "the form is larger than {limit} bytes"
            )));
        }
        handle(name.to_string(), format, params(input)?).await
    }
    .await;
    result.unwrap_or_else(|f| f.answer(format))
}

/// The query string's or form's parameters; a name given twice keeps the last value, as GeoReport clients
/// expect of form posts.
fn params(text: &[u8]) -> Result<BTreeMap<String, String>, Failure> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(text)
        .map_err(|_| Failure::bad("the parameters are not valid form encoding"))?;
    Ok(pairs.into_iter().collect())
}

fn lang_of(req: &HttpRequest, p: &BTreeMap<String, String>) -> Lang {
    let asked = p.get("locale").cloned().or_else(|| {
        req.headers()
            .get(actix_web::http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    });
    match asked {
        Some(a) if a.trim_start().to_ascii_lowercase().starts_with("en") => Lang::En,
        _ => Lang::Zh,
    }
}

fn utc_offset() -> i32 {
    ReportPolicy::DEFAULT.utc_offset_minutes
}

/// The community a request names with `jurisdiction_id`; with none, the only community (several: 400).
fn jurisdiction(
    conn: &mut crate::db::Conn,
    named: Option<&str>,
) -> Result<community::Community, Failure> {
    match named.map(str::trim).filter(|s| !s.is_empty()) {
        Some(j) => {
            let id: CommunityId = j
                .parse()
                .map_err(|_| Failure::not_found("no such jurisdiction_id"))?;
            community::get(conn, id)?.ok_or_else(|| Failure::not_found("no such jurisdiction_id"))
        }
        None => {
            let mut all = community::list(conn)?;
            if all.len() == 1 {
                Ok(all.remove(0))
            } else {
                Err(Failure::bad(
                    "jurisdiction_id is required: this server serves several communities",
                ))
            }
        }
    }
}

async fn db<T: Send + 'static>(
    state: &web::Data<AppState>,
    f: impl FnOnce(&mut crate::db::Conn) -> Result<T, Failure> + Send + 'static,
) -> Result<T, Failure> {
    let pool = state.pool.clone();
    web::block(move || {
        let mut conn = pool.get().map_err(|e| {
            tracing::error!(error = %e, "open311: no connection");
            Failure::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the server is busy; try again",
            )
        })?;
        f(&mut conn)
    })
    .await
    .map_err(|_| {
        Failure::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the server failed; try again",
        )
    })?
}

async fn engine(state: &web::Data<AppState>, c: CommunityId) -> Result<Arc<Engine>, Failure> {
    let engines = state.engines.clone();
    web::block(move || engines.get(c))
        .await
        .map_err(|_| {
            Failure::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the server failed; try again",
            )
        })?
        .map_err(Failure::from)
}

fn base_url(req: &HttpRequest) -> String {
    let info = req.connection_info();
    format!("{}://{}/open311/v2", info.scheme(), info.host())
}

// ---------------------------------------------------------------------------------------------------------------
// GET discovery, services, requests, servicerequestupdates

async fn get_top(
    req: HttpRequest,
    state: web::Data<AppState>,
    file: web::Path<String>,
) -> HttpResponse {
    let (req, state) = (&req, &state);
    answered(
        &file,
        req.query_string().as_bytes(),
        usize::MAX,
        |name, format, p| async move {
            match name.as_str() {
                "discovery" => Ok(discovery(req, format)),
                "services" => services(req, state, &p, format).await,
                "requests" => requests(req, state, &p, format).await,
                "servicerequestupdates" => request_updates(req, state, &p, format).await,
                _ => Err(Failure::not_found("no such Open311 endpoint")),
            }
        },
    )
    .await
}

fn discovery(req: &HttpRequest, format: Format) -> HttpResponse {
    let endpoint = Node::Obj(vec![
        (
            "specification",
            Node::text("http://wiki.open311.org/GeoReport_v2"),
        ),
        ("url", Node::Text(base_url(req))),
        ("changeset", Node::text(CHANGESET)),
        ("type", Node::text("production")),
        (
            "formats",
            Node::List(
                "format",
                vec![Node::text("application/json"), Node::text("text/xml")],
            ),
        ),
    ]);
    let node = Node::Obj(vec![
        ("changeset", Node::text(CHANGESET)),
        (
            "contact",
            Node::text("The community's property service cooperative (物业服务社)"),
        ),
        (
            "key_service",
            Node::text("An api_key is issued by the community's admin (POST /v1/open311/clients)"),
        ),
        ("endpoints", Node::List("endpoint", vec![endpoint])),
    ]);
    render::respond(StatusCode::OK, format, "discovery", &node)
}

/// When this Open311 face last changed.
const CHANGESET: &str = "2026-12-03T00:00:00Z";

async fn community_state(
    state: &web::Data<AppState>,
    p: &BTreeMap<String, String>,
) -> Result<(community::Community, Arc<Engine>), Failure> {
    let named = p.get("jurisdiction_id").cloned();
    let c = db(state, move |conn| jurisdiction(conn, named.as_deref())).await?;
    let e = engine(state, c.id).await?;
    Ok((c, e))
}

fn service_node(s: &catalogue::Service, lang: Lang) -> Node {
    Node::Obj(vec![
        ("service_code", Node::text(s.code.clone())),
        ("service_name", Node::text(s.name(lang))),
        ("description", Node::text(s.description(lang))),
        ("metadata", Node::Bool(true)),
        ("type", Node::text("realtime")),
        ("keywords", Node::Text(s.keywords.join(","))),
        ("group", Node::text(s.group)),
    ])
}

async fn services(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    p: &BTreeMap<String, String>,
    format: Format,
) -> Result<HttpResponse, Failure> {
    let lang = lang_of(req, p);
    let (_, engine) = community_state(state, p).await?;
    let list = catalogue::services(&engine.view().state);
    let node = Node::List(
        "service",
        list.iter().map(|s| service_node(s, lang)).collect(),
    );
    Ok(render::respond(StatusCode::OK, format, "services", &node))
}

/// The buildings of a community's household register, sorted.
fn buildings(state: &State) -> Vec<String> {
    let mut all: Vec<String> = state
        .grids()
        .values()
        .flat_map(|g| {
            g.households
                .iter()
                .filter_map(|h| g.household(h).map(|d| d.building.trim().to_string()))
                .collect::<Vec<_>>()
        })
        .filter(|b| !b.is_empty())
        .collect();
    all.sort_by(|a, b| natural(a).cmp(&natural(b)));
    all.dedup();
    all
}

fn natural(s: &str) -> (u64, &str) {
    (s.parse().unwrap_or(u64::MAX), s)
}

const REQUEST_TYPES: [(RequestType, &str, &str, &str); 5] = [
    (
        RequestType::Consultation,
        "consultation",
        "咨询",
        "Question",
    ),
    (RequestType::Help, "help", "求助", "Request for help"),
    (RequestType::Complaint, "complaint", "投诉", "Complaint"),
    (
        RequestType::Report,
        "report",
        "举报",
        "Report of a violation or hazard",
    ),
    (RequestType::Suggestion, "suggestion", "建议", "Suggestion"),
];

async fn get_service(
    req: HttpRequest,
    state: web::Data<AppState>,
    file: web::Path<String>,
) -> HttpResponse {
    let (req, state) = (&req, &state);
    answered(
        &file,
        req.query_string().as_bytes(),
        usize::MAX,
        |code, format, p| async move {
            let lang = lang_of(req, &p);
            let (_, engine) = community_state(state, &p).await?;
            let view = engine.view();
            let service = catalogue::service(&view.state, &code)
                .ok_or_else(|| Failure::not_found("no such service_code"))?;
            let values = |pairs: Vec<(String, String)>| {
                Node::List(
                    "value",
                    pairs
                        .into_iter()
                        .map(|(k, n)| {
                            Node::Obj(vec![("key", Node::Text(k)), ("name", Node::Text(n))])
                        })
                        .collect(),
                )
            };
            let pick = |zh: &str, en: &str| match lang {
                Lang::Zh => zh.to_string(),
                Lang::En => en.to_string(),
            };
            let known = buildings(&view.state);
            let building = if known.is_empty() {
                vec![
                    ("datatype", Node::text("string")),
                    ("values", values(Vec::new())),
                ]
            } else {
                vec![
                    ("datatype", Node::text("singlevaluelist")),
                    (
                        "values",
                        values(known.iter().map(|b| (b.clone(), b.clone())).collect()),
                    ),
                ]
            };
            let attribute = |code: &str,
                             required: bool,
                             order: i64,
                             description: String,
                             datatype_description: String,
                             typed: Vec<(&'static str, Node)>| {
                let mut fields = vec![("variable", Node::Bool(true)), ("code", Node::text(code))];
                fields.extend(typed.into_iter().take(1));
                fields.push(("required", Node::Bool(required)));
                fields.push(("datatype_description", Node::Text(datatype_description)));
                fields.push(("order", Node::Int(order)));
                fields.push(("description", Node::Text(description)));
                fields
            };
            let with_values = |mut fields: Vec<(&'static str, Node)>, v: Node| {
                fields.push(("values", v));
                Node::Obj(fields)
            };
            let building_values = building[1].1.clone();
            let attributes = vec![
                with_values(
                    attribute(
                        "building",
                        true,
                        1,
                        pick("楼号", "Building"),
                        pick("所在楼栋（楼号）", "The building the problem is in"),
                        building,
                    ),
                    building_values,
                ),
                with_values(
                    attribute(
                        "unit",
                        false,
                        2,
                        pick("单元", "Unit (entrance)"),
                        pick(
                            "单元号，可不填",
                            "The unit (entrance) of the building, if any",
                        ),
                        vec![("datatype", Node::text("string"))],
                    ),
                    values(Vec::new()),
                ),
                with_values(
                    attribute(
                        "urgency",
                        false,
                        3,
                        pick("紧急程度", "Urgency"),
                        pick(
                            "紧急的诉求在描述前标注【紧急】",
                            "Urgent requests are marked 【紧急】 before the description",
                        ),
                        vec![("datatype", Node::text("singlevaluelist"))],
                    ),
                    values(vec![
                        ("normal".into(), pick("一般", "Normal")),
                        ("urgent".into(), pick("紧急", "Urgent")),
                    ]),
                ),
                with_values(
                    attribute(
                        "request_type",
                        false,
                        4,
                        pick("诉求类型", "Kind of request"),
                        pick(
                            "不填则按服务类别默认",
                            "Defaults to the service's usual kind",
                        ),
                        vec![("datatype", Node::text("singlevaluelist"))],
                    ),
                    values(
                        REQUEST_TYPES
                            .iter()
                            .map(|(_, k, zh, en)| ((*k).to_string(), pick(zh, en)))
                            .collect(),
                    ),
                ),
            ];
            let node = Node::Obj(vec![
                ("service_code", Node::Text(service.code.clone())),
                ("attributes", Node::List("attribute", attributes)),
            ]);
            Ok(render::respond(
                StatusCode::OK,
                format,
                "service_definition",
                &node,
            ))
        },
    )
    .await
}

/// The window of `GET requests` and `GET servicerequestupdates`: `start_date`..`end_date`, 90 days back from
/// `end_date` (or now) when `start_date` is absent, never wider than 90 days.
fn window(p: &BTreeMap<String, String>, now_ms: u64) -> Result<(u64, u64), Failure> {
    let read = |name: &str| -> Result<Option<u64>, Failure> {
        p.get(name)
            .filter(|s| !s.trim().is_empty())
            .map(|s| {
                parse_w3c_datetime(s.trim(), utc_offset()).ok_or_else(|| {
                    Failure::bad(format!(
                        "{name} is not a W3C date-time such as 2026-12-01T00:00:00+08:00"
                    ))
                })
            })
            .transpose()
    };
    let (start, end) = (read("start_date")?, read("end_date")?);
    let (start, end) = match (start, end) {
        (Some(s), Some(e)) => (s, e),
        (Some(s), None) => (s, now_ms.max(s).min(s.saturating_add(WINDOW_MS))),
        (None, Some(e)) => (e.saturating_sub(WINDOW_MS), e),
        (None, None) => (now_ms.saturating_sub(WINDOW_MS), now_ms),
    };
    if start > end {
        return Err(Failure::bad("start_date is after end_date"));
    }
    if end - start > WINDOW_MS {
        return Err(Failure::bad(
            "start_date and end_date may not span more than 90 days",
        ));
    }
    Ok((start, end))
}

fn list_param(p: &BTreeMap<String, String>, name: &str) -> Option<Vec<String>> {
    p.get(name)
        .map(|s| {
            s.split(',')
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty())
                .collect::<Vec<_>>()
        })
        .filter(|v| !v.is_empty())
}

fn context<'a>(
    req: &HttpRequest,
    p: &BTreeMap<String, String>,
    state: &'a State,
    c: &'a community::Community,
) -> request::Context<'a> {
    request::Context {
        state,
        lang: lang_of(req, p),
        utc_offset_minutes: utc_offset(),
        community_name: &c.name,
        now_ms: crate::now_ms(),
        services: catalogue::services(state),
        masker: privacy::Masker::new(&privacy::register_names(state)),
    }
}

/// The tickets of `c` filed over Open311 (the only ones it shows).
async fn filed(
    state: &web::Data<AppState>,
    c: CommunityId,
) -> Result<std::collections::BTreeSet<TicketId>, Failure> {
    db(state, move |conn| Ok(clients::filed(conn, c)?)).await
}

async fn requests(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    p: &BTreeMap<String, String>,
    format: Format,
) -> Result<HttpResponse, Failure> {
    let now = crate::now_ms();
    let (c, engine) = community_state(state, p).await?;
    let filed = filed(state, c.id).await?;
    let view = engine.view();
    let ctx = context(req, p, &view.state, &c);
    let tickets = view.state.tickets();
    let mut items: Vec<(u64, Node)> = Vec::new();
    if let Some(ids) = list_param(p, "service_request_id") {
        // The list overrides every other parameter (the standard).
        for id in ids {
            let id: TicketId = id.parse().map_err(|_| {
                Failure::bad("service_request_id holds a value that is not a request id")
            })?;
            if !filed.contains(&id) {
                continue;
            }
            if let Some(node) = tickets.get(&id).and_then(|t| ctx.request(id, t)) {
                items.push((0, node));
            }
        }
    } else {
        let (start, end) = window(p, now)?;
        let codes = list_param(p, "service_code");
        let statuses = list_param(p, "status");
        if let Some(s) = &statuses
            && let Some(bad) = s.iter().find(|s| !matches!(s.as_str(), "open" | "closed"))
        {
            let _ = bad;
            return Err(Failure::bad("status takes open, closed or both"));
        }
        for id in &filed {
            let Some(t) = tickets.get(id) else {
                continue;
            };
            let Some((created, _)) = &t.created else {
                continue;
            };
            let at = created.time.wall_ms;
            if at < start || at > end {
                continue;
            }
            let category = t.category.val.clone().unwrap_or_default();
            if codes.as_ref().is_some_and(|c| !c.contains(&category)) {
                continue;
            }
            let open311_status = if request::is_closed(t.status()) {
                "closed"
            } else {
                "open"
            };
            if statuses
                .as_ref()
                .is_some_and(|s| !s.iter().any(|x| x == open311_status))
            {
                continue;
            }
            if let Some(node) = ctx.request(*id, t) {
                items.push((at, node));
            }
        }
        // Newest first, at most the standard's cap; ties in the ids' order (`filed` is ordered and the sort
        // stable), so the cut is the same on every call.
        items.sort_by_key(|item| std::cmp::Reverse(item.0));
        items.truncate(MAX_REQUESTS);
    }
    let node = Node::List("request", items.into_iter().map(|(_, n)| n).collect());
    Ok(render::respond(
        StatusCode::OK,
        format,
        "service_requests",
        &node,
    ))
}

async fn get_request(
    req: HttpRequest,
    state: web::Data<AppState>,
    file: web::Path<String>,
) -> HttpResponse {
    let (req, state) = (&req, &state);
    answered(
        &file,
        req.query_string().as_bytes(),
        usize::MAX,
        |id, format, p| async move {
            let id: TicketId = id
                .parse()
                .map_err(|_| Failure::not_found("no such service_request_id"))?;
            let (c, engine) = community_state(state, &p).await?;
            if !filed(state, c.id).await?.contains(&id) {
                return Err(Failure::not_found("no such service_request_id"));
            }
            let view = engine.view();
            let ctx = context(req, &p, &view.state, &c);
            let node = view
                .state
                .ticket(&id)
                .and_then(|t| ctx.request(id, t))
                .ok_or_else(|| Failure::not_found("no such service_request_id"))?;
            Ok(render::respond(
                StatusCode::OK,
                format,
                "service_requests",
                &Node::List("request", vec![node]),
            ))
        },
    )
    .await
}

async fn request_updates(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    p: &BTreeMap<String, String>,
    format: Format,
) -> Result<HttpResponse, Failure> {
    let now = crate::now_ms();
    let (c, engine) = community_state(state, p).await?;
    let filed = filed(state, c.id).await?;
    let view = engine.view();
    let ctx = context(req, p, &view.state, &c);
    let only: Option<Vec<TicketId>> = list_param(p, "service_request_id")
        .map(|ids| {
            ids.iter()
                .map(|s| s.parse())
                .collect::<Result<Vec<TicketId>, _>>()
        })
        .transpose()
        .map_err(|_| Failure::bad("service_request_id holds a value that is not a request id"))?;
    let (start, end) = window(p, now)?;
    let mut items: Vec<(u64, Node)> = Vec::new();
    for (id, t) in view.state.tickets() {
        if !filed.contains(id) || only.as_ref().is_some_and(|o| !o.contains(id)) {
            continue;
        }
        items.extend(
            ctx.updates(*id, t)
                .into_iter()
                .filter(|(at, _)| only.is_some() || (*at >= start && *at <= end)),
        );
    }
    items.sort_by_key(|item| item.0);
    if items.len() > MAX_REQUESTS {
        items.drain(..items.len() - MAX_REQUESTS);
    }
    let node = Node::List(
        "request_update",
        items.into_iter().map(|(_, n)| n).collect(),
    );
    Ok(render::respond(
        StatusCode::OK,
        format,
        "service_request_updates",
        &node,
    ))
}

async fn get_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    file: web::Path<String>,
) -> HttpResponse {
    let (req, state) = (&req, &state);
    answered(
        &file,
        req.query_string().as_bytes(),
        usize::MAX,
        |token, format, p| async move {
            let named = p.get("jurisdiction_id").cloned();
            let t = token.clone();
            let id = db(state, move |conn| {
                let c = jurisdiction(conn, named.as_deref())?;
                Ok(clients::ticket_of_token(conn, c.id, &t)?)
            })
            .await?
            .ok_or_else(|| Failure::not_found("no such token"))?;
            let node = Node::List(
                "request",
                vec![Node::Obj(vec![
                    ("service_request_id", Node::text(id.to_string())),
                    ("token", Node::Text(token)),
                ])],
            );
            Ok(render::respond(
                StatusCode::OK,
                format,
                "service_requests",
                &node,
            ))
        },
    )
    .await
}

// ---------------------------------------------------------------------------------------------------------------
// POST requests, servicerequestupdates

async fn post_top(
    req: HttpRequest,
    state: web::Data<AppState>,
    file: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (req, state) = (&req, &state);
    answered(&file, &body, MAX_FORM_BYTES, |name, format, p| async move {
        match name.as_str() {
            "requests" => post_request(req, state, &p, format).await,
            "servicerequestupdates" => post_update(state, &p, format).await,
            _ => Err(Failure::not_found("no such Open311 endpoint")),
        }
    })
    .await
}

/// The client holding the form's `api_key`, checked against its `jurisdiction_id`.
async fn client_of(
    state: &web::Data<AppState>,
    p: &BTreeMap<String, String>,
) -> Result<Client, Failure> {
    let key = p
        .get("api_key")
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
        .ok_or_else(Failure::key)?;
    let client = db(state, move |conn| Ok(clients::by_key(conn, &key)?))
        .await?
        .ok_or_else(Failure::key)?;
    if let Some(j) = p
        .get("jurisdiction_id")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        && j != client.community.to_string()
    {
        return Err(Failure::new(
            StatusCode::FORBIDDEN,
            "this api_key does not file into that jurisdiction_id",
        ));
    }
    Ok(client)
}

/// The grid cell of `building`: the cell whose household register holds most households of it (ties: the
/// smallest id); a community with one cell and no register takes every building there.
fn grid_of_building(state: &State, building: &str) -> Option<GridId> {
    let b = building.trim();
    let mut best: Option<(usize, GridId)> = None;
    for (id, g) in state.grids() {
        let n = g
            .households
            .iter()
            .filter(|h| g.household(h).is_some_and(|d| d.building.trim() == b))
            .count();
        if n > 0 && best.is_none_or(|(m, _)| n > m) {
            best = Some((n, *id));
        }
    }
    best.map(|(_, id)| id).or_else(|| {
        let live: Vec<GridId> = state
            .grids()
            .iter()
            .filter(|(_, g)| g.created.is_some())
            .map(|(id, _)| *id)
            .collect();
        (live.len() == 1 && buildings(state).is_empty()).then(|| live[0])
    })
}

async fn post_request(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    p: &BTreeMap<String, String>,
    format: Format,
) -> Result<HttpResponse, Failure> {
    let client = client_of(state, p).await?;
    let lang = lang_of(req, p);
    let code = p
        .get("service_code")
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Failure::bad("service_code is required"))?;
    let engine = engine(state, client.community).await?;
    let attr = |name: &str| {
        p.get(&format!("attribute[{name}]"))
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let (service, grid, building) = {
        let view = engine.view();
        let service = catalogue::service(&view.state, &code)
            .ok_or_else(|| Failure::bad("unknown service_code (see services)"))?;
        let building = attr("building")
            .or_else(|| {
                p.get("address_id")
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
            })
            .or_else(|| {
                p.get("address_string")
                    .map(|s| s.trim().to_string())
                    .filter(|s| grid_of_building(&view.state, s).is_some())
            })
            .ok_or_else(|| {
                Failure::bad(
                    "a location is required: attribute[building] (see the service definition)",
                )
            })?;
        let grid = grid_of_building(&view.state, &building).ok_or_else(|| {
            Failure::bad(
                "attribute[building] is not a building of this community's household register",
            )
        })?;
        (service, grid, building)
    };
    let request_type = match attr("request_type") {
        None => service.request_type,
        Some(t) => REQUEST_TYPES
            .iter()
            .find(|(_, k, _, _)| *k == t)
            .map(|(r, ..)| *r)
            .ok_or_else(|| Failure::bad("attribute[request_type] is not one of its values"))?,
    };
    let urgent = match attr("urgency").as_deref() {
        None | Some("normal") => false,
        Some("urgent") => true,
        Some(_) => return Err(Failure::bad("attribute[urgency] is not one of its values")),
    };
    let coordinate = |name: &str, limit: f64| -> Result<Option<f64>, Failure> {
        p.get(name)
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && v.abs() <= limit)
                    .ok_or_else(|| Failure::bad(format!("{name} is not a coordinate")))
            })
            .transpose()
    };
    let (lat, lon) = (coordinate("lat", 90.0)?, coordinate("long", 180.0)?);
    let mut description = p
        .get("description")
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| service.name(lang).to_string());
    if urgent {
        description = format!("【紧急】{description}");
    }
    let part = |k: &str| p.get(k).map(|s| s.trim()).filter(|s| !s.is_empty());
    // A Chinese name is family name then given name, written together; a Latin one, given name first, spaced.
    let name = match (part("first_name"), part("last_name")) {
        (Some(f), Some(l)) if f.is_ascii() && l.is_ascii() => format!("{f} {l}"),
        (Some(f), Some(l)) => format!("{l}{f}"),
        (Some(one), None) | (None, Some(one)) => one.to_string(),
        (None, None) => String::new(),
    };
    let create = TicketCreate {
        grid,
        request_type,
        category: service.code.clone(),
        complexity: service.complexity,
        location: Location {
            building,
            unit: attr("unit"),
            household: None,
            lat,
            lon,
        },
        description,
        channel: Channel::Open311,
        reporter: Reporter {
            name: Some(name).filter(|n| !n.is_empty()),
            phone: p
                .get("phone")
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty()),
            household: None,
        },
        from_visit: None,
    };
    let ticket = TicketId::random();
    let token = crate::identity::random_secret().map_err(|_| {
        Failure::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the server failed; try again",
        )
    })?;
    let author = client.author()?;
    {
        let (client, token) = (client.clone(), token.clone());
        db(state, move |conn| {
            Ok(clients::remember_request(
                conn,
                &client,
                ticket,
                &token,
                now_i64(),
            )?)
        })
        .await?;
    }
    let written = blocking(move || {
        engine.issue(
            author,
            move |_| OpBody::Ticket(ticket, TicketOp::Create(create)),
            crate::now_ms(),
        )
    })
    .await;
    if let Err(e) = written {
        // The token of a request that was never written must not point anywhere.
        let _ = db(state, move |conn| {
            Ok(clients::forget_request(conn, ticket)?)
        })
        .await;
        return Err(Failure::from(e));
    }
    state.metrics.batch(1, 1);
    let notice = match lang {
        Lang::Zh => "诉求已受理，将派给所在网格的网格员",
        Lang::En => "Received; it goes to the grid worker of the building's grid cell",
    };
    let node = Node::List(
        "request",
        vec![Node::Obj(vec![
            ("service_request_id", Node::text(ticket.to_string())),
            ("token", Node::Text(token)),
            ("service_notice", Node::text(notice)),
            ("account_id", Node::Null),
        ])],
    );
    Ok(render::respond(
        StatusCode::OK,
        format,
        "service_requests",
        &node,
    ))
}

/// `POST servicerequestupdates`: the resident's "not fixed", a reopen of a solved, answered or closed request,
/// with the request's token (FixMyStreet's update extension, `status=OPEN`).
async fn post_update(
    state: &web::Data<AppState>,
    p: &BTreeMap<String, String>,
    format: Format,
) -> Result<HttpResponse, Failure> {
    let client = client_of(state, p).await?;
    let id: TicketId = p
        .get("service_request_id")
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| Failure::bad("service_request_id is required"))?;
    match p
        .get("status")
        .map(|s| s.trim().to_ascii_uppercase())
        .as_deref()
    {
        Some("OPEN") => {}
        _ => {
            return Err(Failure::bad(
                "status must be OPEN: a resident may only reopen a request (\"not fixed\")",
            ));
        }
    }
    let token = p
        .get("token")
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Failure::new(StatusCode::FORBIDDEN, "the request's token is required"))?;
    let community = client.community;
    let owner = db(state, move |conn| {
        Ok(clients::ticket_of_token(conn, community, &token)?)
    })
    .await?;
    if owner != Some(id) {
        return Err(Failure::new(
            StatusCode::FORBIDDEN,
            "this token is not the request's",
        ));
    }
    let note = p
        .get("description")
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let engine = engine(state, community).await?;
    let author = client.author()?;
    let written = blocking(move || {
        let status = engine
            .view()
            .state
            .ticket(&id)
            .map(linli_sync_core::ticket::Ticket::status);
        // The resident's words stay internal (they may name people); the reopen itself is a public update.
        let reopen = TicketOp::Reopen(Note {
            note,
            public: false,
        });
        match status {
            None => {
                return Err(ApiError::NotFound {
                    detail: "no such service_request_id".into(),
                });
            }
            Some(s) if !transition_allowed(s, &reopen) => {
                return Err(ApiError::invalid(
                    "the request is not solved, answered or closed: there is nothing to reopen",
                ));
            }
            Some(_) => {}
        }
        engine.issue(author, move |_| OpBody::Ticket(id, reopen), crate::now_ms())
    })
    .await
    .map_err(Failure::from)?;
    state.metrics.batch(1, 1);
    let node = Node::List(
        "request_update",
        vec![Node::Obj(vec![(
            "update_id",
            Node::text(written.id.to_string()),
        )])],
    );
    Ok(render::respond(
        StatusCode::OK,
        format,
        "service_request_updates",
        &node,
    ))
}

// ---------------------------------------------------------------------------------------------------------------
// The admin side: clients and their keys

/// `POST /v1/open311/clients` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewClient {
    /// What the client is ("12345 hotline bridge").
    pub name: String,
    /// The community it files into (a district admin names it; an admin's is their own).
    #[schema(value_type = Option<i64>)]
    #[serde(default)]
    pub community: Option<CommunityId>,
}

/// An issued client with its key, shown only now.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IssuedClient {
    /// The client.
    pub client: Client,
    /// The `api_key` to give it; only its SHA-256 is kept.
    pub api_key: String,
}

/// `GET /v1/open311/clients` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ClientsQuery {
    /// The community (district admins).
    #[param(value_type = Option<i64>)]
    pub community: Option<CommunityId>,
}

/// Issues an Open311 client and its `api_key` (admin).
#[utoipa::path(post, path = "/v1/open311/clients", tag = "admin", security(("bearer" = [])), request_body = NewClient, responses((status = 201, body = IssuedClient, description = "The client and its api_key, shown once"), (status = 400, description = "invalid_request: no name", body = ProblemDoc, content_type = "application/problem+json"), (status = 401, description = "Not authenticated", body = ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "Not an admin, or another community", body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn add_client(
    state: web::Data<AppState>,
    auth: Auth,
    body: web::Json<NewClient>,
) -> Result<HttpResponse, ApiError> {
    auth.require(&[Role::Admin])?;
    let NewClient { name, community } = body.into_inner();
    let community = auth.community(community)?;
    let name = name.trim().to_string();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::invalid("name: 1 to 200 characters"));
    }
    let (client, api_key) = with_conn(state.pool.clone(), move |conn| {
        if community::get(conn, community)?.is_none() {
            return Err(ApiError::other_community("community"));
        }
        clients::issue(conn, community, &name, now_i64()).map_err(client_error)
    })
    .await?;
    Ok(HttpResponse::Created().json(IssuedClient { client, api_key }))
}

/// The Open311 clients of a community, without their keys (admin).
#[utoipa::path(get, path = "/v1/open311/clients", tag = "admin", security(("bearer" = [])), params(ClientsQuery), responses((status = 200, body = Vec<Client>, description = "The clients, oldest first"), (status = 400, description = "invalid_request: bad query", body = ProblemDoc, content_type = "application/problem+json"), (status = 401, description = "Not authenticated", body = ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "Not an admin, or another community", body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn list_clients(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<ClientsQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(&[Role::Admin])?;
    let community = auth.community(q.community)?;
    let list = with_conn(state.pool.clone(), move |conn| {
        clients::list(conn, community).map_err(client_error)
    })
    .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Revokes an Open311 client's key at once (admin); revoking again changes nothing.
#[utoipa::path(post, path = "/v1/open311/clients/{id}/revoke", tag = "admin", security(("bearer" = [])), params(("id" = String, Path, description = "The client's id"), ClientsQuery), responses((status = 200, body = Client, description = "The client as stored now"), (status = 400, description = "invalid_request: bad query", body = ProblemDoc, content_type = "application/problem+json"), (status = 401, description = "Not authenticated", body = ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "Not an admin, or another community", body = ProblemDoc, content_type = "application/problem+json"), (status = 404, description = "No such client in the community", body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn revoke_client(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<String>,
    q: web::Query<ClientsQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(&[Role::Admin])?;
    let community = auth.community(q.community)?;
    let id = path.into_inner();
    let client = with_conn(state.pool.clone(), move |conn| {
        clients::revoke(conn, community, &id, now_i64()).map_err(client_error)
    })
    .await?;
    Ok(HttpResponse::Ok().json(client))
}

fn client_error(e: ClientError) -> ApiError {
    match e {
        ClientError::NoSuchClient => ApiError::NotFound {
            detail: "no such Open311 client in this community".into(),
        },
        ClientError::Store(s) => ApiError::from(s),
        ClientError::Identity(i) => ApiError::Internal {
            detail: i.to_string(),
        },
    }
}
