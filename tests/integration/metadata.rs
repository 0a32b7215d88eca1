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

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
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
