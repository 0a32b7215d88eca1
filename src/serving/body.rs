//! Request bodies read to a limit, and the plain-text answers about them:
//! shared by the webhook and the event receiver.

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::BytesMut;
use http_body_util::BodyExt as _;

pub enum BodyError {
    TooLarge,
    Read(axum::Error),
}

/// Reads the body up to `limit` bytes, stopping as soon as it is passed.
/// What the client still sends after the 413 is discarded by the server's
/// lingering close (`server::linger`), so the client reads its answer.
pub async fn read_body(mut body: Body, limit: usize) -> Result<Bytes, BodyError> {
    let mut buf = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(BodyError::Read)?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if buf.len() + data.len() > limit {
            return Err(BodyError::TooLarge);
        }
        buf.extend_from_slice(&data);
    }
    Ok(buf.freeze())
}

/// A 413; the connection closes after it, as the rest of the body is not read.
pub fn too_large(limit: usize) -> Response {
    let mut rsp = plain(
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!("request body larger than {limit} bytes"),
    );
    rsp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    rsp
}

/// A one-line plain-text answer (newlines in the reason are folded).
pub fn plain(code: StatusCode, reason: &str) -> Response {
    let mut line = reason.replace(['\n', '\r'], " ");
    line.push('\n');
    (
        code,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        line,
    )
        .into_response()
}
