//! The `image.openshift.io/v1` `Image`: what the importer read of one image,
//! named by its manifest digest, as OpenShift records it.
//!
//! The field names are OpenShift's (`github.com/openshift/api/image/v1` and
//! `image/docker10`), so `kubectl get image -o yaml` reads like
//! `oc get image -o yaml`: `dockerImageMetadata` is a `DockerImage` object with
//! Docker-style capitalised keys (`Id`, not `ID`), a layer's size is `size`.
//!
//! One addition on purpose: `dockerImageMetadata.Os`. OpenShift drops the
//! operating system when it converts a config (it survives only in an index's
//! `dockerImageManifests[].os`); it is kept here beside `Architecture` because
//! `describe NAME:TAG` shows it. OpenShift's decoders ignore keys they do not
//! know, so the record still reads there.
//!
//! The importer writes these records; admission never reads them (they live
//! outside what the directory loader and the stream watch read).

mod platform;

pub use platform::{Platform, choose_child};

use std::collections::BTreeMap;

use kube_core::CustomResourceExt;
use kube_derive::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `kind` of an image record.
pub const KIND: &str = "Image";
/// Plural resource name, as used in URLs and RBAC rules.
pub const PLURAL: &str = "images";
/// `dockerImageMetadataVersion`, and the version in the metadata's `apiVersion`.
pub const METADATA_VERSION: &str = "1.0";
/// `dockerImageMetadata.apiVersion`: the server prefixes the group onto the version.
pub const METADATA_API_VERSION: &str = "image.openshift.io/1.0";
/// `dockerImageMetadata.kind`.
pub const METADATA_KIND: &str = "DockerImage";
/// Annotation OpenShift sets on images with layers: they are listed base first.
pub const LAYERS_ORDER_ANNOTATION: &str = "image.openshift.io/dockerLayersOrder";

/// The fields of an Image, at the top level of the object (no `spec`).
// (Plain comments: doc comments become the CRD's descriptions.) Cluster-scoped
// and named by the manifest digest, as in OpenShift. The printer column is
// `oc get images`' IMAGE REFERENCE.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    crates(kube_core = "::kube_core"),
    group = "image.openshift.io",
    version = "v1",
    kind = "Image",
    plural = "images",
    no_spec,
    derive = "PartialEq",
    derive = "Default",
    doc = "Image is an immutable representation of a container image and metadata at a point in time, named by its manifest digest.",
    printcolumn(
        name = "Image Reference",
        type_ = "string",
        description = "The string that can be used to pull this image",
        json_path = ".dockerImageReference"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ImageFields {
    /// DockerImageReference is the string that can be used to pull this image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_image_reference: Option<String>,
    /// DockerImageMetadata contains metadata about this image: a DockerImage object
    /// (`kind: DockerImage`, `apiVersion: image.openshift.io/1.0`) with Docker-style keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserved_object")]
    pub docker_image_metadata: Option<DockerImage>,
    /// DockerImageMetadataVersion conveys the version of the object, "1.0".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_image_metadata_version: Option<String>,
    /// DockerImageLayers represents the layers in the image, base first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_image_layers: Option<Vec<ImageLayer>>,
    /// DockerImageManifestMediaType specifies the mediaType of the manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_image_manifest_media_type: Option<String>,
    /// DockerImageManifests holds the manifests of a manifest list or image index, in its order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_image_manifests: Option<Vec<ImageManifest>>,
}

/// A layer of an image.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageLayer {
    /// Name of the layer as defined by the underlying store: its blob digest.
    pub name: String,
    /// Size of the layer in bytes as defined by the underlying store.
    pub size: i64,
    /// MediaType of the referenced object.
    pub media_type: String,
}

/// One manifest of a manifest list or image index.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// Digest is the unique identifier for the manifest.
    pub digest: String,
    /// MediaType defines the type of the manifest.
    pub media_type: String,
    /// ManifestSize represents the size of the raw object contents, in bytes.
    pub manifest_size: i64,
    /// Architecture specifies the supported CPU architecture.
    pub architecture: String,
    /// OS specifies the operating system.
    pub os: String,
    /// Variant is an optional field representing a variant of the CPU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl ImageManifest {
    pub fn platform(&self) -> Platform {
        Platform {
            os: self.os.clone(),
            architecture: self.architecture.clone(),
            variant: self.variant.clone(),
        }
    }
}

/// OpenShift's `docker10.DockerImage`: what an image's config says, plus its size.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct DockerImage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(
        rename = "apiVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub api_version: Option<String>,
    /// The config blob's digest (a manifest list's own digest).
    #[serde(rename = "Id", default)]
    pub id: String,
    #[serde(rename = "Created", default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Always written, as OpenShift does (a struct in Go).
    #[serde(rename = "ContainerConfig", default)]
    pub container_config: DockerConfig,
    #[serde(
        rename = "DockerVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub docker_version: Option<String>,
    #[serde(rename = "Author", default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(rename = "Config", default, skip_serializing_if = "Option::is_none")]
    pub config: Option<DockerConfig>,
    #[serde(
        rename = "Architecture",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub architecture: Option<String>,
    /// Not in OpenShift's record: see the module documentation.
    #[serde(rename = "Os", default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    /// The sum of the unique layer sizes and the config's length, as OpenShift counts it.
    #[serde(rename = "Size", default, skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
}

/// OpenShift's `docker10.DockerConfig`, the keys an image config sets that are read here.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct DockerConfig {
    #[serde(rename = "User", default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(
        rename = "ExposedPorts",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub exposed_ports: Option<BTreeMap<String, Empty>>,
    #[serde(rename = "Env", default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(rename = "Cmd", default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(rename = "Volumes", default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, Empty>>,
    #[serde(
        rename = "WorkingDir",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub working_dir: Option<String>,
    #[serde(
        rename = "Entrypoint",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub entrypoint: Option<Vec<String>>,
    #[serde(rename = "Labels", default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
}

/// The `{}` a Docker config holds as the value of each exposed port and volume.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct Empty {}

/// `dockerImageMetadata` as the API server stores a RawExtension: any object,
/// kept whole (OpenShift's records carry more Docker keys than are typed here).
fn preserved_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "nullable": true,
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

impl Image {
    /// The record's name: the manifest digest.
    pub fn digest(&self) -> &str {
        self.metadata.name.as_deref().unwrap_or_default()
    }

    pub fn reference(&self) -> &str {
        self.spec
            .docker_image_reference
            .as_deref()
            .unwrap_or_default()
    }

    pub fn layers(&self) -> &[ImageLayer] {
        self.spec.docker_image_layers.as_deref().unwrap_or_default()
    }

    /// The manifests of a manifest list or index; empty for an image.
    pub fn manifests(&self) -> &[ImageManifest] {
        self.spec
            .docker_image_manifests
            .as_deref()
            .unwrap_or_default()
    }

    /// Whether this record is of a manifest list or image index.
    pub fn is_index(&self) -> bool {
        self.spec.docker_image_manifests.is_some()
    }

    /// The config the image runs with, when its config was read.
    pub fn config(&self) -> Option<&DockerConfig> {
        self.spec.docker_image_metadata.as_ref()?.config.as_ref()
    }

    /// The child manifest an index offers for the preferred platform (see [`choose_child`]).
    pub fn child_for(&self, prefer: &Platform) -> Option<&ImageManifest> {
        let platforms: Vec<Platform> = self
            .manifests()
            .iter()
            .map(ImageManifest::platform)
            .collect();
        let at = choose_child(&platforms, prefer)?;
        self.manifests().get(at)
    }
}

/// The Image CustomResourceDefinition.
pub fn crd()
-> k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition {
    Image::crd()
}

#[cfg(test)]
mod tests;
