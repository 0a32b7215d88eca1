use super::*;

const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
const DC: &str = "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";

fn manifest_json() -> String {
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}",
        "config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{DC}","size":1470}},
        "layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{D1}","size":3401613}},
                  {{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{D2}","size":1203004}},
                  {{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{D1}","size":3401613}}]}}"#
    )
}

#[test]
fn an_image_record_is_what_openshift_records() {
    let Manifest::Image(doc) = parse_manifest(manifest_json().as_bytes(), None).expect("parses")
    else {
        panic!("an image manifest");
    };
    let config = parse_config(
        br#"{"architecture":"amd64","os":"linux","created":"2026-03-30T10:00:00.5Z",
        "config":{"User":"1001","ExposedPorts":{"8080/tcp":{"x":1}},"Volumes":{"/data":{}},"Cmd":["--serve"]}}"#,
    )
    .expect("a config");
    let image = image_record("quay.io/a/b", D2, &doc, Some(&config));
    assert_eq!(image.reference(), format!("quay.io/a/b@{D2}"));
    let meta = image.spec.docker_image_metadata.as_ref().expect("metadata");
    assert_eq!(meta.id, DC);
    assert_eq!(meta.created.as_deref(), Some("2026-03-30T10:00:00Z"));
    // A layer listed twice counts once, and the config's length is added.
    assert_eq!(
        meta.size,
        Some(3401613 + 1203004 + i64::try_from(config.len).expect("len"))
    );
    assert_eq!(image.layers().len(), 3);
    let c = image.config().expect("config");
    assert_eq!(c.user.as_deref(), Some("1001"));
    assert!(
        c.exposed_ports
            .as_ref()
            .is_some_and(|p| p.contains_key("8080/tcp"))
    );
    // Without a config: the layers, no metadata.
    let bare = image_record("quay.io/a/b", D2, &doc, None);
    assert!(bare.spec.docker_image_metadata.is_none());
    assert_eq!(bare.layers().len(), 3);
}

#[test]
fn an_index_lists_its_platforms_and_offers_the_preferred_child() {
    let index = format!(
        r#"{{"schemaVersion":2,"manifests":[
        {{"mediaType":"{OCI_MANIFEST}","digest":"{D1}","size":500,"platform":{{"architecture":"arm64","os":"linux","variant":"v8"}}}},
        {{"mediaType":"{OCI_MANIFEST}","digest":"{D2}","size":501,"platform":{{"architecture":"amd64","os":"linux"}}}}]}}"#
    );
    let Manifest::Index(doc) = parse_manifest(
        index.as_bytes(),
        Some("application/vnd.oci.image.index.v1+json; x=y"),
    )
    .expect("parses") else {
        panic!("an index");
    };
    assert_eq!(doc.media_type, OCI_INDEX);
    assert_eq!(
        doc.child(&Platform::new("linux", "amd64"))
            .map(|d| d.digest.as_str()),
        Some(D2)
    );
    assert_eq!(
        doc.child(&Platform::new("linux", "arm64"))
            .map(|d| d.digest.as_str()),
        Some(D1)
    );
    let record = index_record("quay.io/a/b", DC, &doc, "2026-12-07T00:00:00Z");
    assert!(record.is_index());
    assert_eq!(record.manifests()[0].variant.as_deref(), Some("v8"));
    let meta = record
        .spec
        .docker_image_metadata
        .as_ref()
        .expect("metadata");
    assert_eq!(
        (meta.id.as_str(), meta.created.as_deref()),
        (DC, Some("2026-12-07T00:00:00Z"))
    );
}

#[test]
fn hostile_manifests_and_configs_are_refused_with_the_reason() {
    for (bytes, why) in [
        (b"not json".to_vec(), "not a JSON manifest"),
        (br#"{"schemaVersion":1}"#.to_vec(), "schema 1"),
        (
            br#"{"schemaVersion":2,"config":{"digest":"sha256:../../x","size":1}}"#.to_vec(),
            "not sha256",
        ),
        (
            format!(r#"{{"schemaVersion":2,"config":{{"digest":"{DC}","size":-1}}}}"#).into_bytes(),
            "negative size",
        ),
        (
            format!(r#"{{"mediaType":"{OCI_INDEX}","manifests":[{{"digest":"md5:x","size":1}}]}}"#)
                .into_bytes(),
            "manifest 0 of the index",
        ),
        (
            format!(r#"{{"mediaType":"{OCI_MANIFEST}"}}"#).into_bytes(),
            "has no config",
        ),
    ] {
        let err = parse_manifest(&bytes, None).expect_err(why);
        assert!(err.contains(why), "{err}");
    }
    assert!(matches!(
        parse_config(b"\x00"),
        Err(ConfigError::NotJson(_))
    ));
    assert!(matches!(
        parse_config(b"[1]"),
        Err(ConfigError::NotAConfig(_))
    ));
    assert!(matches!(
        parse_config(br#"{"config":{"Env":"a string"}}"#),
        Err(ConfigError::NotAConfig(_))
    ));
    // An unreadable creation time is left out, not an error.
    let config = parse_config(br#"{"created":"yesterday"}"#).expect("config");
    assert_eq!(config.created, None);
}

#[test]
fn a_record_over_the_limit_keeps_its_name_and_reference_only() {
    let layers = (0..20_000)
        .map(|_| format!(r#"{{"mediaType":"m","digest":"{D1}","size":1}}"#))
        .collect::<Vec<_>>()
        .join(",");
    let json = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"digest":"{DC}","size":2}},"layers":[{layers}]}}"#
    );
    let Manifest::Image(doc) = parse_manifest(json.as_bytes(), None).expect("parses") else {
        panic!("an image");
    };
    let mut image = image_record("quay.io/a/b", D2, &doc, None);
    let why = fit(&mut image).expect("too large");
    assert!(why.contains("left out"), "{why}");
    assert!(image.spec.docker_image_layers.is_none());
    assert_eq!(image.digest(), D2);
    assert_eq!(image.reference(), format!("quay.io/a/b@{D2}"));
    let mut small = image_record("quay.io/a/b", D2, &doc, None);
    small.spec.docker_image_layers = Some(Vec::new());
    assert_eq!(fit(&mut small), None);
}
