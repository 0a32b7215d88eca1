use super::*;
use kube_core::Resource;
use serde_json::{Value, json};

/// `oc get image sha256:4f1d… -o yaml` from an OpenShift 4 cluster (research notes).
const OC_IMAGE: &str = r#"apiVersion: image.openshift.io/v1
dockerImageLayers:
- mediaType: application/vnd.oci.image.layer.v1.tar+gzip
  name: sha256:1111111111111111111111111111111111111111111111111111111111111111
  size: 3401613
- mediaType: application/vnd.oci.image.layer.v1.tar+gzip
  name: sha256:2222222222222222222222222222222222222222222222222222222222222222
  size: 1203004
dockerImageManifestMediaType: application/vnd.oci.image.manifest.v1+json
dockerImageMetadata:
  Architecture: amd64
  Config:
    Cmd:
    - --serve
    Entrypoint:
    - /usr/bin/marsview
    Env:
    - PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    - MARSVIEW_HOME=/srv
    ExposedPorts:
      8080/tcp: {}
      8443/tcp: {}
    Labels:
      org.opencontainers.image.version: 1.4.2
    User: "1001"
    Volumes:
      /data: {}
    WorkingDir: /srv
  ContainerConfig: {}
  Created: "2026-03-30T10:00:00Z"
  Id: sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc
  Size: 4606087
  apiVersion: image.openshift.io/1.0
  kind: DockerImage
dockerImageMetadataVersion: "1.0"
dockerImageReference: quay.io/acme/marsview@sha256:4f1d0000000000000000000000000000000000000000000000000000000000aa
kind: Image
metadata:
  annotations:
    image.openshift.io/dockerLayersOrder: ascending
  creationTimestamp: "2026-04-20T08:00:00Z"
  name: sha256:4f1d0000000000000000000000000000000000000000000000000000000000aa
  resourceVersion: "123456"
  uid: 0b6c2f3e-1111-2222-3333-444455556666
"#;

#[test]
fn reads_and_writes_what_oc_prints() {
    let image: Image = serde_saphyr::from_str(OC_IMAGE).expect("parses");
    assert_eq!(
        image.digest(),
        "sha256:4f1d0000000000000000000000000000000000000000000000000000000000aa"
    );
    assert_eq!(image.layers().len(), 2);
    assert_eq!(image.layers()[0].size, 3401613);
    let config = image.config().expect("config");
    assert_eq!(config.user.as_deref(), Some("1001"));
    assert_eq!(
        config
            .exposed_ports
            .as_ref()
            .map(|p| p.keys().cloned().collect::<Vec<_>>()),
        Some(vec!["8080/tcp".to_owned(), "8443/tcp".to_owned()])
    );
    assert!(!image.is_index());
    // Written back, it is what oc printed: the same keys, the same values.
    let original: Value = serde_saphyr::from_str(OC_IMAGE).expect("yaml");
    assert_eq!(serde_json::to_value(&image).expect("json"), original);
}

#[test]
fn metadata_keeps_oc_keys_and_adds_only_os() {
    let meta = DockerImage {
        kind: Some(METADATA_KIND.into()),
        api_version: Some(METADATA_API_VERSION.into()),
        id: "sha256:c".into(),
        architecture: Some("arm64".into()),
        os: Some("linux".into()),
        ..DockerImage::default()
    };
    assert_eq!(
        serde_json::to_value(&meta).expect("json"),
        json!({"kind": "DockerImage", "apiVersion": "image.openshift.io/1.0", "Id": "sha256:c",
            "ContainerConfig": {}, "Architecture": "arm64", "Os": "linux"})
    );
}

#[test]
fn crd_is_cluster_scoped_named_by_plural_and_structural() {
    let crd = Image::crd();
    assert_eq!(
        crd.metadata.name.as_deref(),
        Some("images.image.openshift.io")
    );
    assert_eq!(crd.spec.scope, "Cluster");
    assert_eq!(crd.spec.names.kind, KIND);
    assert_eq!(crd.spec.names.plural, PLURAL);
    assert_eq!(Image::kind(&()), KIND);
    assert_eq!(Image::api_version(&()), crate::stream::API_VERSION);
    let version = &crd.spec.versions[0];
    assert!(version.subresources.is_none(), "no status subresource");
    let columns: Vec<_> = version
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|c| (c.name.as_str(), c.json_path.as_str()))
        .collect();
    assert_eq!(columns, [("Image Reference", ".dockerImageReference")]);
    let crd = serde_json::to_value(&crd).expect("json");
    let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    let props = &schema["properties"];
    // The fields sit at the top of the object, as in OpenShift: no spec.
    assert!(props.get("spec").is_none());
    assert_eq!(props["dockerImageReference"]["type"], "string");
    let mut metadata = props["dockerImageMetadata"].clone();
    metadata.as_object_mut().map(|m| m.remove("description"));
    assert_eq!(
        metadata,
        json!({"type": "object", "nullable": true, "x-kubernetes-preserve-unknown-fields": true})
    );
    let layer = &props["dockerImageLayers"]["items"];
    assert_eq!(layer["required"], json!(["mediaType", "name", "size"]));
    assert_eq!(layer["properties"]["size"]["type"], "integer");
    let manifest = &props["dockerImageManifests"]["items"];
    assert_eq!(
        manifest["required"],
        json!(["architecture", "digest", "manifestSize", "mediaType", "os"])
    );
    let text = serde_json::to_string(schema).expect("json");
    for banned in ["$ref", "anyOf", "oneOf", "allOf", "\"default\""] {
        assert!(!text.contains(banned), "{banned} in {text}");
    }
}

#[test]
fn an_index_offers_the_child_for_the_preferred_platform() {
    let child = |arch: &str, digest: &str| ImageManifest {
        digest: digest.into(),
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        manifest_size: 500,
        architecture: arch.into(),
        os: "linux".into(),
        variant: None,
    };
    let index = Image::new(
        "sha256:i",
        ImageFields {
            docker_image_manifests: Some(vec![
                child("arm64", "sha256:a"),
                child("amd64", "sha256:b"),
            ]),
            ..ImageFields::default()
        },
    );
    assert!(index.is_index());
    let pick = |arch: &str| {
        index
            .child_for(&Platform::new("linux", arch))
            .map(|m| m.digest.as_str())
    };
    assert_eq!(pick("arm64"), Some("sha256:a"));
    assert_eq!(pick("amd64"), Some("sha256:b"));
    assert_eq!(pick("riscv64"), Some("sha256:b"));
}
