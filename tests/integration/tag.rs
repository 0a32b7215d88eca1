//! `tag` as `oc tag` reads it: every SOURCE form, several DESTs, a stream
//! of another namespace pinned or followed (resolving at once in `review`),
//! and refused when the DEST's namespace may not use it.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

use crate::common::cli_in_toms_project as cli;
use crate::common::*;

const MARSVIEW_LATEST: &str =
    "sha256:96eb1912832ca200ad10328de66a50ffff61d79b9baa9b07f102133ddcb5c7af";
const MARSVIEW_1_0: &str =
    "sha256:e9a894206a0b01f10f78192d43213953d1697f0308c992ddc4e97d7a3a992493";
const BASE_9_4: &str = "sha256:b5f92007f5973c15cbd20ce7e84b345ef41613dad73d6db3e9bfdebac9b3d3a8";

/// The spec tag `tag` of stream NS/NAME, from whichever file holds it.
fn spec_tag(dir: &Path, ns: &str, name: &str, tag: &str) -> Option<Value> {
    for entry in std::fs::read_dir(dir).expect("dir") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let docs: Vec<Value> =
            serde_saphyr::from_multiple(&std::fs::read_to_string(&path).expect("read"))
                .expect("the file parses");
        for d in docs {
            if d["kind"] == "ImageStream"
                && d["metadata"]["name"] == name
                && d["metadata"]["namespace"] == ns
            {
                return d["spec"]["tags"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|t| t["name"] == tag)
                    .cloned();
            }
        }
    }
    None
}

fn from(dir: &Path, ns: &str, name: &str, tag: &str) -> Value {
    spec_tag(dir, ns, name, tag).unwrap_or_else(|| panic!("no spec tag {ns}/{name}:{tag}"))["from"]
        .clone()
}

/// What `review` pins `image` to in a pod of toms-project.
fn review_pins(dir: &Path, image: &str) -> String {
    let manifest = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  containers: [{{name: main, image: \"{image}\"}}]\n"
    );
    let file = dir.join("pod.yaml.in");
    std::fs::write(&file, manifest).expect("write pod");
    let out = cli(dir, &["review", "-f", file.to_str().expect("path")]);
    assert_code(&out, 0, &format!("review of {image}"));
    let doc: Value = serde_saphyr::from_str(&text(&out.stdout)).expect("yaml");
    doc["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| {
            let e = e.expect("entry");
            let name = e.file_name().to_string_lossy().into_owned();
            (name, std::fs::read(e.path()).expect("read"))
        })
        .collect();
    out.sort();
    out
}

#[test]
fn a_stream_of_another_namespace_is_pinned_at_once_not_docker_hub() {
    let dir = example_streams();
    let d = dir.path();
    // The issue's own example: shared-images/base:9.4 is a stream tag, not docker.io/shared-images/base.
    let out = cli(d, &["tag", "shared-images/base:9.4", "marsview:base"]);
    assert_code(&out, 0, "tag shared-images/base:9.4 marsview:base");
    assert_eq!(
        text(&out.stdout),
        format!(
            "Tag marsview:base set to shared-images/base@{BASE_9_4} (registry.access.redhat.com/ubi9/ubi-minimal@{BASE_9_4}).\n"
        )
    );
    assert_eq!(
        from(d, "toms-project", "marsview", "base"),
        json!({"kind": "ImageStreamImage", "name": format!("base@{BASE_9_4}"), "namespace": "shared-images"})
    );
    // It resolves at once, in review (and so in the webhook, which answers from the same status).
    assert_eq!(
        review_pins(d, "marsview:base"),
        format!("registry.access.redhat.com/ubi9/ubi-minimal@{BASE_9_4}")
    );

    // --alias follows it instead, and resolves at once too.
    let out = cli(
        d,
        &[
            "tag",
            "--alias",
            "shared-images/base:9.4",
            "marsview:follow",
        ],
    );
    assert_code(&out, 0, "tag --alias");
    assert_eq!(
        from(d, "toms-project", "marsview", "follow"),
        json!({"kind": "ImageStreamTag", "name": "base:9.4", "namespace": "shared-images"})
    );
    assert_eq!(
        review_pins(d, "marsview:follow"),
        format!("registry.access.redhat.com/ubi9/ubi-minimal@{BASE_9_4}")
    );
}

#[test]
fn a_stream_the_namespace_may_not_use_is_refused_and_nothing_is_written() {
    let dir = example_streams();
    let d = dir.path();
    std::fs::write(
        d.join("vault.yaml"),
        format!(
            "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata: {{name: secret-sauce, namespace: vault}}\nspec:\n  tags:\n  - name: \"1\"\n    from: {{kind: DockerImage, name: quay.io/vault/sauce:1}}\nstatus:\n  tags:\n  - tag: \"1\"\n    items:\n    - created: \"2026-10-02T08:00:00Z\"\n      dockerImageReference: quay.io/vault/sauce@{BASE_9_4}\n      image: {BASE_9_4}\n      generation: 1\n"
        ),
    )
    .expect("write vault");
    let before = files(d);
    for args in [
        &["tag", "vault/secret-sauce:1", "marsview:sauce"][..],
        &["tag", "--alias", "vault/secret-sauce:1", "marsview:sauce"],
        &[
            "tag",
            &format!("vault/secret-sauce@{BASE_9_4}"),
            "marsview:sauce",
        ],
        // An allowed DEST first: every DEST is checked before any is written.
        &[
            "tag",
            "vault/secret-sauce:1",
            "vault/secret-sauce:copy",
            "marsview:sauce",
        ],
    ] {
        let out = cli(d, args);
        assert_code(&out, 1, &format!("{args:?}"));
        let stderr = text(&out.stderr);
        assert!(
            stderr.starts_with("error: Forbidden: tag toms-project/marsview:sauce may not point at imagestream vault/secret-sauce")
                && stderr.contains("nothing was written"),
            "{args:?}: {stderr}"
        );
        assert!(spec_tag(d, "toms-project", "marsview", "sauce").is_none());
    }
    assert_eq!(files(d), before, "no file changed");
}

#[test]
fn every_source_form() {
    let dir = example_streams();
    let d = dir.path();
    let ok = |args: &[&str]| {
        let out = cli(d, args);
        assert_code(&out, 0, &format!("{args:?}"));
        text(&out.stdout)
    };
    // STREAM:TAG: pinned to its current image, no namespace written.
    ok(&["tag", "marsview:latest", "marsview:pinned"]);
    assert_eq!(
        from(d, "toms-project", "marsview", "pinned"),
        json!({"kind": "ImageStreamImage", "name": format!("marsview@{MARSVIEW_LATEST}")})
    );
    // STREAM@sha256:…, and NS/STREAM:TAG of the DEST's own namespace: no namespace written.
    ok(&["tag", &format!("marsview@{MARSVIEW_1_0}"), "marsview:old"]);
    assert_eq!(
        from(d, "toms-project", "marsview", "old"),
        json!({"kind": "ImageStreamImage", "name": format!("marsview@{MARSVIEW_1_0}")})
    );
    assert_eq!(
        review_pins(d, "marsview:old"),
        format!("registry.marsrover.space/engine/marsview@{MARSVIEW_1_0}")
    );
    ok(&[
        "tag",
        "--alias",
        "toms-project/marsview:latest",
        "marsview:prod",
    ]);
    assert_eq!(
        from(d, "toms-project", "marsview", "prod"),
        json!({"kind": "ImageStreamTag", "name": "marsview:latest"})
    );
    // Registry images, as oc tells them apart, with --reference (never imported).
    for (source, name) in [
        ("quay.io/acme/marsview:1.4", "quay"),
        ("localhost/ruby:1", "local"),
        ("localhost:5000/ruby:1", "localport"),
        ("registry:5000/ruby:1", "port"),
        // No tag and no digest: a registry image named ruby, as in oc.
        ("ruby", "bare"),
    ] {
        let stdout = ok(&["tag", "--reference", source, &format!("marsview:{name}")]);
        assert_eq!(
            stdout,
            format!("Tag marsview:{name} set to {source} (a reference: never imported).\n")
        );
        let t = spec_tag(d, "toms-project", "marsview", name).expect("tag");
        assert_eq!(
            t["from"],
            json!({"kind": "DockerImage", "name": source}),
            "{source}"
        );
        assert_eq!(t["reference"], true, "{source}");
    }
    // --source=docker reads a stream-like SOURCE as a registry image.
    ok(&[
        "tag",
        "--source=docker",
        "--reference",
        "shared-images/base:9.4",
        "marsview:hub",
    ]);
    assert_eq!(
        from(d, "toms-project", "marsview", "hub"),
        json!({"kind": "DockerImage", "name": "shared-images/base:9.4"})
    );
    // Several DESTs, one of another namespace (the source's own: no namespace written there).
    let stdout = ok(&[
        "tag",
        "shared-images/base:9.4",
        "shared-images/base:stable",
        "marsview:a",
        "toolbox:a",
    ]);
    assert_eq!(stdout.lines().count(), 3, "{stdout}");
    assert!(
        stdout.starts_with("Tag shared-images/base:stable set to base@"),
        "{stdout}"
    );
    assert_eq!(
        from(d, "shared-images", "base", "stable"),
        json!({"kind": "ImageStreamImage", "name": format!("base@{BASE_9_4}")})
    );
    assert_eq!(
        from(d, "toms-project", "toolbox", "a"),
        from(d, "toms-project", "marsview", "a")
    );
    // -d takes several, namespace-qualified or not.
    let stdout = ok(&["tag", "-d", "marsview:a", "shared-images/base:stable"]);
    assert_eq!(
        stdout,
        "Deleted tag toms-project/marsview:a.\nDeleted tag shared-images/base:stable.\n"
    );
    assert!(spec_tag(d, "shared-images", "base", "stable").is_none());

    // Failures: a stream that is not there names the way to a registry image.
    let out = cli(d, &["tag", "myhost/ruby:1", "marsview:x"]);
    assert_code(&out, 1, "myhost/ruby:1");
    assert!(
        text(&out.stderr).contains("imagestream myhost/ruby not found (SOURCE \"myhost/ruby:1\" names a stream tag; for a registry image write its registry, e.g. docker.io/myhost/ruby:1, or pass --source=docker)"),
        "{}",
        text(&out.stderr)
    );
    let before = files(d);
    for (args, want) in [
        (
            &["tag", "--source=istag", "quay.io/a/b:1", "marsview:x"][..],
            "names registry quay.io",
        ),
        (
            &["tag", "--source=git", "a:1", "marsview:x"],
            "valid values are docker",
        ),
        (&["tag", "Ruby:1", "marsview:x"], "invalid SOURCE"),
        (
            &["tag", "marsview:latest", "marsview:ok", "a/b/c:1"],
            "at most one '/'",
        ),
        (
            &["tag", "--reference", "marsview:latest", "marsview:x"],
            "--reference",
        ),
        (
            &["tag", "--alias", "quay.io/a/b:1", "marsview:x"],
            "--alias",
        ),
        (
            &["tag", "--scheduled", "marsview:latest", "marsview:x"],
            "registry images",
        ),
        (&["tag", "-d", "marsview"], "tag -d needs NAME:TAG"),
    ] {
        let out = cli(d, args);
        assert_code(&out, 2, &format!("{args:?}"));
        assert!(
            text(&out.stderr).contains(want),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    assert_eq!(files(d), before, "bad input changes nothing");
}

/// Runs the CLI against the fake API server's kubeconfig, off the async runtime.
async fn cluster_cli(kubeconfig: &Path, args: &[&str]) -> Output {
    let (kc, args): (std::path::PathBuf, Vec<String>) = (
        kubeconfig.to_owned(),
        args.iter().map(|a| a.to_string()).collect(),
    );
    tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(&args)
            .args(["-n", "team", "--kubeconfig"])
            .arg(&kc)
            .stdin(Stdio::null())
            .output()
            .expect("run")
    })
    .await
    .expect("join")
}

#[tokio::test]
async fn cluster_mode_pins_a_stream_of_another_namespace_only_when_allowed() {
    use crate::fakeapi::{FakeApi, STREAMS};
    let api = FakeApi::start().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let kubeconfig = api.kubeconfig(tmp.path());
    for (ns, name) in [("shared-images", "base"), ("vault", "secret-sauce")] {
        api.put_stream(json!({
            "apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"tags": [{"name": "9.4", "from": {"kind": "DockerImage", "name": "registry.access.redhat.com/ubi9/ubi-minimal:9.4"}}]},
            "status": {"tags": [{"tag": "9.4", "items": [{"created": "2026-10-02T08:00:00Z",
                "dockerImageReference": format!("registry.access.redhat.com/ubi9/ubi-minimal@{BASE_9_4}"),
                "image": BASE_9_4, "generation": 1}]}]},
        }));
    }
    api.allow(
        "system:serviceaccount:team:default",
        "shared-images",
        "base",
    );

    let out = cluster_cli(&kubeconfig, &["tag", "shared-images/base:9.4", "app:base"]).await;
    assert_code(&out, 0, "tag in cluster mode");
    let stored = api.get(STREAMS, "team", "app").expect("created");
    assert_eq!(
        stored["spec"]["tags"][0]["from"],
        json!({"kind": "ImageStreamImage", "name": format!("base@{BASE_9_4}"), "namespace": "shared-images"})
    );
    // Resolved at once: the status holds the pinned image.
    assert_eq!(stored["status"]["tags"][0]["items"][0]["image"], BASE_9_4);
    assert_eq!(
        stored["status"]["tags"][0]["items"][0]["dockerImageReference"],
        format!("registry.access.redhat.com/ubi9/ubi-minimal@{BASE_9_4}")
    );

    // Not allowed: Forbidden, and no write at all.
    let writes = |api: &FakeApi| {
        api.requests()
            .iter()
            .filter(|r| r.method != "GET" && !r.path.contains("subjectaccessreviews"))
            .count()
    };
    let before = writes(&api);
    let out = cluster_cli(&kubeconfig, &["tag", "vault/secret-sauce:9.4", "app:sauce"]).await;
    assert_code(&out, 1, "tag of a stream team may not use");
    assert!(
        text(&out.stderr).contains(
            "Forbidden: tag team/app:sauce may not point at imagestream vault/secret-sauce"
        ),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(writes(&api), before, "nothing was written");
}

#[tokio::test]
async fn the_webhook_pins_a_cross_namespace_tag_as_soon_as_it_is_set() {
    let dir = example_streams();
    let server = Server::start(dir.path(), &["--no-import"]);
    let pod = object(
        "Pod",
        "toms-project",
        "p",
        json!({"containers": [{"name": "main", "image": "marsview:base"}]}),
    );
    let review = admission_review("CREATE", &pod, None);
    // Before: no such tag, nothing to pin.
    let rsp = server.review("/mutate", &review).await;
    assert!(patch_of(&rsp).is_empty(), "{rsp}");

    let d = dir.path().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        cli(&d, &["tag", "shared-images/base:9.4", "marsview:base"])
    })
    .await
    .expect("join");
    assert_code(&out, 0, "tag");
    let want = format!("registry.access.redhat.com/ubi9/ubi-minimal@{BASE_9_4}");
    let deadline = std::time::Instant::now() + BOUND;
    loop {
        let rsp = server.review("/mutate", &review).await;
        let image = apply(&rsp, &pod)["spec"]["containers"][0]["image"].clone();
        if image == want {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the webhook never pinned marsview:base: {image}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
