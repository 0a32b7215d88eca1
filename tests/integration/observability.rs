//! What `serve` tells its operator: the metrics the README documents, from
//! the first scrape; leadership as it is; imports in the log; and logs a
//! cluster's log pipeline can read (`--log-format json`).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::*;
use crate::registry::Registry;

/// The metric names in the README's Metrics table.
fn documented_metrics() -> Vec<String> {
    let readme = std::fs::read_to_string(repo_path("README.md")).expect("README");
    let section = readme
        .split("\n## Metrics\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("a Metrics section");
    let names: Vec<String> = section
        .lines()
        .filter(|l| l.starts_with("| `imagestream_webhook_"))
        .flat_map(|l| {
            let first_cell = l.split('|').nth(1).unwrap_or_default();
            first_cell
                .split('`')
                .filter(|s| s.starts_with("imagestream_webhook_"))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(names.len() >= 12, "README metrics table: {names:?}");
    names
}

/// The samples of `name` in a Prometheus text page: `(series, value)`.
fn samples<'t>(text: &'t str, name: &str) -> Vec<(&'t str, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let rest = series.strip_prefix(name)?;
            let family = rest.is_empty()
                || rest.starts_with('{')
                || ["_bucket", "_sum", "_count", "_created"]
                    .iter()
                    .any(|s| rest.starts_with(s));
            family.then(|| (series, value.parse().unwrap_or(f64::NAN)))
        })
        .collect()
}

/// A user scrapes `/metrics` before the first request: every metric the
/// README lists is there already, at zero (so `rate()` and alerts on absent
/// series work from the start), and with `--no-import` this replica does not
/// claim to lead.
#[tokio::test]
async fn every_documented_metric_is_exported_from_the_start_at_zero() {
    let dir = example_streams();
    let server = Server::start(dir.path(), &["--no-import", "--audit-log", "/dev/null"]);
    let (status, text) = server.admin_get("/metrics").await;
    assert_eq!(status, 200);
    for name in documented_metrics() {
        let found = samples(&text, &name);
        assert!(!found.is_empty(), "{name} is not exported:\n{text}");
        if ["_streams", "_tags"].iter().any(|s| name.ends_with(s)) {
            continue;
        }
        for (series, value) in found {
            assert_eq!(value, 0.0, "{series} at start:\n{text}");
        }
    }
    // The label values an operator will query are there from the start.
    for series in [
        r#"imagestream_webhook_admission_requests_total{endpoint="mutate",kind="Pod",decision="mutate"}"#,
        r#"imagestream_webhook_admission_requests_total{endpoint="validate",kind="Deployment",decision="deny"}"#,
        r#"imagestream_webhook_admission_requests_total{endpoint="mutate",kind="unknown",decision="bad-request"}"#,
        r#"imagestream_webhook_imports_total{result="failure",reason="Unauthorized"}"#,
        r#"imagestream_webhook_triggers_total{result="fired",reason=""}"#,
        r#"imagestream_webhook_access_checks_total{result="denied",source="api"}"#,
    ] {
        assert!(text.contains(&format!("{series} 0")), "{series}:\n{text}");
    }
    assert_eq!(metric(&text, "imagestream_webhook_leader "), 0.0, "{text}");
    let mut logged = server.startup.clone();
    logged.extend(server.log.try_iter());
    assert!(
        !logged.iter().any(|l| l.contains("leader=true")),
        "claims leadership with --no-import:\n{}",
        logged.join("\n")
    );
}

/// Every stderr line of `serve --log-format json` is one JSON object with
/// the level, the message, and the fields the text format shows as `k=v`.
#[tokio::test]
async fn log_format_json_writes_one_object_per_line() {
    let dir = example_streams();
    let server = Server::start(
        dir.path(),
        &[
            "--no-import",
            "--audit-log",
            "/dev/null",
            "--log-format",
            "json",
        ],
    );
    let rsp = server
        .review(
            "/mutate",
            &admission_review(
                "CREATE",
                &object(
                    "Pod",
                    "toms-project",
                    "p",
                    json!({"containers": [{"name": "main", "image": "marsview:latest"}]}),
                ),
                None,
            ),
        )
        .await;
    assert_eq!(patch_of(&rsp).len(), 1);
    // The lines Server::start read to find the addresses, then the rest.
    std::fs::write(
        dir.path().join("broken.yaml"),
        "kind: ImageStream\nmetadata: [\n",
    )
    .expect("write");
    let deadline = Instant::now() + BOUND;
    let mut events = Vec::new();
    while !events.iter().any(|e: &Value| {
        e["message"] == "cannot parse or read file; its last good objects stay in force"
    }) {
        assert!(
            Instant::now() < deadline,
            "no parse error logged: {events:?}"
        );
        if let Ok(line) = server.log.recv_timeout(Duration::from_millis(100)) {
            let event: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("not a JSON object ({e}): {line:?}"));
            assert!(event.is_object(), "{line}");
            assert!(event["level"].is_string(), "{line}");
            assert!(event["timestamp"].is_string(), "{line}");
            events.push(event);
        }
    }
    let error = events
        .iter()
        .find(|e| e["message"] == "cannot parse or read file; its last good objects stay in force")
        .expect("the parse error");
    assert_eq!(error["level"], "ERROR");
    assert!(
        error["file"]
            .as_str()
            .is_some_and(|f| f.ends_with("broken.yaml")),
        "{error}"
    );
    assert!(error["reason"].is_string(), "{error}");
}

/// A tag that moves is imported by `serve` and the import is logged at info
/// with the stream, the tag, and the old and the new digest; and the replica
/// that imports says it leads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn successful_imports_are_logged_with_both_digests() {
    let reg = Registry::start_anonymous();
    let dir = tempfile::tempdir().expect("tempdir");
    let d1 = reg.push("team/app", "1", "one");
    let from = format!("{}/team/app:1", reg.host);
    let out = std::process::Command::new(BIN)
        .args(["import-image", "app:1", "--from", &from])
        .args(["--insecure", "--scheduled", "--confirm", "-n", "team"])
        .arg("--streams-dir")
        .arg(dir.path())
        .output()
        .expect("run import-image");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config = dir.path().join("fast.conf");
    std::fs::write(
        &config,
        "import: {minimumIntervalSeconds: 1, maxScheduledImportsPerMinute: 600}\n",
    )
    .expect("config");
    let server = Server::start(
        dir.path(),
        &[
            "--config",
            config.to_str().expect("path"),
            "--audit-log",
            "/dev/null",
            "--log-format",
            "json",
        ],
    );
    let d2 = reg.push("team/app", "1", "two");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = server.startup.clone();
    let imported = loop {
        assert!(
            Instant::now() < deadline,
            "the import of {d2} was never logged:\n{}",
            seen.join("\n")
        );
        let Ok(line) = server.log.recv_timeout(Duration::from_millis(200)) else {
            continue;
        };
        let event: Value = serde_json::from_str(&line).expect("json log line");
        seen.push(line);
        if event["message"] == "tag imported" && event["new"] == d2.as_str() {
            break event;
        }
    };
    assert_eq!(imported["level"], "INFO", "{imported}");
    assert_eq!(imported["namespace"], "team", "{imported}");
    assert_eq!(imported["name"], "app", "{imported}");
    assert_eq!(imported["tag"], "1", "{imported}");
    assert_eq!(imported["old"], d1.as_str(), "{imported}");
    let leads = seen
        .iter()
        .any(|l| serde_json::from_str::<Value>(l).is_ok_and(|e| e["leader"] == true));
    assert!(
        leads,
        "the importing replica never said it leads:\n{}",
        seen.join("\n")
    );
    let (_, metrics) = server.admin_get("/metrics").await;
    assert_eq!(metric(&metrics, "imagestream_webhook_leader "), 1.0);
}
