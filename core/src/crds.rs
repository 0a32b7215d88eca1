//! The CustomResourceDefinitions, generated from the Rust types: ImageStream
//! (namespaced, what admission reads) and Image (cluster-scoped, the records
//! the importer writes). `crd` prints them as one multi-document YAML, which
//! is `manifests/crd.yaml` and the chart's `crds/crd.yaml`.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube_core::CustomResourceExt as _;

/// Every CRD, ImageStream first.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        crate::stream::ImageStream::crd(),
        crate::image::Image::crd(),
    ]
}

/// [`crds`] as YAML documents separated by `---`, ready for `kubectl apply -f`.
pub fn crds_yaml() -> Result<String, serde_saphyr::SerializeError> {
    let docs = crds()
        .iter()
        .map(serde_saphyr::to_string)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(docs.join("---\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crds_yaml_reads_back_as_the_crds() {
        let yaml = crds_yaml().expect("yaml");
        let docs: Vec<CustomResourceDefinition> =
            serde_saphyr::from_multiple(&yaml).expect("parse crds");
        assert_eq!(docs, crds());
        let names: Vec<_> = docs.iter().map(|c| c.metadata.name.clone()).collect();
        assert_eq!(
            names,
            [
                Some("imagestreams.image.openshift.io".to_owned()),
                Some("images.image.openshift.io".to_owned())
            ]
        );
    }

    /// Keeps `manifests/crd.yaml` in step with the types. Regenerate it with
    /// `UPDATE_CRD=1 cargo test crd_manifest_is_current` (or `make crd`).
    #[test]
    fn crd_manifest_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../manifests/crd.yaml");
        let yaml = crds_yaml().expect("crd yaml");
        if std::env::var_os("UPDATE_CRD").is_some() {
            std::fs::write(path, &yaml).expect("write manifests/crd.yaml");
        }
        let on_disk = std::fs::read_to_string(path).expect("read manifests/crd.yaml");
        assert!(
            on_disk == yaml,
            "manifests/crd.yaml is stale; regenerate with UPDATE_CRD=1 cargo test crd_manifest_is_current"
        );
    }
}
