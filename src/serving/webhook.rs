//! The webhook's HTTP routes: `POST /mutate` and `POST /validate`.

use crate::serving::body::{BodyError, plain, read_body, too_large};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, HttpBody};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use imagestream_core::admission::decision::Endpoint;

use crate::metrics::{EndpointLabels, Metrics, RequestLabels};
use crate::serving::admission::Admission;

/// The API server's own request limit: no legitimate review is larger.
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

pub struct Webhook {
    pub admission: Admission,
    pub metrics: Arc<Metrics>,
    /// Time allowed to receive a whole body once its headers arrived.
    pub body_timeout: Duration,
}

pub fn router(webhook: Arc<Webhook>) -> Router {
    Router::new()
        .route("/mutate", post(mutate))
        .route("/validate", post(validate))
        .with_state(webhook)
}

async fn mutate(State(w): State<Arc<Webhook>>, req: Request) -> Response {
    serve(&w, Endpoint::Mutate, req).await
}

async fn validate(State(w): State<Arc<Webhook>>, req: Request) -> Response {
    serve(&w, Endpoint::Validate, req).await
}

async fn serve(w: &Webhook, endpoint: Endpoint, req: Request) -> Response {
    // A declared length over the limit is refused on the head: waiting for
    // the body would only hold the connection for --body-timeout-seconds.
    if HttpBody::size_hint(req.body()).lower() > MAX_BODY_BYTES as u64 {
        return too_large(MAX_BODY_BYTES);
    }
    let read =
        tokio::time::timeout(w.body_timeout, read_body(req.into_body(), MAX_BODY_BYTES)).await;
    let body = match read {
        Err(_) => {
            return plain(
                StatusCode::REQUEST_TIMEOUT,
                "request body not received in time",
            );
        }
        Ok(Err(BodyError::TooLarge)) => return too_large(MAX_BODY_BYTES),
        Ok(Err(BodyError::Read(e))) => {
            return plain(
                StatusCode::BAD_REQUEST,
                &format!("cannot read request body: {e}"),
            );
        }
        Ok(Ok(bytes)) => bytes,
    };
    let started = Instant::now();
    match w.admission.review(endpoint, &body).await {
        Ok(answer) => {
            w.metrics
                .admission_latency
                .get_or_create(&EndpointLabels {
                    endpoint: endpoint.as_str(),
                })
                .observe(started.elapsed().as_secs_f64());
            w.metrics
                .admission_requests
                .get_or_create(&RequestLabels {
                    endpoint: endpoint.as_str(),
                    kind: answer.kind.map_or("other", |k| k.as_str()),
                    decision: answer.outcome.as_str(),
                })
                .inc();
            let mut rsp = Body::from(answer.body).into_response();
            rsp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            rsp
        }
        Err(reason) => {
            w.metrics
                .admission_requests
                .get_or_create(&RequestLabels {
                    endpoint: endpoint.as_str(),
                    kind: "unknown",
                    decision: "bad-request",
                })
                .inc();
            plain(StatusCode::BAD_REQUEST, &reason)
        }
    }
}
