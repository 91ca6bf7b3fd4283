//! `GET /` and `GET /static/…`: the admin dashboard, a static page built into the binary (so `linli serve` needs
//! no files beside it), drawing the report endpoints with Apache ECharts (vendored; no CDN).

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use linli_reports::policy::ReportPolicy;
use std::sync::LazyLock;

use crate::error::ApiError;

/// The page, with the community's UTC offset written in: the dashboard's default dates are calendar days where the
/// community is, as the reports count them, whatever zone the admin's browser is set to.
static INDEX: LazyLock<String> = LazyLock::new(|| {
    include_str!("../../static/index.html").replace(
        "{{utc_offset_minutes}}",
        &ReportPolicy::DEFAULT.utc_offset_minutes.to_string(),
    )
});

/// Every static file: (path under /static/, content type, bytes).
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "dashboard.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/dashboard.js"),
    ),
    (
        "dashboard.css",
        "text/css; charset=utf-8",
        include_bytes!("../../static/dashboard.css"),
    ),
    (
        "vendor/echarts.simple.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/vendor/echarts.simple.min.js"),
    ),
];

/// The page.
pub async fn index() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(INDEX.as_str())
}

/// A static file.
pub async fn file(path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let path = path.into_inner();
    let (_, content_type, bytes) =
        FILES
            .iter()
            .find(|(name, _, _)| *name == path)
            .ok_or_else(|| ApiError::NotFound {
                detail: "no such static file".into(),
            })?;
    Ok(HttpResponse::Ok()
        .content_type(*content_type)
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(*bytes))
}
