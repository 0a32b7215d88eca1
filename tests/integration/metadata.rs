//! Image records against Debian's reference registry on 127.0.0.1: what
//! `import-image` records of an image's config (and of an index's child),
//! that an image is read once, that a config too large or not JSON leaves
//! the metadata out and the import succeeds, and what `images`, `describe
//! NAME:TAG` and `new-app` make of the records.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::common::*;
use crate::registry::Registry;

fn cli(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .arg("--streams-dir")
        .arg(dir)
        .args(["-n", "team"])
        .output()
        .expect("run the CLI")
}

fn ok(out: &Output, what: &str) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn record_path(dir: &Path, digest: &str) -> PathBuf {
    dir.join(".images")
        .join(format!("{}.json", digest.replacen(':', "-", 1)))
}

fn record(dir: &Path, digest: &str) -> Value {
    let bytes = std::fs::read(record_path(dir, digest)).expect("the image record");
    serde_json::from_slice(&bytes).expect("the record is JSON")
}

/// The config of a web server image: two ports, a volume, a user.
fn web_config(diff_id: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2026-03-30T10:00:00.123456789Z",
        "config": {
            "User": "1001",
            "ExposedPorts": {"8080/tcp": {}, "53/udp": {}},
            "Env": ["PATH=/usr/bin:/bin", "MARSVIEW_HOME=/srv"],
            "Entrypoint": ["/usr/bin/marsview"],
            "Cmd": ["--serve"],
            "WorkingDir": "/srv",
            "Labels": {"org.opencontainers.image.version": "1.4.2"},
            "Volumes": {"/data": {}},
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }))
    .expect("JSON")
}

fn import(dir: &Path, reg: &Registry, tag: &str, from: &str) -> Output {
    let from = format!("{}/{from}", reg.host);
    cli(
        dir,
        &[
            "import-image",
            tag,
            "--from",
            &from,
            "--insecure",
            "--confirm",
        ],
    )
}

#[test]
fn import_records_the_image_config_once() {
    let reg = Registry::start_anonymous();
    let dir = tempfile::tempdir().expect("tempdir");
    let digest = reg.push_config("team/web", "1", "web", web_config);
    ok(&import(dir.path(), &reg, "web:1", "team/web:1"), "import");

    let image = record(dir.path(), &digest);
    assert_eq!(image["apiVersion"], "image.openshift.io/v1");
    assert_eq!(image["kind"], "Image");
    assert_eq!(image["metadata"]["name"], digest.as_str());
    assert_eq!(
        image["dockerImageReference"],
        format!("{}/team/web@{digest}", reg.host)
    );
    assert_eq!(
        image["dockerImageManifestMediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    let meta = &image["dockerImageMetadata"];
    assert_eq!(meta["kind"], "DockerImage");
    assert_eq!(meta["apiVersion"], "image.openshift.io/1.0");
    assert_eq!(meta["Architecture"], "amd64");
    assert_eq!(meta["Os"], "linux");
    assert_eq!(meta["Created"], "2026-03-30T10:00:00Z");
    let config = &meta["Config"];
    assert_eq!(config["User"], "1001");
    assert_eq!(
        config["ExposedPorts"],
        json!({"8080/tcp": {}, "53/udp": {}})
    );
    assert_eq!(config["Entrypoint"], json!(["/usr/bin/marsview"]));
    assert_eq!(config["Cmd"], json!(["--serve"]));
    assert_eq!(config["WorkingDir"], "/srv");
    assert_eq!(config["Volumes"], json!({"/data": {}}));
    assert_eq!(
        config["Labels"],
        json!({"org.opencontainers.image.version": "1.4.2"})
    );
    let layers = image["dockerImageLayers"].as_array().expect("layers");
    assert_eq!(layers.len(), 1);
    assert_eq!(
        layers[0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    let layer_size = layers[0]["size"].as_i64().expect("size");
    // OpenShift's size: the unique layers and the config's length (a diff_id is 71 bytes).
    let config_len = web_config(&"x".repeat(71)).len() as i64;
    assert_eq!(
        meta["Size"].as_i64(),
        Some(layer_size + config_len),
        "{meta}"
    );
    // The records are not stream files: the stream directory still loads,
    // and review resolves the tag as before.
    assert!(ok(&cli(dir.path(), &["describe", "web"]), "describe").contains(&digest));

    // Seen again: not read again (the registry's log shows no second config GET).
    let gets = |log: &str| {
        log.lines()
            .filter(|l| {
                l.contains("response completed")
                    && l.contains("http.request.method=GET")
                    && (l.contains("/v2/team/web/blobs/sha256:")
                        || l.contains("/v2/team/web/manifests/sha256:"))
                    && l.contains("http.request.useragent=imagestream-webhook/")
            })
            .count()
    };
    let before = gets(&reg.log());
    assert_eq!(
        before,
        2,
        "the manifest and config were read once: {}",
        reg.log()
    );
    ok(&cli(dir.path(), &["import-image", "web:1"]), "re-import");
    ok(
        &import(dir.path(), &reg, "again:1", "team/web:1"),
        "other tag",
    );
    assert_eq!(gets(&reg.log()), before, "a known image is not read again");
}

#[test]
fn a_config_too_large_or_not_json_is_left_out_and_the_import_succeeds() {
    let reg = Registry::start_anonymous();
    let dir = tempfile::tempdir().expect("tempdir");
    let junk = reg.push_config("team/junk", "1", "junk", |_| b"\x00not json".to_vec());
    let out = import(dir.path(), &reg, "junk:1", "team/junk:1");
    ok(&out, "import of an image whose config is not JSON");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("not JSON"), "{stderr}");
    let image = record(dir.path(), &junk);
    assert!(image.get("dockerImageMetadata").is_none(), "{image}");
    assert_eq!(image["dockerImageLayers"].as_array().map(Vec::len), Some(1));

    // A registry that serves more than the 4 MiB limit for a config: the
    // read stops at the limit, the metadata is left out, the import succeeds.
    let big = reg.push_config("team/big", "1", "big", web_config);
    let manifest = reg.get_manifest("team/big", &big).json();
    let config_digest = manifest["config"]["digest"]
        .as_str()
        .expect("config digest");
    reg.replace_blob(config_digest, &vec![b' '; 5 << 20]);
    let out = import(dir.path(), &reg, "big:1", "team/big:1");
    ok(&out, "import of an image with a 5 MiB config");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("over the 4194304-byte limit"), "{stderr}");
    assert!(
        record(dir.path(), &big)
            .get("dockerImageMetadata")
            .is_none()
    );
    assert!(
        items_of(dir.path(), "big.yaml").contains(&big),
        "the tag is imported all the same"
    );
}

fn items_of(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).expect("stream file")
}

#[test]
fn an_index_records_its_platforms_and_the_preferred_child() {
    let reg = Registry::start_anonymous();
    let dir = tempfile::tempdir().expect("tempdir");
    let (index, children) = reg.push_index_configs(
        "team/multi",
        "1",
        "multi",
        &[
            ("arm64", json!({"ExposedPorts": {"9000/tcp": {}}})),
            ("amd64", json!({"ExposedPorts": {"8080/tcp": {}}})),
        ],
    );
    ok(
        &import(dir.path(), &reg, "multi:1", "team/multi:1"),
        "import",
    );
    let record_of_index = record(dir.path(), &index);
    assert_eq!(
        record_of_index["dockerImageManifestMediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let manifests = record_of_index["dockerImageManifests"]
        .as_array()
        .expect("manifests");
    let platforms: Vec<_> = manifests
        .iter()
        .map(|m| {
            (
                m["os"].as_str().unwrap_or_default(),
                m["architecture"].as_str().unwrap_or_default(),
                m["digest"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        platforms,
        [
            ("linux", "arm64", children[0].as_str()),
            ("linux", "amd64", children[1].as_str())
        ]
    );
    // The default preferred platform is linux/amd64: its config is read, not arm64's.
    let amd64 = record(dir.path(), &children[1]);
    assert_eq!(
        amd64["dockerImageMetadata"]["Config"]["ExposedPorts"],
        json!({"8080/tcp": {}})
    );
    assert!(!record_path(dir.path(), &children[0]).exists());

    // import.preferArch picks the other child.
    let other = tempfile::tempdir().expect("tempdir");
    let config = other.path().join("config.yaml");
    std::fs::write(&config, "import: {preferArch: arm64}\n").expect("config");
    let streams = other.path().join("streams");
    std::fs::create_dir(&streams).expect("mkdir");
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .args([
            "import-image",
            "multi:1",
            "--insecure",
            "--confirm",
            "--from",
        ])
        .arg(format!("{}/team/multi:1", reg.host))
        .arg("--streams-dir")
        .arg(&streams)
        .args(["-n", "team"])
        .output()
        .expect("run");
    ok(&out, "import with preferArch arm64");
    let arm64 = record(&streams, &children[0]);
    assert_eq!(arm64["dockerImageMetadata"]["Architecture"], "arm64");
    assert!(!record_path(&streams, &children[1]).exists());
}

/// The README's path: import-image, describe NAME:TAG, new-app, and the
/// output admitted by review as it is.
#[test]
fn from_image_to_running_app() {
    let reg = Registry::start_anonymous();
    let dir = tempfile::tempdir().expect("tempdir");
    let web = reg.push_config("team/web", "1", "web", web_config);
    let quiet = reg.push_config("team/quiet", "1", "quiet", |diff_id| {
        serde_json::to_vec(&json!({
            "architecture": "amd64", "os": "linux",
            "config": {"Cmd": ["sleep", "infinity"]},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }))
        .expect("JSON")
    });
    ok(
        &import(dir.path(), &reg, "web:1", "team/web:1"),
        "import web",
    );
    ok(
        &import(dir.path(), &reg, "quiet:1", "team/quiet:1"),
        "import quiet",
    );

    // images: one line per image, and the objects with -o.
    let table = ok(&cli(dir.path(), &["images"]), "images");
    let mut lines = table.lines();
    assert!(
        lines
            .next()
            .is_some_and(|h| h.starts_with("NAME ") && h.ends_with("   IMAGE REFERENCE"))
    );
    let mut rows: Vec<&str> = lines.collect();
    rows.sort();
    let mut expected = vec![
        format!("{web}   {}/team/web@{web}", reg.host),
        format!("{quiet}   {}/team/quiet@{quiet}", reg.host),
    ];
    expected.sort();
    assert_eq!(rows, expected);
    let list: Value =
        serde_saphyr::from_str(&ok(&cli(dir.path(), &["images", "-o", "yaml"]), "-o yaml"))
            .expect("yaml");
    assert_eq!(list["kind"], "List");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(2));
    let json: Value =
        serde_json::from_str(&ok(&cli(dir.path(), &["images", "-o", "json"]), "-o json"))
            .expect("json");
    assert_eq!(json, list);

    // describe NAME:TAG and NAME@sha256:…
    let described = ok(&cli(dir.path(), &["describe", "web:1"]), "describe web:1");
    for line in [
        "Image Name:\tweb:1\n".to_owned(),
        format!("Docker Image:\t{}/team/web@{web}\n", reg.host),
        format!("Name:\t\t{web}\n"),
        "Arch:\t\tamd64\n".to_owned(),
        "OS:\t\tlinux\n".to_owned(),
        "User:\t\t1001\n".to_owned(),
        "Exposes Ports:\t53/udp, 8080/tcp\n".to_owned(),
        "Docker Labels:\torg.opencontainers.image.version=1.4.2\n".to_owned(),
        "Entrypoint:\t/usr/bin/marsview\n".to_owned(),
        "Command:\t--serve\n".to_owned(),
        "Environment:\tPATH=/usr/bin:/bin\n\t\tMARSVIEW_HOME=/srv\n".to_owned(),
        " in 1 layers\n".to_owned(),
    ] {
        assert!(
            described.contains(&line),
            "{line:?} missing from:\n{described}"
        );
    }
    let by_digest = ok(
        &cli(dir.path(), &["describe", &format!("web@{web}")]),
        "describe web@",
    );
    assert!(
        by_digest.contains("Exposes Ports:\t53/udp, 8080/tcp\n"),
        "{by_digest}"
    );
    // The bare name is the stream, as before.
    assert!(
        ok(&cli(dir.path(), &["describe", "web"]), "describe web").starts_with("Name:\t\t\tweb\n")
    );

    // new-app: a Deployment pinned to the tag's image and a Service of its ports.
    let yaml = ok(
        &cli(dir.path(), &["new-app", "--image-stream", "web:1"]),
        "new-app",
    );
    let list: Value = serde_saphyr::from_str(&yaml).expect("new-app output");
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "{yaml}");
    let (d, s) = (&items[0], &items[1]);
    assert_eq!(d["kind"], "Deployment");
    let pod = &d["spec"]["template"]["spec"];
    assert_eq!(
        pod["containers"][0]["image"],
        format!("{}/team/web@{web}", reg.host)
    );
    assert_eq!(
        pod["containers"][0]["ports"],
        json!([{"containerPort": 53, "protocol": "UDP"}, {"containerPort": 8080, "protocol": "TCP"}])
    );
    assert_eq!(
        pod["volumes"],
        json!([{"emptyDir": {}, "name": "web-volume-1"}])
    );
    assert_eq!(
        d["metadata"]["annotations"]["image.openshift.io/triggers"],
        r#"[{"from":{"kind":"ImageStreamTag","name":"web:1","namespace":"team"},"fieldPath":"spec.template.spec.containers[?(@.name==\"web\")].image"}]"#
    );
    assert_eq!(s["kind"], "Service");
    assert_eq!(
        s["spec"]["ports"],
        json!([
            {"name": "53-udp", "port": 53, "protocol": "UDP", "targetPort": 53},
            {"name": "8080-tcp", "port": 8080, "protocol": "TCP", "targetPort": 8080}
        ])
    );
    assert_eq!(s["spec"]["selector"], json!({"deployment": "web"}));

    // review admits it as it is: a fixed point.
    let file = dir.path().join("app.yaml.out");
    std::fs::write(&file, &yaml).expect("write");
    let out = Command::new(BIN)
        .args(["review", "-n", "team", "--streams-dir"])
        .arg(dir.path())
        .arg("-f")
        .arg(&file)
        .output()
        .expect("review");
    let reviewed = ok(&out, "review of the new-app output");
    let docs: Vec<Value> = serde_saphyr::from_multiple(&reviewed).expect("reviewed");
    let reviewed_items: Vec<Value> = docs
        .iter()
        .flat_map(|d| match d["kind"].as_str() {
            Some("List") => d["items"].as_array().cloned().unwrap_or_default(),
            _ => vec![d.clone()],
        })
        .collect();
    assert_eq!(
        &reviewed_items, items,
        "review changed the output:\n{reviewed}"
    );

    // --help says where the objects go in each mode.
    let help = Command::new(BIN)
        .args(["new-app", "--help"])
        .output()
        .expect("help");
    let help = ok(&help, "new-app --help");
    assert!(
        help.contains("In directory mode there is no cluster to create them in"),
        "{help}"
    );

    // -o json and --name; an image exposing nothing makes no Service.
    let json: Value = serde_json::from_str(&ok(
        &cli(
            dir.path(),
            &["new-app", "-i", "web:1", "--name", "site", "-o", "json"],
        ),
        "new-app -o json",
    ))
    .expect("json");
    assert_eq!(json["items"][0]["metadata"]["name"], "site");
    let quiet_app: Value = serde_saphyr::from_str(&ok(
        &cli(dir.path(), &["new-app", "-i", "quiet:1"]),
        "new-app quiet",
    ))
    .expect("yaml");
    assert_eq!(quiet_app["items"].as_array().map(Vec::len), Some(1));

    // Errors name the fix and print nothing.
    let fails = |args: &[&str], needle: &str| {
        let out = cli(dir.path(), args);
        assert_ne!(out.status.code(), Some(0), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}: {}", text(&out.stdout));
        let stderr = text(&out.stderr);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    };
    fails(
        &["new-app", "-i", "nosuch"],
        "imagestream team/nosuch not found",
    );
    fails(&["new-app", "-i", "web:2"], "has no tag \"2\"");
    fails(&["describe", "web:2"], "has no tag \"2\"");
    fails(
        &["new-app", "-i", "web:1", "--name", "Web"],
        "invalid name: Web",
    );
    // An image imported before records were kept: the error says how to read it.
    std::fs::remove_file(record_path(dir.path(), &web)).expect("remove the record");
    fails(
        &["new-app", "-i", "web:1"],
        "import-image web:1 reads its metadata",
    );
    fails(
        &["describe", "web:1"],
        "import-image web:1 reads its metadata",
    );
    ok(&cli(dir.path(), &["import-image", "web:1"]), "re-import");
    ok(
        &cli(dir.path(), &["new-app", "-i", "web:1"]),
        "new-app after the re-import",
    );
}

use crate::fakeapi::{IMAGES, SERVICES};

async fn cluster_cli(kubeconfig: &Path, args: &[&str]) -> Output {
    let (kc, args): (PathBuf, Vec<String>) = (
        kubeconfig.to_owned(),
        args.iter().map(|a| (*a).to_owned()).collect(),
    );
    tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(&args)
            .args(["-n", "team", "--kubeconfig"])
            .arg(&kc)
            .output()
            .expect("run the CLI")
    })
    .await
    .expect("join")
}

/// Cluster mode: Image objects are created through the API (cluster-scoped,
/// named by digest), read back by images, describe and new-app, which
/// creates the Deployment and Service and refuses to create over them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_mode_records_images_and_new_app_creates_the_objects() {
    use crate::fakeapi::{DEPLOYMENTS, FakeApi};
    let reg = Registry::start_anonymous();
    let web = reg.push_config("team/web", "1", "web", web_config);
    let api = FakeApi::start().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let kubeconfig = api.kubeconfig(tmp.path());
    let from = format!("{}/team/web:1", reg.host);
    let out = cluster_cli(
        &kubeconfig,
        &[
            "import-image",
            "web:1",
            "--from",
            &from,
            "--insecure",
            "--confirm",
        ],
    )
    .await;
    ok(&out, "import-image in cluster mode");
    let image = api.get(IMAGES, "", &web).expect("the Image object");
    assert_eq!(
        image["dockerImageReference"],
        format!("{}/team/web@{web}", reg.host)
    );
    assert_eq!(
        image["dockerImageMetadata"]["Config"]["ExposedPorts"],
        json!({"8080/tcp": {}, "53/udp": {}})
    );
    let posts = |api: &FakeApi, path: &str| {
        api.requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path == path)
            .count()
    };
    assert_eq!(posts(&api, "/apis/image.openshift.io/v1/images"), 1);
    // Known: a re-import asks for the record and reads nothing from the registry.
    ok(
        &cluster_cli(&kubeconfig, &["import-image", "web:1"]).await,
        "re-import",
    );
    assert_eq!(posts(&api, "/apis/image.openshift.io/v1/images"), 1);

    let table = ok(&cluster_cli(&kubeconfig, &["images"]).await, "images");
    assert!(
        table.contains(&format!("{web}   {}/team/web@{web}", reg.host)),
        "{table}"
    );
    let described = ok(
        &cluster_cli(&kubeconfig, &["describe", "web:1"]).await,
        "describe",
    );
    assert!(
        described.contains("Exposes Ports:\t53/udp, 8080/tcp\n"),
        "{described}"
    );

    let out = ok(
        &cluster_cli(&kubeconfig, &["new-app", "-i", "web:1"]).await,
        "new-app",
    );
    assert_eq!(out, "deployment.apps/web created\nservice/web created\n");
    let deployment = api.get(DEPLOYMENTS, "team", "web").expect("the Deployment");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        format!("{}/team/web@{web}", reg.host)
    );
    let service = api.get(SERVICES, "team", "web").expect("the Service");
    assert_eq!(service["spec"]["selector"], json!({"deployment": "web"}));

    // Again: the existing Deployment stops it before anything is created.
    let before = api.requests().iter().filter(|r| r.method == "POST").count();
    let out = cluster_cli(&kubeconfig, &["new-app", "-i", "web:1"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("deployment.apps team/web already exists"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        api.requests().iter().filter(|r| r.method == "POST").count(),
        before
    );
    // -o prints instead of creating.
    let printed = ok(
        &cluster_cli(&kubeconfig, &["new-app", "-i", "web:1", "-o", "yaml"]).await,
        "-o",
    );
    assert!(printed.starts_with("apiVersion: v1\nitems:\n"), "{printed}");
    assert_eq!(
        api.requests().iter().filter(|r| r.method == "POST").count(),
        before
    );
}

/// In serve, the Lease holder's importer writes the records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lease_holder_writes_image_objects() {
    use crate::fakeapi::FakeApi;
    let reg = Registry::start_anonymous();
    let web = reg.push_config("team/web", "1", "web", web_config);
    let api = FakeApi::start().await;
    api.put_stream(json!({
        "metadata": {"name": "web", "namespace": "team", "generation": 1},
        "spec": {"tags": [{"name": "1", "generation": 1,
            "from": {"kind": "DockerImage", "name": format!("{}/team/web:1", reg.host)},
            "importPolicy": {"insecure": true}}]},
    }));
    let tmp = tempfile::tempdir().expect("tempdir");
    let _server = Server::start_cluster(&api.kubeconfig(tmp.path()), &[]);
    let deadline = std::time::Instant::now() + BOUND;
    let image = loop {
        if let Some(image) = api.get(IMAGES, "", &web) {
            break image;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no Image object was written"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(image["kind"], "Image");
    assert_eq!(image["dockerImageMetadata"]["Config"]["User"], "1001");
}

/// A registry that needs credentials: the manifest and config are read with
/// the namespace's pull secret, as the digest is, and no secret shows.
#[test]
fn a_private_image_is_recorded_with_the_pull_secret() {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let reg = Registry::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = json!({"auths": {reg.host.clone(): {"auth": b64(&format!("{}:{}", reg.user, reg.password))}}});
    std::fs::write(
        dir.path().join("secret.yaml"),
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: pull, namespace: team}}\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: {}\n",
            b64(&config.to_string())
        ),
    )
    .expect("write secret");
    let digest = reg.push_config("team/web", "1", "private", web_config);
    let out = import(dir.path(), &reg, "web:1", "team/web:1");
    ok(&out, "import from a private registry");
    let bytes = std::fs::read(record_path(dir.path(), &digest)).expect("record");
    let image: Value = serde_json::from_slice(&bytes).expect("json");
    assert_eq!(image["dockerImageMetadata"]["Config"]["User"], "1001");
    for shown in [text(&out.stdout), text(&out.stderr), text(&bytes)] {
        assert!(!shown.contains(reg.password), "{shown}");
    }
}
