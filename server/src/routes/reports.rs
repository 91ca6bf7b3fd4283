//! `GET /v1/reports/{name}`: the admin reports of `linli-reports` over the server's merged state, as JSON or, with
//! `format=csv`, as a spreadsheet file. Admins see every grid cell; a grid worker gets the same reports restricted
//! to their grid cells. `POST /v1/fees/payments` records a cash payment in the fee ledger.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use linli_reports::fees::{CashPayment, valid_period};
use linli_reports::{
    Basis, Filter, ReportPolicy, agencies, calendar, compliance, councils, coverage, fees, hours,
    outcomes, ranking,
};
use linli_sync_core::grid::MemberRole;
use linli_sync_core::ids::{GridId, HouseholdId};
use linli_sync_core::rights::{Role, grids_of};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

use crate::auth::Auth;
use crate::community::CommunityId;
use crate::error::ApiError;
use crate::routes::{blocking, now_i64};
use crate::state::AppState;

/// Query parameters of every report (each report reads the ones it needs).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// First day (`YYYY-MM-DD`), or first period (`YYYY-MM`) for `fees`.
    pub from: Option<String>,
    /// Last day, inclusive (or last period for `fees`).
    pub to: Option<String>,
    /// One grid cell.
    pub grid: Option<String>,
    /// `YYYY-MM`, for `ranking`.
    pub month: Option<String>,
    /// `YYYY-MM-DD`, for `coverage`.
    pub day: Option<String>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
    /// The community's id (a district admin names it, or `all` for every community side by side; everybody else
    /// gets their own, and naming another is refused `other_community`). `district_ranking` is always of all.
    #[param(value_type = Option<String>)]
    pub community: Option<String>,
}

/// One grid cell in the `grids` list.
#[derive(Debug, Serialize)]
pub struct GridItem {
    id: GridId,
    name: String,
    community: String,
}

fn bad(param: &str, detail: impl Into<String>) -> ApiError {
    ApiError::BadRequest {
        code: "invalid_query",
        detail: format!("`{param}`: {}", detail.into()),
    }
}

fn required<'a>(v: &'a Option<String>, param: &str) -> Result<&'a str, ApiError> {
    v.as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| bad(param, "is required"))
}

fn day(v: &Option<String>, param: &str, policy: &ReportPolicy) -> Result<(u64, u64), ApiError> {
    let s = required(v, param)?;
    calendar::day_range(s, policy.utc_offset_minutes)
        .ok_or_else(|| bad(param, "is not a date YYYY-MM-DD"))
}

fn period(v: &Option<String>, param: &str) -> Result<String, ApiError> {
    let s = required(v, param)?;
    if valid_period(s) {
        Ok(s.to_string())
    } else {
        Err(bad(param, "is not a period YYYY-MM or YYYY"))
    }
}

/// What a report answers with.
enum Body {
    Json(serde_json::Value),
    Csv(String),
}

/// Encodes `report` in the one format asked for (the other is never computed).
fn render<R: Serialize>(
    report: &R,
    csv: bool,
    to_csv: impl FnOnce(&R) -> String,
) -> Result<Body, ApiError> {
    if csv {
        return Ok(Body::Csv(to_csv(report)));
    }
    serde_json::to_value(report)
        .map(Body::Json)
        .map_err(|e| ApiError::Internal {
            detail: e.to_string(),
        })
}

/// The grid cells a caller's report covers: an admin's choice (or all), a grid worker's own cells (or the one asked
/// for, if it is theirs).
fn scope(
    state: &linli_sync_core::state::State,
    user: linli_sync_core::ids::UserId,
    role: Role,
    grid: Option<&str>,
) -> Result<Option<BTreeSet<GridId>>, ApiError> {
    let grid = grid
        .filter(|g| !g.is_empty())
        .map(|g| {
            g.parse::<GridId>()
                .map_err(|_| bad("grid", "is not a grid cell id"))
        })
        .transpose()?;
    if role == Role::Admin {
        return Ok(grid.map(|g| [g].into()));
    }
    let mine: BTreeSet<GridId> = grids_of(state, user, MemberRole::Worker).collect();
    match grid {
        Some(g) if !mine.contains(&g) => Err(ApiError::Forbidden {
            code: "out_of_scope",
            detail: "that grid cell is not one of yours".into(),
        }),
        Some(g) => Ok(Some([g].into())),
        None => Ok(Some(mine)),
    }
}

/// The `from`..=`to` days as a filter over `grids`.
fn days(
    q: &ReportQuery,
    grids: Option<BTreeSet<GridId>>,
    policy: &ReportPolicy,
) -> Result<Filter, ApiError> {
    let (from, _) = day(&q.from, "from", policy)?;
    let (_, to) = day(&q.to, "to", policy)?;
    if to <= from {
        return Err(bad("to", "must not be before `from`"));
    }
    Ok(Filter {
        from_ms: from,
        to_ms: to,
        grids,
    })
}

const REPORTS: [&str; 10] = [
    "compliance",
    "outcomes",
    "ranking",
    "agencies",
    "councils",
    "coverage",
    "hours",
    "fees",
    "grids",
    "district_ranking",
];

/// The handler.
#[utoipa::path(get, path = "/v1/reports/{name}", tag = "reports", security(("bearer" = [])),
    params(("name" = crate::openapi::ReportNameDoc, Path, description = "Which report (docs/reports.md)"), ReportQuery),
    responses((status = 200, description = "The report, as JSON or (`format=csv`) as CSV", content(
        (serde_json::Value = "application/json"),
        (String = "text/csv"),
    ))))]
pub async fn report(
    state: web::Data<AppState>,
    auth: Auth,
    name: web::Path<String>,
    query: web::Query<ReportQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(&[Role::Admin, Role::GridWorker])?;
    let name = name.into_inner();
    if !REPORTS.contains(&name.as_str()) {
        return Err(ApiError::NotFound {
            detail: format!("no such report; the reports are {}", REPORTS.join(", ")),
        });
    }
    let q = query.into_inner();
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => return Err(bad("format", "is not json or csv")),
    };
    if csv && name == "grids" {
        return Err(bad("format", "the grid list has no CSV form"));
    }
    let (user, role) = (auth.user.id, auth.user.role);
    let engines = state.engines.clone();
    let pool = state.pool.clone();
    let report = name.clone();
    if name == "district_ranking" {
        // The district-wide red/black list: every community's handlers ranked together, district admins only.
        auth.require_district()?;
        if q.community.as_deref().is_some_and(|c| c != "all") {
            return Err(bad(
                "community",
                "the district-wide list is of every community",
            ));
        }
        let body = blocking(move || district_ranking(&engines, &pool, &q, csv)).await?;
        return Ok(answer(&name, body));
    }
    if q.community.as_deref() == Some("all") {
        // Side by side: a district admin's report of every community, one after the other (JSON), or as one table
        // whose rows each lead with their community's id and name (CSV).
        auth.require_district()?;
        let body = blocking(move || -> Result<Body, ApiError> {
            let mut conn = pool.get().map_err(|e| ApiError::Internal {
                detail: e.to_string(),
            })?;
            let communities = crate::community::list(&mut conn)?;
            drop(conn);
            let mut json = Vec::with_capacity(communities.len());
            let mut tables = Vec::with_capacity(communities.len());
            for c in communities {
                // Not a use of the community: a district's report must not push the communities phones are using
                // out of the state cache (one it loads is the first to be evicted).
                let engine = engines.get_untouched(c.id)?;
                match one_report(&engine, &pool, c.id, user, role, &report, &q, csv)? {
                    Body::Json(report) => json.push(serde_json::json!({
                        "community": c.id, "name": c.name, "street_office": c.street_office, "report": report,
                    })),
                    Body::Csv(text) => tables.push((c.id.0, c.name, text)),
                }
            }
            Ok(if csv {
                let parts: Vec<(i64, &str, &str)> = tables
                    .iter()
                    .map(|(id, name, text)| (*id, name.as_str(), text.as_str()))
                    .collect();
                Body::Csv(linli_reports::csv::side_by_side(&parts))
            } else {
                Body::Json(serde_json::json!({ "communities": json }))
            })
        })
        .await?;
        return Ok(answer(&name, body));
    }
    let community = auth.community(
        q.community
            .as_deref()
            .map(|c| {
                c.parse()
                    .map_err(|_| bad("community", "is not a community id or `all`"))
            })
            .transpose()?,
    )?;
    let body = blocking(move || {
        let engine = engines.get(community)?;
        one_report(&engine, &pool, community, user, role, &report, &q, csv)
    })
    .await?;
    Ok(answer(&name, body))
}

/// The HTTP answer of report `name`.
fn answer(name: &str, body: Body) -> HttpResponse {
    match body {
        Body::Csv(text) => HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header((
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"linli-{name}.csv\""),
            ))
            .body(text),
        Body::Json(json) => HttpResponse::Ok().json(json),
    }
}

/// The district-wide red/black list of `month`: each community's handled tickets gathered under its own view in
/// turn (one community's state locked at a time), then ranked together.
fn district_ranking(
    engines: &crate::engine::Engines,
    pool: &crate::db::DbPool,
    q: &ReportQuery,
    csv: bool,
) -> Result<Body, ApiError> {
    let policy = ReportPolicy::DEFAULT;
    let month = period(&q.month, "month")?;
    let (from_ms, to_ms) = calendar::month_range(&month, policy.utc_offset_minutes)
        .ok_or_else(|| bad("month", "is not a month YYYY-MM"))?;
    let filter = Filter {
        from_ms,
        to_ms,
        grids: None,
    };
    let mut conn = pool.get().map_err(|e| ApiError::Internal {
        detail: e.to_string(),
    })?;
    let communities = crate::community::list(&mut conn)?;
    drop(conn);
    let as_of = crate::now_ms();
    let mut parts = Vec::with_capacity(communities.len());
    for c in communities {
        // Not a use (as for `community=all`): the ranking reads every community once.
        let engine = engines.get_untouched(c.id)?;
        let view = engine.view();
        let basis = Basis::new(u64::try_from(view.last_seq).unwrap_or(0), as_of);
        let handled = ranking::handled(&view.state, &filter, &policy, as_of);
        drop(view);
        parts.push((
            ranking::Part {
                community: c.id.0,
                name: c.name,
                basis,
            },
            handled,
        ));
    }
    let r = ranking::district(parts, &policy);
    render(&r, csv, ranking::DistrictRanking::csv)
}

/// One community's report `report`, in the one format asked for.
#[expect(
    clippy::too_many_arguments,
    reason = "the parts of one report request, each used once"
)]
fn one_report(
    engine: &crate::engine::Engine,
    pool: &crate::db::DbPool,
    community: CommunityId,
    user: linli_sync_core::ids::UserId,
    role: Role,
    report: &str,
    q: &ReportQuery,
    csv: bool,
) -> Result<Body, ApiError> {
    let policy = ReportPolicy::DEFAULT;
    // The ledger is read before the merged state is locked: no database work under the lock.
    let ledger = if report == "fees" {
        let mut conn = pool.get().map_err(|e| ApiError::Internal {
            detail: e.to_string(),
        })?;
        Some(crate::ledger::load(&mut conn, community)?)
    } else {
        None
    };
    let view = engine.view();
    let st = &view.state;
    let basis = Basis::new(u64::try_from(view.last_seq).unwrap_or(0), crate::now_ms());
    let grids = scope(st, user, role, q.grid.as_deref())?;
    let in_scope = Filter {
        grids: grids.clone(),
        ..Filter::default()
    };
    match report {
        "compliance" => {
            let r = compliance::compliance(st, &days(q, grids, &policy)?, &policy, basis);
            render(&r, csv, compliance::Compliance::csv)
        }
        "outcomes" => {
            let r = outcomes::outcomes(st, &days(q, grids, &policy)?, &policy, basis);
            render(&r, csv, outcomes::Outcomes::csv)
        }
        "ranking" => {
            let month = period(&q.month, "month")?;
            let (from_ms, to_ms) = calendar::month_range(&month, policy.utc_offset_minutes)
                .ok_or_else(|| bad("month", "is not a month YYYY-MM"))?;
            let r = ranking::ranking(
                st,
                &Filter {
                    from_ms,
                    to_ms,
                    grids,
                },
                &policy,
                basis,
            );
            render(&r, csv, ranking::Ranking::csv)
        }
        "agencies" => {
            let r = agencies::agencies(st, &days(q, grids, &policy)?, &policy, basis);
            render(&r, csv, agencies::Agencies::csv)
        }
        "councils" => {
            let r = councils::councils(st, &days(q, grids, &policy)?, &policy, basis);
            render(&r, csv, councils::Councils::csv)
        }
        "coverage" => {
            let d = required(&q.day, "day")?;
            let r = coverage::coverage(st, d, &in_scope, &policy, basis)
                .ok_or_else(|| bad("day", "is not a date YYYY-MM-DD"))?;
            render(&r, csv, coverage::Coverage::csv)
        }
        "hours" => {
            let r = hours::hours(st, &days(q, grids, &policy)?, basis);
            render(&r, csv, hours::Hours::csv)
        }
        "fees" => {
            let (from, to) = (period(&q.from, "from")?, period(&q.to, "to")?);
            let ledger = ledger.unwrap_or_default();
            let r = fees::fees(st, &ledger, &from, &to, &in_scope, &policy, basis);
            render(&r, csv, fees::Fees::csv)
        }
        _ => {
            let items: Vec<GridItem> = st
                .grids()
                .iter()
                .filter(|(id, g)| g.created.is_some() && in_scope.includes(id))
                .map(|(id, g)| GridItem {
                    id: *id,
                    name: g.name.val.clone().unwrap_or_default(),
                    community: g.community.val.clone().unwrap_or_default(),
                })
                .collect();
            render(&items, false, |_| String::new())
        }
    }
}

/// Body of `POST /v1/fees/payments`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PaymentIn {
    /// The household.
    #[schema(value_type = String)]
    pub household: HouseholdId,
    /// The fee period, `YYYY-MM` or `YYYY`.
    pub period: String,
    /// Amount paid, fen.
    pub amount_fen: u64,
    /// The community (a district admin names it).
    #[schema(value_type = Option<i64>)]
    #[serde(default)]
    pub community: Option<CommunityId>,
}

/// Answer of `POST /v1/fees/payments`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PaymentOut {
    /// The recorded payment's id.
    pub id: String,
}

/// Records a cash payment (admin: the property office).
#[utoipa::path(post, path = "/v1/fees/payments", tag = "reports", security(("bearer" = [])), request_body = PaymentIn,
    responses((status = 201, body = PaymentOut, description = "Recorded")))]
pub async fn record_payment(
    state: web::Data<AppState>,
    auth: Auth,
    body: web::Json<PaymentIn>,
) -> Result<HttpResponse, ApiError> {
    auth.require(&[Role::Admin])?;
    let p = body.into_inner();
    if !valid_period(&p.period) {
        return Err(ApiError::invalid("`period`: is not YYYY-MM or YYYY"));
    }
    if p.amount_fen == 0 {
        return Err(ApiError::invalid("`amount_fen`: must be positive"));
    }
    let community = auth.community(p.community)?;
    let engines = state.engines.clone();
    let household = p.household;
    let known = blocking(move || {
        Ok(engines
            .get(community)?
            .view()
            .state
            .grids()
            .values()
            .any(|g| g.households.contains(&household)))
    })
    .await?;
    if !known {
        return Err(ApiError::NotFound {
            detail: "the household is not known".into(),
        });
    }
    let pool = state.pool.clone();
    let by = auth.user.id;
    let payment = CashPayment {
        household: p.household,
        period: p.period,
        amount_fen: p.amount_fen,
    };
    let id = blocking(move || {
        let mut conn = pool.get().map_err(|e| ApiError::Internal {
            detail: e.to_string(),
        })?;
        Ok(crate::ledger::record_payment(
            &mut conn,
            community,
            &payment,
            by,
            now_i64(),
        )?)
    })
    .await?;
    Ok(HttpResponse::Created().json(PaymentOut { id: id.to_string() }))
}
