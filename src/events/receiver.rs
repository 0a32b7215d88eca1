//! The receiver's routes: `POST /events/<format>`, one path per registry
//! format. A delivery is authenticated, read within bounds, and answered
//! 202 before anything is imported, so a slow registry never holds the
//! sender. The token never appears in an answer, a log line or a metric;
//! the request's URL (which may carry `?token=`) is never logged.

use crate::serving::body::{BodyError, plain, read_body, too_large};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::HttpBody;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::post;

use imagestream_core::events::{self, Delivery, Format, MAX_BODY_BYTES, auth};

use crate::events::dispatch::Dispatcher;
use crate::events::token::TokenFile;
use crate::metrics::{EventLabels, Metrics};

pub struct Receiver {
    pub token: Arc<TokenFile>,
    pub dispatcher: Arc<Dispatcher>,
    pub metrics: Arc<Metrics>,
    /// Time allowed to receive a whole body once its headers arrived.
    pub body_timeout: Duration,
}

pub fn router(receiver: Arc<Receiver>) -> Router {
    Router::new()
        .route("/events/{format}", post(receive))
        .with_state(receiver)
}

/// What became of a delivery, as counted in `events_received`.
#[derive(Debug, Clone, Copy)]
pub enum Result {
    /// It named a pushed tag.
    Accepted,
    /// Read, and moves no tag (a pull, a blob, a push by digest).
    Ignored,
    Unauthorized,
    /// Not the path's format (400).
    Invalid,
    TooLarge,
    /// The body did not arrive in time.
    Timeout,
    /// Too many tags wait to be imported already (503).
    Busy,
}

impl Result {
    pub const ALL: [Result; 7] = [
        Result::Accepted,
        Result::Ignored,
        Result::Unauthorized,
        Result::Invalid,
        Result::TooLarge,
        Result::Timeout,
        Result::Busy,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Result::Accepted => "accepted",
            Result::Ignored => "ignored",
            Result::Unauthorized => "unauthorized",
            Result::Invalid => "invalid",
            Result::TooLarge => "too_large",
            Result::Timeout => "timeout",
            Result::Busy => "busy",
        }
    }
}

async fn receive(
    State(r): State<Arc<Receiver>>,
    Path(name): Path<String>,
    req: Request,
) -> Response {
    let arrived = Instant::now();
    let Some(format) = Format::from_name(&name) else {
        let paths: Vec<String> = Format::ALL
            .iter()
            .map(|f| format!("/events/{}", f.as_str()))
            .collect();
        return plain(
            StatusCode::NOT_FOUND,
            &format!("no such event format; the paths are {}", paths.join(", ")),
        );
    };
    let (result, rsp) = answer(&r, format, req, arrived).await;
    r.metrics
        .events_received
        .get_or_create(&EventLabels {
            format: format.as_str(),
            result: result.as_str(),
        })
        .inc();
    rsp
}

async fn answer(
    r: &Receiver,
    format: Format,
    req: Request,
    arrived: Instant,
) -> (Result, Response) {
    let (parts, body) = req.into_parts();
    let headers = &parts.headers;
    // A presented token is checked before the body is read; a signature
    // needs the body.
    if !format.signed() {
        let presented =
            auth::presented_token(text(headers, header::AUTHORIZATION), parts.uri.query());
        if !presented.is_some_and(|t| r.token.matches(&t)) {
            return (Result::Unauthorized, unauthorized(format));
        }
    }
    if HttpBody::size_hint(&body).lower() > MAX_BODY_BYTES as u64 {
        return (Result::TooLarge, too_large(MAX_BODY_BYTES));
    }
    let body = match tokio::time::timeout(r.body_timeout, read_body(body, MAX_BODY_BYTES)).await {
        Err(_) => {
            return (
                Result::Timeout,
                plain(
                    StatusCode::REQUEST_TIMEOUT,
                    "request body not received in time",
                ),
            );
        }
        Ok(Err(BodyError::TooLarge)) => return (Result::TooLarge, too_large(MAX_BODY_BYTES)),
        Ok(Err(BodyError::Read(e))) => {
            return (
                Result::Invalid,
                plain(
                    StatusCode::BAD_REQUEST,
                    &format!("cannot read request body: {e}"),
                ),
            );
        }
        Ok(Ok(bytes)) => bytes,
    };
    if format.signed() {
        let signature = text(headers, "x-hub-signature-256").and_then(auth::github_signature);
        if !signature.is_some_and(|s| r.token.signed(&body, &s)) {
            return (Result::Unauthorized, unauthorized(format));
        }
    }
    let delivery = Delivery {
        body: &body,
        content_type: text(headers, header::CONTENT_TYPE),
        github_event: text(headers, "x-github-event"),
    };
    let reading = match events::read(format, &delivery) {
        Ok(reading) => reading,
        Err(why) => {
            tracing::info!(format = format.as_str(), reason = %why, "event refused: not the path's format");
            return (
                Result::Invalid,
                plain(
                    StatusCode::BAD_REQUEST,
                    &format!("not a {} event: {why}", format.as_str()),
                ),
            );
        }
    };
    let result = if reading.hints.is_empty() {
        Result::Ignored
    } else {
        Result::Accepted
    };
    tracing::debug!(
        format = format.as_str(),
        pushed = reading.hints.len(),
        ignored = reading.ignored,
        "event received"
    );
    if r.dispatcher.push(reading.hints, arrived).is_err() {
        tracing::warn!(
            format = format.as_str(),
            "event refused: too many pushed tags wait to be imported"
        );
        let mut rsp = plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many pushed tags wait to be imported; send the event again later",
        );
        rsp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
        return (Result::Busy, rsp);
    }
    (result, plain(StatusCode::ACCEPTED, "accepted"))
}

fn text(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A 401 that says what to send, not what was wrong with what was sent.
fn unauthorized(format: Format) -> Response {
    let how = if format.signed() {
        "an X-Hub-Signature-256 signature made with the token (the webhook's secret)"
    } else {
        "Authorization: Bearer TOKEN, or ?token=TOKEN in the URL"
    };
    let mut rsp = plain(
        StatusCode::UNAUTHORIZED,
        &format!("missing or wrong token: send {how}, with the token of --events-token-file"),
    );
    if !format.signed() {
        rsp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    rsp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_result_is_a_series_exported_from_the_start() {
        let results: Vec<&str> = Result::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(results, crate::metrics::EVENT_RESULTS);
    }
}
