//! No credential in any log, error or output: pull Secrets in a streams
//! directory that do not parse, or parse into no credential, are reported by
//! name, key and position, never by value, by `serve` and by the CLI; and
//! the Secret that does parse still serves the importer.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::json;

use crate::common::*;
use crate::registry::Registry;

fn b64(bytes: impl AsRef<[u8]>) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn secret_file(dir: &Path, name: &str, data_value: &str) {
    std::fs::write(
        dir.join(format!("{name}.yaml")),
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: team\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: {data_value}\n"
        ),
    )
    .expect("write secret");
}

/// Text that gives the registry credential away: the password, the `auth`
/// value and the base64 of each Secret's whole document. Any run of 8 of
/// their characters in `text` is a leak.
fn assert_no_credential(pieces: &[String], what: &str, text: &str) {
    for piece in pieces {
        let chars: Vec<char> = piece.chars().collect();
        for window in chars.windows(8) {
            let run: String = window.iter().collect();
            assert!(
                !text.contains(&run),
                "{what} shows {run:?} of a credential:\n{text}"
            );
        }
    }
}

#[test]
fn broken_pull_secrets_are_named_never_shown() {
    let reg = Registry::start();
    let auth = b64(format!("{}:{}", reg.user, reg.password));
    let document = json!({"auths": {reg.host.clone(): {"auth": auth}}}).to_string();
    let truncated = &document[..document.len() - 5];
    let mut not_utf8 = document.clone().into_bytes();
    not_utf8.insert(12, 0xff);
    let pieces = vec![
        reg.password.to_owned(),
        auth.clone(),
        b64(&document),
        b64(truncated),
        b64(&not_utf8),
    ];

    let dir = tempfile::tempdir().expect("tempdir");
    let digest = reg.push("team/app", "1", "one");
    std::fs::write(
        dir.path().join("app.yaml"),
        format!(
            "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata: {{name: app, namespace: team}}\nspec:\n  tags:\n  - name: \"1\"\n    from: {{kind: DockerImage, name: \"{}/team/app:1\"}}\n    importPolicy: {{insecure: true}}\n",
            reg.host
        ),
    )
    .expect("write stream");
    secret_file(dir.path(), "good", &b64(&document));
    let server = Server::start(dir.path(), &["--audit-log", "/dev/null"]);

    // The good Secret serves the import.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(dir.path().join("app.yaml")).expect("read");
        if text.contains(&digest) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the import never succeeded:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // Then come the broken ones: valid base64 of truncated JSON and of
    // non-UTF-8, invalid base64 (the JSON written as is, or a stray
    // character), and a file that is not UTF-8 itself.
    secret_file(dir.path(), "raw", &format!("'{document}'"));
    secret_file(dir.path(), "bang", &format!("{}!!", b64(&document)));
    secret_file(dir.path(), "truncated", &b64(truncated));
    secret_file(dir.path(), "notutf8", &b64(&not_utf8));
    let mut binary = b"apiVersion: v1\nkind: Secret\nmetadata: {name: binary, namespace: team}\ndata:\n  .dockerconfigjson: \xff".to_vec();
    binary.extend_from_slice(b64(&document).as_bytes());
    std::fs::write(dir.path().join("binary.yaml"), binary).expect("write binary");

    let mentioned = [
        "raw.yaml",
        "bang.yaml",
        "binary.yaml",
        "pull secret \"truncated\"",
        "pull secret \"notutf8\"",
    ];
    let mut log = Vec::new();
    let deadline = Instant::now() + BOUND;
    while !mentioned
        .iter()
        .all(|w| log.iter().any(|l: &String| l.contains(w)))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match server.log.recv_timeout(left) {
            Ok(line) => log.push(line),
            Err(_) => panic!("not all of {mentioned:?} were logged:\n{}", log.join("\n")),
        }
    }
    // Whatever else follows within a poll or two.
    std::thread::sleep(Duration::from_millis(500));
    log.extend(server.log.try_iter());
    let log = log.join("\n");
    assert_no_credential(&pieces, "the server log", &log);
    // Each is named, with its key and where the problem is.
    for want in [
        "Secret team/raw: data key \".dockerconfigjson\" (line 8, column 22) is not valid base64",
        "Secret team/bang: data key \".dockerconfigjson\" (line 8, column 22) is not valid base64",
        "pull secret \"truncated\" skipped: data key \".dockerconfigjson\" is not valid JSON (line 1, column",
        "pull secret \"notutf8\" skipped: data key \".dockerconfigjson\" is not valid JSON (line 1, column",
    ] {
        assert!(log.contains(want), "{want:?} missing in:\n{log}");
    }
    let stream = std::fs::read_to_string(dir.path().join("app.yaml")).expect("read");
    assert_no_credential(&pieces, "the stream file", &stream);

    // The CLI refuses a directory with a broken file, naming it, not its contents.
    for args in [
        vec!["describe", "app"],
        vec![
            "import-image",
            "app:1",
            "--from",
            &format!("{}/team/app:1", reg.host),
            "--insecure",
            "--confirm",
        ],
        vec![
            "check-access",
            "team/app",
            "--service-account",
            "team/default",
        ],
    ] {
        let out = Command::new(BIN)
            .args(&args)
            .arg("--streams-dir")
            .arg(dir.path())
            .args(["-n", "team"])
            .output()
            .expect("run the CLI");
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_no_credential(&pieces, &format!("{args:?}"), &said);
    }
    std::fs::remove_file(dir.path().join("binary.yaml")).expect("remove");
    let out = Command::new(BIN)
        .args(["describe", "app", "-n", "team", "--streams-dir"])
        .arg(dir.path())
        .output()
        .expect("describe");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("Secret team/") && said.contains("not valid base64"),
        "{said}"
    );
    assert_no_credential(&pieces, "describe", &said);
}

/// Cluster mode: a Secret list with one Secret that does not parse (a value
/// that is no base64, which only a broken or hostile API server sends) once
/// made the whole list fail, and the Kubernetes client logged the answer
/// whole, every credential of the namespace with it. Now the bad Secret is
/// named and left out, and the good one serves the import.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_list_with_a_broken_secret_is_never_logged() {
    use crate::fakeapi::{FakeApi, SECRETS, STREAMS};
    let reg = tokio::task::spawn_blocking(|| {
        let reg = Registry::start();
        reg.push("team/app", "1", "one");
        reg
    })
    .await
    .expect("registry");
    let auth = b64(format!("{}:{}", reg.user, reg.password));
    let document = json!({"auths": {reg.host.clone(): {"auth": auth}}}).to_string();
    let pieces = vec![reg.password.to_owned(), auth.clone(), b64(&document)];
    let api = FakeApi::start().await;
    for (name, value) in [("bad", document.clone()), ("good", b64(&document))] {
        api.put(
            SECRETS,
            json!({"metadata": {"name": name, "namespace": "team"},
                "type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": value}}),
        );
    }
    api.put(
        STREAMS,
        json!({"metadata": {"name": "app", "namespace": "team", "generation": 1},
            "spec": {"tags": [{"name": "1", "from": {"kind": "DockerImage", "name": format!("{}/team/app:1", reg.host)},
                "importPolicy": {"insecure": true}, "generation": 1}]}}),
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = Server::start_cluster(&api.kubeconfig(tmp.path()), &[]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let stored = loop {
        let stored = api.get(STREAMS, "team", "app").expect("stream");
        if stored["status"]["tags"][0]["items"][0]["image"].is_string()
            || stored["status"]["tags"][0]["conditions"][0]["reason"].is_string()
        {
            break stored;
        }
        assert!(Instant::now() < deadline, "no import result: {stored}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log: Vec<String> = server.log.try_iter().collect();
    let log = log.join("\n");
    assert_no_credential(&pieces, "the server log", &log);
    assert_no_credential(&pieces, "the stream", &stored.to_string());
    assert!(
        stored["status"]["tags"][0]["items"][0]["image"].is_string(),
        "the good Secret serves the import: {stored}"
    );
    assert!(
        log.contains("Secret team/bad: data key \".dockerconfigjson\" is not valid base64"),
        "{log}"
    );
}
