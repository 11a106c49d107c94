//! Static files compiled into the binary.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use rust_embed::Embed;

use super::errors::AppError;

#[derive(Embed)]
#[folder = "static/"]
struct Assets;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/static/{path:.*}").route(web::get().to(asset)));
}

async fn asset(req: HttpRequest, path: web::Path<String>) -> Result<HttpResponse, AppError> {
    let file = Assets::get(&path).ok_or(AppError::NotFound)?;
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..12]));
    let unchanged = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == etag);
    let mut response = if unchanged {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"));
    if unchanged {
        return Ok(response.finish());
    }
    Ok(response
        .content_type(file.metadata.mimetype())
        .body(file.data.into_owned()))
}
