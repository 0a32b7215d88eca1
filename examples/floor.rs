//! The load test's floor (`hack/bench.sh`): the webhook's own HTTPS stack
//! (`imagestream_webhook::serving::tls` and `imagestream_webhook::serving::server::serve_tls`,
//! the same runtime, limits and timeouts as `serve`) with an axum router that
//! reads the whole request body and answers fixed bytes: the webhook's real
//! answer to the benchmarked review, captured once. Its throughput is what the
//! webhook would reach if deciding cost nothing.
//!
//! ```sh
//! floor --listen 127.0.0.1:8444 --tls-cert tls.crt --tls-key tls.key --response answer.json
//! ```
//!
//! Stops on SIGTERM or SIGINT.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

use imagestream_webhook::serving::server::{self, ServeOptions};
use imagestream_webhook::serving::tls;
use imagestream_webhook::serving::webhook::MAX_BODY_BYTES;

/// `serve`'s defaults for `--header-timeout-seconds` and `--body-timeout-seconds`.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
const BODY_TIMEOUT: Duration = Duration::from_secs(10);

struct Args {
    listen: SocketAddr,
    cert: PathBuf,
    key: PathBuf,
    response: PathBuf,
}

const USAGE: &str = "usage: floor --listen ADDR --tls-cert FILE --tls-key FILE --response FILE";

fn parse_args() -> Result<Args, String> {
    let (mut listen, mut cert, mut key, mut response) = (None, None, None, None);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--listen" => {
                listen = Some(
                    value
                        .parse::<SocketAddr>()
                        .map_err(|e| format!("--listen {value:?}: {e}"))?,
                );
            }
            "--tls-cert" => cert = Some(PathBuf::from(value)),
            "--tls-key" => key = Some(PathBuf::from(value)),
            "--response" => response = Some(PathBuf::from(value)),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    let missing = |what: &str| format!("{what} is required\n{USAGE}");
    Ok(Args {
        listen: listen.ok_or_else(|| missing("--listen"))?,
        cert: cert.ok_or_else(|| missing("--tls-cert"))?,
        key: key.ok_or_else(|| missing("--tls-key"))?,
        response: response.ok_or_else(|| missing("--response"))?,
    })
}

/// Reads the whole body, as the webhook does before deciding, then answers
/// the fixed response.
async fn answer(State(fixed): State<Bytes>, req: Request) -> Response {
    let read = tokio::time::timeout(
        BODY_TIMEOUT,
        axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES),
    )
    .await;
    match read {
        Ok(Ok(body)) => {
            std::hint::black_box(body);
        }
        Ok(Err(e)) => {
            return (StatusCode::BAD_REQUEST, format!("cannot read body: {e}\n")).into_response();
        }
        Err(_) => {
            return (StatusCode::REQUEST_TIMEOUT, "body not received in time\n").into_response();
        }
    }
    let mut rsp = Body::from(fixed).into_response();
    rsp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    rsp
}

async fn run(args: Args) -> Result<(), String> {
    let fixed = std::fs::read(&args.response)
        .map_err(|e| format!("cannot read {}: {e}", args.response.display()))?;
    let certs = tls::CertReloader::load(&args.cert, &args.key).map_err(|e| e.to_string())?;
    // As `serve`: the pair is polled for rotation (its default 5 s).
    tokio::spawn(Arc::clone(&certs).watch(Duration::from_secs(5), std::future::pending::<()>()));
    let config = tls::server_config(certs);
    let app = Router::new()
        .route("/mutate", post(answer))
        .route("/validate", post(answer))
        .with_state(Bytes::from(fixed));
    let listener = TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let opts = ServeOptions {
        header_read_timeout: HEADER_TIMEOUT,
        ..ServeOptions::default()
    };
    server::serve_tls(listener, config, app, opts, server::shutdown_signal())
        .await
        .map_err(|e| format!("listener failed: {e}"))
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("floor: {e}");
            return ExitCode::from(2);
        }
    };
    tls::install_crypto_provider();
    // The same runtime as `serve`: multi-threaded, one worker per core.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("floor: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("floor: {e}");
            ExitCode::FAILURE
        }
    }
}
