//! Logging: `RUST_LOG` filters, `info` by default; one span per request carrying its id.

use actix_web::Error;
use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RequestId, RootSpanBuilder};
use tracing_subscriber::EnvFilter;

pub fn init() {
    init_with_writer(std::io::stdout);
}

/// Logs to `writer` instead of standard output (tests read what was logged).
pub fn init_with_writer<W>(writer: W)
where
    W: for<'a> tracing_subscriber::fmt::MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // A second call (tests start many apps) keeps the first subscriber.
    // Colours only for a person at a terminal; files and log collectors get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_target(false)
        .with_writer(writer)
        .try_init();
}

/// Query parameters whose values are secrets.
const SECRET_PARAMETERS: &[&str] = &[
    "secret",
    "client_secret",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "code",
    "code_verifier",
    "password",
    "key",
];

/// A path and query as the log may show it: the secret of a one-time link
/// (`/setpassword/{id}/{secret}`), any other long hexadecimal or token-like segment, and the
/// values of parameters named like secrets are replaced by `[redacted]`.
pub fn redact_target(target: &str) -> String {
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    let mut after_setpassword = 0;
    let segments: Vec<String> = path
        .split('/')
        .map(|raw| {
            // Judged as the router reads it: `%73etpassword` is `setpassword`.
            let decoded = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
            let segment = decoded.as_ref();
            let secret = after_setpassword == 2 || looks_secret(segment);
            after_setpassword = match (after_setpassword, segment) {
                (_, "setpassword") => 1,
                (1, _) => 2,
                _ => 0,
            };
            if secret {
                "[redacted]".to_owned()
            } else {
                raw.to_owned()
            }
        })
        .collect();
    let mut out = segments.join("/");
    if let Some(query) = query {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, value))
                    if SECRET_PARAMETERS.contains(
                        &percent_encoding::percent_decode_str(name)
                            .decode_utf8_lossy()
                            .to_ascii_lowercase()
                            .as_str(),
                    ) || looks_secret(
                        &percent_encoding::percent_decode_str(value).decode_utf8_lossy(),
                    ) =>
                {
                    format!("{name}=[redacted]")
                }
                _ => pair.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    out
}

/// Secrets Rollcall makes are 64 hex characters; tokens are long base64url runs with dots.
fn looks_secret(segment: &str) -> bool {
    (segment.len() >= 40 && segment.chars().all(|c| c.is_ascii_hexdigit()))
        || (segment.len() >= 80
            && segment
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '%')))
}

/// Like the default request span, but redirects (signing in first, choosing a project) are
/// ordinary answers, not errors to log.
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    /// The fields of `tracing_actix_web::root_span!`, but with the target redacted: a link's
    /// secret must not reach the log even when the request fails.
    fn on_request_start(request: &ServiceRequest) -> Span {
        let route = request.match_pattern().unwrap_or_else(|| "default".into());
        let method = request.method().as_str().to_owned();
        let target = redact_target(
            request
                .uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or(""),
        );
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(ToString::to_string)
            .unwrap_or_default();
        let user_agent = request
            .headers()
            .get("User-Agent")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("")
            .to_owned();
        // The peer, as limits and audit events see it (a client's X-Forwarded-For is its word).
        let client_ip = request
            .peer_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_default();
        tracing::info_span!(
            "HTTP request",
            http.method = %method,
            http.route = %route,
            http.client_ip = %client_ip,
            http.user_agent = %user_agent,
            http.target = %target,
            http.status_code = tracing::field::Empty,
            otel.name = %format!("{method} {route}"),
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            request_id = %request_id,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        if let Ok(response) = outcome
            && response.status().is_redirection()
        {
            span.record("http.status_code", response.status().as_u16());
            return;
        }
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::redact_target;

    #[test]
    fn link_secrets_tokens_and_secret_parameters_are_redacted() {
        let secret = "a".repeat(64);
        assert_eq!(
            redact_target(&format!("/setpassword/1234-abcd/{secret}")),
            "/setpassword/1234-abcd/[redacted]"
        );
        assert_eq!(
            redact_target("/setpassword/1234/short?x=1"),
            "/setpassword/1234/[redacted]?x=1"
        );
        assert_eq!(
            redact_target("/oauth2/token?client_secret=abc&grant_type=client_credentials"),
            "/oauth2/token?client_secret=[redacted]&grant_type=client_credentials"
        );
        assert_eq!(redact_target("/admin/users?q=ada"), "/admin/users?q=ada");
        assert_eq!(
            redact_target(&format!("/%73etpassword/1234/{}%34", "a".repeat(63))),
            "/%73etpassword/1234/[redacted]"
        );
        assert_eq!(
            redact_target("/oauth2/token?client%5Fsecret=abc"),
            "/oauth2/token?client%5Fsecret=[redacted]"
        );
        assert_eq!(
            redact_target("/admin/members/6f1c0f3e-1b2a-4c3d-9e8f-0a1b2c3d4e5f"),
            "/admin/members/6f1c0f3e-1b2a-4c3d-9e8f-0a1b2c3d4e5f"
        );
    }
}
