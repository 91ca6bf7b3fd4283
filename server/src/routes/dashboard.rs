//! `GET /` and `GET /static/…`: the admin dashboard, a static page built into the binary (so `linli serve` needs
//! no files beside it), drawing the report endpoints with Apache ECharts (vendored; no CDN).

use actix_web::http::header;
use actix_web::{HttpResponse, web};

use crate::error::ApiError;

const INDEX: &str = include_str!("../../static/index.html");

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
        .body(INDEX)
}

/// A static file.
pub async fn file(path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let path = path.into_inner();
    let (_, content_type, bytes) =
        FILES
            .iter()
            .find(|(name, _, _)| *name == path)
            .ok_or_else(|| ApiError::NotFound {
                detail: format!("no static file `{path}`"),
            })?;
    Ok(HttpResponse::Ok()
        .content_type(*content_type)
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(*bytes))
}
