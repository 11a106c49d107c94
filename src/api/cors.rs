//! Cross-origin requests from browser apps: allowed for the origins of client applications'
//! redirect URIs and for those listed in `ROLLCALL_CORS_ORIGINS`, on the API's paths only;
//! none by default. The list lives in the database, so every instance answers alike.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};

use crate::http::AppState;
use crate::services::clients;

/// The paths a browser app may call from another origin.
fn shared(path: &str) -> bool {
    ["/oauth2/", "/auth/", "/fhir/", "/admin/projects/"]
        .iter()
        .any(|prefix| path.starts_with(prefix))
}

async fn allowed(state: &AppState, origin: &str) -> bool {
    if state.settings.cors_origins.iter().any(|o| o == origin) {
        return true;
    }
    let origin = origin.to_owned();
    state
        .db
        .run(move |conn| clients::origin_registered(conn, &origin))
        .await
        .unwrap_or(false)
}

fn add_headers(headers: &mut header::HeaderMap, origin: &header::HeaderValue) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    // Medplum's SDK sends `credentials: include`.
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
        header::HeaderValue::from_static("true"),
    );
    headers.append(header::VARY, header::HeaderValue::from_static("Origin"));
}

pub async fn cors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let origin = req.headers().get(header::ORIGIN).cloned();
    let (Some(origin), true) = (origin, shared(req.path())) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let ok = match (state, origin.to_str()) {
        (Some(state), Ok(text)) => allowed(&state, text).await,
        _ => false,
    };
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        let mut response = HttpResponse::NoContent();
        if ok {
            response
                .insert_header((
                    header::ACCESS_CONTROL_ALLOW_METHODS,
                    "GET, POST, PUT, PATCH, DELETE",
                ))
                .insert_header((
                    header::ACCESS_CONTROL_ALLOW_HEADERS,
                    "Authorization, Content-Type, X-Medplum, Cache-Control",
                ))
                .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"));
        }
        let mut response = response.finish();
        if ok {
            add_headers(response.headers_mut(), &origin);
        } else {
            response
                .headers_mut()
                .insert(header::VARY, header::HeaderValue::from_static("Origin"));
        }
        return Ok(req.into_response(response));
    }
    let mut response = next.call(req).await?.map_into_boxed_body();
    if ok {
        add_headers(response.headers_mut(), &origin);
    }
    Ok(response)
}
