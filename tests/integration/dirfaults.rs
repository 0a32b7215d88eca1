//! Directory mode against a hostile streams directory, on the real binary: a
//! stream file that cannot be read keeps its streams in force, symlink loops
//! and huge files cost nothing, and typos are reported with file and line.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::*;

fn pod(images: &[&str]) -> Value {
    let containers: Vec<Value> = images
        .iter()
        .enumerate()
        .map(|(i, image)| json!({"name": format!("c{i}"), "image": image}))
        .collect();
    let obj = object(
        "Pod",
        "toms-project",
        "p",
        json!({"serviceAccountName": "default", "containers": containers}),
    );
    admission_review("CREATE", &obj, None)
}

/// The image `/mutate` pins `image` to in toms-project, if any.
async fn pinned(server: &Server, image: &str) -> Option<String> {
    let rsp = server.review("/mutate", &pod(&[image])).await;
    assert_eq!(rsp["response"]["allowed"], true, "{rsp}");
    patch_of(&rsp)
        .first()
        .and_then(|p| p["value"].as_str())
        .map(str::to_owned)
}

/// Waits (bounded) until the metric `name` reaches `n`; the metrics page.
async fn wait_metric(server: &Server, name: &str, n: f64) -> String {
    let deadline = Instant::now() + BOUND;
    loop {
        let (_, text) = server.admin_get("/metrics").await;
        if metric(&text, name) >= n {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{name} did not reach {n}: {text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Lines the server logged so far.
fn logged(server: &Server) -> Vec<String> {
    server.log.try_iter().collect()
}

fn remove(path: &Path) {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir(path).expect("rmdir"),
        Ok(_) => std::fs::remove_file(path).expect("rm"),
        Err(_) => {}
    }
}

const ERRORS: &str = "imagestream_webhook_directory_reload_errors_total";

/// Issue 15, item 2: a short name that resolved keeps resolving when its file
/// turns into an entry that cannot be read; the failure is logged with the
/// path and counted. Only removing the name removes the stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_file_that_cannot_be_read_keeps_its_streams() {
    let dir = example_streams();
    let server = Server::start(dir.path(), &["--no-import", "--audit-log", "/dev/null"]);
    let latest = example_digest("marsview.yaml", 0);
    assert_eq!(
        pinned(&server, "marsview:latest").await,
        Some(latest.clone())
    );
    let file = dir.path().join("marsview.yaml");

    let fifo = dir.path().join(".fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let unreadable: [(&str, &dyn Fn()); 3] = [
        ("symlink", &|| {
            std::os::unix::fs::symlink(dir.path().join("gone.yaml"), &file).expect("symlink")
        }),
        ("a directory", &|| {
            std::fs::create_dir(&file).expect("mkdir")
        }),
        ("a FIFO", &|| std::fs::rename(&fifo, &file).expect("rename")),
    ];
    for (i, (what, make)) in unreadable.into_iter().enumerate() {
        remove(&file);
        make();
        let metrics = wait_metric(&server, ERRORS, (i + 1) as f64).await;
        assert_eq!(
            metric(&metrics, "imagestream_webhook_streams "),
            3.0,
            "{what}"
        );
        assert_eq!(
            pinned(&server, "marsview:latest").await,
            Some(latest.clone()),
            "{what}: the short name still resolves"
        );
        let rsp = server.review("/validate", &pod(&["marsview:latest"])).await;
        assert_eq!(rsp["response"]["allowed"], false, "{what}: {rsp}");
        let lines = logged(&server);
        assert!(
            lines
                .iter()
                .any(|l| l.contains("marsview.yaml") && l.contains(what) && l.contains("ERROR")),
            "{what}: {lines:?}"
        );
        assert_eq!(server.admin_get("/readyz").await.0, 200);
    }
    // Reported once each, not at every poll.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (_, metrics) = server.admin_get("/metrics").await;
    assert_eq!(metric(&metrics, ERRORS), 3.0, "{metrics}");

    // Gone from the directory: the stream goes, and the short name with it.
    remove(&file);
    let deadline = Instant::now() + BOUND;
    while pinned(&server, "marsview:latest").await.is_some() {
        assert!(
            Instant::now() < deadline,
            "the removed file's stream stayed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Resident and peak memory of a process, in MiB.
fn memory_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Issue 15, item 12: two symlinks to `.`, a file over the configured limit
/// and a sparse 200 MB file are each a counted reload error; nothing is read
/// twice and no large file is read at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_streams_directory_cannot_exhaust_the_process() {
    let dir = example_streams();
    let config = tempfile::NamedTempFile::new().expect("config");
    std::fs::write(config.path(), "directory:\n  maxFileBytes: 65536\n").expect("write config");
    let server = Server::start(
        dir.path(),
        &[
            "--no-import",
            "--audit-log",
            "/dev/null",
            "--config",
            config.path().to_str().expect("path"),
        ],
    );
    let latest = example_digest("marsview.yaml", 0);
    let (_, peak_before) = memory_mib(server.pid());

    std::os::unix::fs::symlink(".", dir.path().join("loop1")).expect("symlink");
    std::os::unix::fs::symlink(".", dir.path().join("loop2")).expect("symlink");
    let big = format!(
        "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata: {{name: big, namespace: toms-project}}\nspec: {{}}\n{}",
        "# padding\n".repeat(10_000)
    );
    std::fs::write(dir.path().join("big.yaml"), big).expect("write");
    let huge = std::fs::File::create(dir.path().join("huge.yaml")).expect("create");
    huge.set_len(200 << 20).expect("sparse 200 MB");
    drop(huge);

    let metrics = wait_metric(&server, ERRORS, 4.0).await;
    assert_eq!(
        metric(&metrics, "imagestream_webhook_streams "),
        3.0,
        "{metrics}"
    );
    assert_eq!(
        pinned(&server, "marsview:latest").await,
        Some(latest.clone())
    );
    let lines = logged(&server);
    for (name, why) in [
        ("loop1", "already read"),
        ("loop2", "already read"),
        ("big.yaml", "65536-byte limit"),
        ("huge.yaml", "209715200 bytes"),
    ] {
        assert!(
            lines.iter().any(|l| l.contains(name) && l.contains(why)),
            "{name}: {lines:?}"
        );
    }
    // Polls go on; nothing is reported again and nothing grows.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, metrics) = server.admin_get("/metrics").await;
    assert_eq!(metric(&metrics, ERRORS), 4.0, "{metrics}");
    let (rss, peak) = memory_mib(server.pid());
    eprintln!(
        "memory: peak {peak_before:.1} MiB before, {peak:.1} MiB after; resident {rss:.1} MiB"
    );
    assert!(
        peak < peak_before + 40.0,
        "peak memory grew from {peak_before:.1} to {peak:.1} MiB"
    );
}

const TYPO: &str = "\
apiVersion: image.openshift.io/v1
kind: ImageStream
metadata:
  name: typo
  namespace: toms-project
spec:
  lookupPolicy:
    locl: true
  tags:
  - name: latest
    form:
      kind: DockerImage
      name: registry.example/typo:latest
";

/// Issue 16, item 5, `serve`: unknown fields are logged with file, line and
/// field and counted; the stream loads. A kind the image API does not have
/// refuses the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typos_in_stream_files_are_logged_and_counted() {
    let dir = example_streams();
    let server = Server::start(dir.path(), &["--no-import", "--audit-log", "/dev/null"]);
    std::fs::write(dir.path().join("typo.yaml"), TYPO).expect("write");
    let metrics = wait_metric(&server, "imagestream_webhook_directory_warnings_total", 2.0).await;
    assert_eq!(
        metric(&metrics, "imagestream_webhook_streams "),
        4.0,
        "{metrics}"
    );
    assert_eq!(metric(&metrics, ERRORS), 0.0);
    let lines = logged(&server);
    for (line, field) in [(8, "spec.lookupPolicy.locl"), (11, "spec.tags[0].form")] {
        assert!(
            lines.iter().any(|l| l.contains("typo.yaml")
                && l.contains(&format!("line={line}"))
                && l.contains(field)
                && l.contains("WARN")),
            "{field}: {lines:?}"
        );
    }

    std::fs::write(
        dir.path().join("typo.yaml"),
        TYPO.replace("kind: ImageStream", "kind: ImageStrem"),
    )
    .expect("write");
    wait_metric(&server, ERRORS, 1.0).await;
    let lines = logged(&server);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("typo.yaml") && l.contains("kind \"ImageStrem\" does not exist")),
        "{lines:?}"
    );
}

/// Issue 16, item 5, the CLI: `review` prints the warnings on stderr as
/// `FILE:LINE: OBJECT: unknown field "FIELD"`, and still reviews.
#[test]
fn review_prints_typos_on_stderr() {
    let dir = example_streams();
    std::fs::write(dir.path().join("typo.yaml"), TYPO).expect("write");
    let manifest = dir.path().join("pod.json");
    std::fs::write(
        &manifest,
        pod(&["marsview:latest"])["request"]["object"].to_string(),
    )
    .expect("write");
    let out = Command::new(BIN)
        .arg("--streams-dir")
        .arg(dir.path())
        .args(["review", "-f"])
        .arg(&manifest)
        .stdin(Stdio::null())
        .output()
        .expect("run review");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let file = dir.path().join("typo.yaml");
    for (line, field) in [(8, "spec.lookupPolicy.locl"), (11, "spec.tags[0].form")] {
        let want = format!(
            "warning: {}:{line}: ImageStream toms-project/typo: unknown field \"{field}\"",
            file.display()
        );
        assert!(stderr.contains(&want), "{want}\n{stderr}");
    }
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&example_digest("marsview.yaml", 0)),
        "the review still pins"
    );
}
