//! htmx conventions: partial answers to htmx requests, `HX-Redirect` instead of 303.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};

/// An htmx request that wants a fragment (boosted requests want whole pages).
pub fn is_htmx(req: &HttpRequest) -> bool {
    let has = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == "true")
    };
    has("hx-request") && !has("hx-boosted")
}

/// After a POST: 303 for a browser, `HX-Redirect` for htmx (which would otherwise follow
/// the 303 inside its request and swap the next page into the form).
pub fn redirect_response(location: &str, htmx: bool) -> HttpResponse {
    if htmx {
        HttpResponse::Ok()
            .insert_header(("HX-Redirect", location))
            .finish()
    } else {
        HttpResponse::SeeOther()
            .insert_header((header::LOCATION, location))
            .finish()
    }
}

pub fn see_other(req: &HttpRequest, location: &str) -> HttpResponse {
    redirect_response(location, is_htmx(req))
}

/// A local path to return to after signing in, or `None` for anything that could leave the site.
pub fn safe_next(next: Option<&str>) -> Option<String> {
    let next = next?.trim();
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control)
        && next.len() <= 2000;
    ok.then(|| next.to_owned())
}

/// The page of this site the request came from (its `Referer`), as a local path.
pub fn referer_path(req: &HttpRequest) -> Option<String> {
    let referer = req
        .headers()
        .get(actix_web::http::header::REFERER)?
        .to_str()
        .ok()?;
    let info = req.connection_info();
    let origin = format!("{}://{}", info.scheme(), info.host());
    safe_next(referer.strip_prefix(&origin))
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(
            safe_next(Some("/admin/users?q=a")).as_deref(),
            Some("/admin/users?q=a")
        );
        for bad in [
            "https://evil.example/",
            "//evil.example",
            "/\\evil.example",
            "javascript:alert(1)",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), None, "{bad}");
        }
        assert_eq!(safe_next(None), None);
    }
}
