//! The `image.openshift.io/v1` `ImageStream` custom resource.
//!
//! The types mirror OpenShift's `github.com/openshift/api/image/v1` field for
//! field, so that `oc get is -o yaml` output from a real OpenShift cluster can be
//! applied here unchanged and tools written for OpenShift keep working.
//!
//! # Null handling
//!
//! Go's JSON encoder prints nil maps, slices and pointers as `null` unless the
//! field is tagged `omitempty`, so real OpenShift output contains things like
//! `annotations: null`, `generation: null` and `items: null`. One rule is used
//! throughout this module: every field that OpenShift marks `omitempty`, that it
//! can print as `null`, or that its decoder lets a client leave out (such as
//! `lookupPolicy.local` in `lookupPolicy: {}`) is an `Option<…>` with
//! `#[serde(default, skip_serializing_if = "Option::is_none")]`. That accepts both
//! an absent key and an explicit `null`, never writes `null` back, and makes
//! kube's schema generation mark the field `nullable: true`, so the API server
//! stores such objects as they are (the two enum fields are the exception; see
//! `non_nullable`). Only the fields OpenShift always prints with a value (tag
//! names, tag event references, condition type and status, and the event and
//! condition generations) are plain, required values. Accessor methods supply
//! OpenShift's defaults (`false`, `Legacy`, `Source`, empty lists) for absent
//! values, so callers rarely need to look at the `Option`s themselves.

pub mod resolve;
pub mod snapshot;

use std::collections::BTreeMap;
use std::sync::Arc;

use kube_core::CustomResourceExt;
use kube_derive::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// API group of image streams.
pub const GROUP: &str = "image.openshift.io";
/// API version of image streams within [`GROUP`].
pub const VERSION: &str = "v1";
/// `apiVersion` value of an image stream object.
pub const API_VERSION: &str = "image.openshift.io/v1";
/// `kind` value of an image stream object.
pub const KIND: &str = "ImageStream";
/// Plural resource name, as used in URLs and RBAC rules.
pub const PLURAL: &str = "imagestreams";
/// Short name accepted by `kubectl get`.
pub const SHORT_NAME: &str = "is";

/// Tag event condition type reporting whether the last import of a tag worked;
/// status `"False"` means the import failed.
pub const CONDITION_IMPORT_SUCCESS: &str = "ImportSuccess";

/// `from.kind` of a tag that tracks an image in an external registry.
pub const FROM_KIND_DOCKER_IMAGE: &str = "DockerImage";
/// `from.kind` of a tag that tracks another tag (`stream:tag`) of an image stream.
pub const FROM_KIND_IMAGE_STREAM_TAG: &str = "ImageStreamTag";
/// `from.kind` of a tag that points at a specific image (`stream@digest`) of an image stream.
pub const FROM_KIND_IMAGE_STREAM_IMAGE: &str = "ImageStreamImage";

/// ImageStreamSpec represents options for ImageStreams.
// (Plain comments here: doc comments end up in the CRD's description.) The derive
// generates the root type `ImageStream`. The printer columns follow `oc get is`:
// NAME, IMAGE REPOSITORY, TAGS, UPDATED. The API server prints only the first match
// of a column's JSONPath, so TAGS shows the first spec tag rather than OpenShift's
// comma-separated list. The root type requires `spec` (kube's derive offers no way
// to default it), unlike OpenShift where it may be omitted.
#[allow(
    clippy::duplicated_attributes,
    reason = "clippy reads the repeated `type_ = \"string\"` of two printcolumns as a duplicate"
)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    // The core has kube-core, not the kube facade the derive names by default.
    crates(kube_core = "::kube_core"),
    group = "image.openshift.io",
    version = "v1",
    kind = "ImageStream",
    plural = "imagestreams",
    namespaced,
    shortname = "is",
    category = "all",
    status = "ImageStreamStatus",
    // The root type only gets the derives listed here, not those of the spec.
    derive = "PartialEq",
    derive = "Default",
    doc = "An ImageStream stores a mapping of tags to images, metadata overrides that are applied when images are tagged in a stream, and an optional reference to a container image repository on a registry.",
    printcolumn(
        name = "Image Repository",
        type_ = "string",
        description = "Location the stream's images may be pulled from",
        json_path = ".status.dockerImageRepository"
    ),
    printcolumn(
        name = "Tags",
        type_ = "string",
        description = "Tags defined in spec (the API server prints only the first)",
        json_path = ".spec.tags[*].name"
    ),
    printcolumn(
        name = "Updated",
        type_ = "date",
        description = "When the first status tag last received a new image",
        json_path = ".status.tags[0].items[0].created"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ImageStreamSpec {
    /// lookupPolicy controls how other resources reference images within this namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookup_policy: Option<ImageLookupPolicy>,
    /// dockerImageRepository is optional, if specified this stream is backed by a container
    /// repository on this server. Deprecated: specify the source for the tags to be imported
    /// in each tag via the spec.tags.from reference instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_image_repository: Option<String>,
    /// tags map arbitrary string values to specific image locators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<TagReference>>,
}

/// ImageLookupPolicy describes how an image stream can be used to override the image
/// references used by pods, builds, and other resources in a namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageLookupPolicy {
    /// local will change the docker short image references (like "mysql" or "php:latest") on
    /// objects in this namespace to the image ID whenever they match this image stream, instead
    /// of reaching out to a remote registry. Only works within the current namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<bool>,
}

/// TagReference specifies optional annotations for images using this tag and an optional
/// reference to an ImageStreamTag, ImageStreamImage, or DockerImage this tag should track.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TagReference {
    /// Name of the tag.
    pub name: String,
    /// Optional; if specified, annotations that are applied to images retrieved via
    /// ImageStreamTags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Optional; if specified, a reference to another image that this tag should point to.
    /// Valid values are ImageStreamTag, ImageStreamImage, and DockerImage. ImageStreamTag
    /// references can only reference a tag within this same ImageStream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<ObjectReference>,
    /// Reference states if the tag will be imported. Default value is false, which means the
    /// tag will be imported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<bool>,
    /// Generation is a counter that tracks mutations to the spec tag (user intent). An import
    /// is due when it is newer than the generation recorded in status; clients may set it to
    /// zero to request a new import.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// ImportPolicy is information that controls how images may be imported by the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_policy: Option<TagImportPolicy>,
    /// ReferencePolicy defines how other components should consume the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_policy: Option<TagReferencePolicy>,
}

/// ObjectReference contains enough information to let you inspect or modify the referred
/// object. Same fields as Kubernetes' core/v1 ObjectReference, which OpenShift uses for
/// `spec.tags[].from`; every field is optional there. (`Box<str>` rather than
/// `String`: every spec tag holds one, mostly empty, and the 8 bytes a field
/// saves are 2.8 MB at 10,000 streams of 5 tags.)
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectReference {
    /// Kind of the referent: DockerImage, ImageStreamTag or ImageStreamImage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<Box<str>>,
    /// Namespace of the referent (ImageStreamTag and ImageStreamImage only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<Box<str>>,
    /// Name of the referent: a pull spec for DockerImage, `stream:tag` for ImageStreamTag,
    /// `stream@digest` for ImageStreamImage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Box<str>>,
    /// UID of the referent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<Box<str>>,
    /// API version of the referent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<Box<str>>,
    /// Specific resourceVersion to which this reference is made, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<Box<str>>,
    /// If referring to a piece of an object instead of an entire object, this string should
    /// contain a valid JSON/Go field access statement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_path: Option<Box<str>>,
}

/// TagImportPolicy controls how images related to this tag will be imported.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TagImportPolicy {
    /// Insecure is true if the server may bypass certificate verification or connect directly
    /// over HTTP during image import.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure: Option<bool>,
    /// Scheduled indicates to the server that this tag should be periodically checked to
    /// ensure it is up to date, and imported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled: Option<bool>,
    /// ImportMode describes how to import an image manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "non_nullable::<ImportMode>")]
    pub import_mode: Option<ImportMode>,
}

/// ImportModeType: how to import an image manifest.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ImportMode {
    /// Import a single sub-manifest of a manifest list (OpenShift's default).
    #[default]
    Legacy,
    /// Import the manifest list and all its sub-manifests as they are.
    PreserveOriginal,
}

/// TagReferencePolicy describes how pull-specs for images in this image stream tag are
/// generated when image change triggers are resolved.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TagReferencePolicy {
    /// Type determines how the image pull spec should be transformed when the image stream
    /// tag is used. `Source` (the default) uses the original location of the image; `Local`
    /// points at the integrated registry.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "non_nullable::<TagReferencePolicyType>")]
    pub type_: Option<TagReferencePolicyType>,
}

/// TagReferencePolicyType: how pull-specs for images in an image stream tag are
/// generated.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum TagReferencePolicyType {
    /// Use the image's original location (OpenShift's default).
    #[default]
    Source,
    /// Pull through the integrated registry.
    Local,
}

/// ImageStreamStatus contains information about the state of this image stream.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageStreamStatus {
    /// DockerImageRepository represents the effective location this stream may be accessed
    /// at. May be empty until the server determines where the repository is located.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_image_repository: Option<String>,
    /// PublicDockerImageRepository represents the public location from where the image can be
    /// pulled outside the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_docker_image_repository: Option<String>,
    /// Tags are a historical record of images associated with each tag. The first entry in
    /// the TagEvent array is the currently tagged image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<NamedTagEventList>>,
}

/// NamedTagEventList relates a tag to its image history.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamedTagEventList {
    /// Tag is the tag for which the history is recorded.
    pub tag: String,
    /// Image history of the tag, newest first. `null` when nothing was ever imported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<TagEvent>>,
    /// Conditions is an array of conditions that apply to the tag event list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<TagEventCondition>>,
}

/// TagEvent is used by ImageStreamStatus to keep a historical record of images associated
/// with a tag.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TagEvent {
    /// Created holds the time the TagEvent was created (RFC 3339). Kept as the string the
    /// server sent: a zero Go time prints as `null`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<Box<str>>,
    /// DockerImageReference is the string that can be used to pull this image.
    // Shared with the snapshot's pinned reference of the tag when the two are
    // the same string (nearly always): 0.7 KB per stream of 5 tags.
    pub docker_image_reference: Arc<str>,
    /// Image is the image (its digest, `sha256:…`).
    pub image: Box<str>,
    /// Generation is the spec tag generation that resulted in this tag being updated.
    pub generation: i64,
    /// Platforms is all platforms supported by the image in this tag as a list of
    /// "os/architecture" strings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platforms: Option<Box<[String]>>,
}

/// TagEventCondition contains condition information for a tag event.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TagEventCondition {
    /// Type of tag event condition, currently only ImportSuccess.
    #[serde(rename = "type")]
    pub type_: String,
    /// Status of the condition, one of True, False, Unknown.
    pub status: String,
    /// LastTransitionTime is the time the condition transitioned from one status to another
    /// (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    /// Reason is a brief machine readable explanation for the condition's last transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Message is a human readable description of the details about last transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Generation is the spec tag generation that this status corresponds to.
    pub generation: i64,
}

/// Schema of `Option<T>` for an enum `T`, without `nullable: true`.
///
/// The API server checks `enum` even for a `null` value kept because the field is
/// nullable, and no `enum` list can admit `null` there, so a nullable enum field
/// rejects an explicit `null`. A non-nullable field's `null` is instead dropped
/// before validation, which is what OpenShift's decoder does with it too.
fn non_nullable<T: JsonSchema>(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    generator.subschema_for::<T>()
}

impl ImageStream {
    /// Spec tags, empty when `spec.tags` is absent or `null`.
    pub fn spec_tags(&self) -> &[TagReference] {
        self.spec.tags.as_deref().unwrap_or_default()
    }

    /// Gives back the spare capacity parsers leave in vectors (a list of
    /// five tags is parsed into room for eight): a server keeps every stream
    /// for its whole life.
    pub fn shrink_to_fit(&mut self) {
        if let Some(tags) = &mut self.spec.tags {
            tags.shrink_to_fit();
        }
        if let Some(tags) = self.status.as_mut().and_then(|s| s.tags.as_mut()) {
            tags.shrink_to_fit();
            for list in tags {
                if let Some(items) = &mut list.items {
                    items.shrink_to_fit();
                }
                if let Some(conditions) = &mut list.conditions {
                    conditions.shrink_to_fit();
                }
            }
        }
    }

    /// Status tags, empty when there is no status or `status.tags` is absent or `null`.
    pub fn status_tags(&self) -> &[NamedTagEventList] {
        self.status
            .as_ref()
            .and_then(|s| s.tags.as_deref())
            .unwrap_or_default()
    }

    /// The spec tag called `name`.
    pub fn spec_tag(&self, name: &str) -> Option<&TagReference> {
        self.spec_tags().iter().find(|t| t.name == name)
    }

    /// The status (image history) of the tag called `name`.
    pub fn status_tag(&self, name: &str) -> Option<&NamedTagEventList> {
        self.status_tags().iter().find(|t| t.tag == name)
    }

    /// Whether `spec.lookupPolicy.local` is set, i.e. short image names in this namespace
    /// should resolve through this stream. False when unset.
    pub fn lookup_local(&self) -> bool {
        self.spec
            .lookup_policy
            .as_ref()
            .and_then(|p| p.local)
            .unwrap_or(false)
    }
}

impl TagReference {
    /// `from.kind` (DockerImage, ImageStreamTag or ImageStreamImage), if set.
    pub fn from_kind(&self) -> Option<&str> {
        self.from.as_ref().and_then(|f| f.kind.as_deref())
    }

    /// `from.name` (pull spec, `stream:tag` or `stream@digest`), if set.
    pub fn from_name(&self) -> Option<&str> {
        self.from.as_ref().and_then(|f| f.name.as_deref())
    }

    /// `from.namespace`, if set. Unset means the stream's own namespace.
    pub fn from_namespace(&self) -> Option<&str> {
        self.from.as_ref().and_then(|f| f.namespace.as_deref())
    }

    /// Whether the tag is only a reference and must not be imported. False when unset.
    pub fn is_reference(&self) -> bool {
        self.reference.unwrap_or(false)
    }

    /// Whether the import may skip TLS verification or use plain HTTP. False when unset.
    pub fn is_insecure(&self) -> bool {
        self.import_policy
            .as_ref()
            .and_then(|p| p.insecure)
            .unwrap_or(false)
    }

    /// Whether the tag should be re-imported periodically. False when unset.
    pub fn is_scheduled(&self) -> bool {
        self.import_policy
            .as_ref()
            .and_then(|p| p.scheduled)
            .unwrap_or(false)
    }

    /// The import mode, `Legacy` when unset (as in OpenShift).
    pub fn import_mode(&self) -> ImportMode {
        self.import_policy
            .as_ref()
            .and_then(|p| p.import_mode)
            .unwrap_or_default()
    }

    /// The reference policy type, `Source` when unset (as in OpenShift).
    pub fn reference_policy_type(&self) -> TagReferencePolicyType {
        self.reference_policy
            .as_ref()
            .and_then(|p| p.type_)
            .unwrap_or_default()
    }
}

impl NamedTagEventList {
    /// Image history, newest first; empty when `items` is absent or `null`.
    pub fn items(&self) -> &[TagEvent] {
        self.items.as_deref().unwrap_or_default()
    }

    /// Conditions; empty when absent or `null`.
    pub fn conditions(&self) -> &[TagEventCondition] {
        self.conditions.as_deref().unwrap_or_default()
    }

    /// The image the tag currently points at (`items[0]`).
    pub fn latest(&self) -> Option<&TagEvent> {
        self.items().first()
    }

    /// The condition of the given type, e.g. [`CONDITION_IMPORT_SUCCESS`].
    pub fn condition(&self, type_: &str) -> Option<&TagEventCondition> {
        self.conditions().iter().find(|c| c.type_ == type_)
    }
}

/// The ImageStream CustomResourceDefinition as YAML, ready for `kubectl apply -f`.
pub fn crd_yaml() -> Result<String, serde_saphyr::SerializeError> {
    serde_saphyr::to_string(&ImageStream::crd())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube_core::Resource;
    use serde_json::Value;

    /// `oc get is nginx -o yaml` from an OpenShift 4 cluster, with one imported tag, one
    /// failed import and one reference tag.
    const OC_YAML: &str = r#"apiVersion: image.openshift.io/v1
kind: ImageStream
metadata:
  annotations:
    openshift.io/image.dockerRepositoryCheck: "2024-05-14T09:12:41Z"
  creationTimestamp: "2024-05-14T09:12:40Z"
  generation: 3
  name: nginx
  namespace: demo
  resourceVersion: "4839201"
  uid: 6f0c8a3e-4b1d-4c55-9f0e-2f6d1f4b7a21
spec:
  lookupPolicy:
    local: true
  tags:
  - annotations: null
    from:
      kind: DockerImage
      name: quay.io/nginx/nginx-unprivileged:1.25
    generation: 2
    importPolicy:
      importMode: Legacy
    name: "1.25"
    referencePolicy:
      type: Source
  - annotations:
      openshift.io/imported-from: docker.io/library/nginx
    from:
      kind: DockerImage
      name: docker.io/library/nginx:does-not-exist
    generation: 3
    importPolicy:
      importMode: PreserveOriginal
      scheduled: true
    name: broken
    referencePolicy:
      type: Local
  - annotations: null
    from:
      kind: ImageStreamTag
      name: nginx:1.25
      namespace: demo
    generation: null
    importPolicy: {}
    name: latest
    reference: true
    referencePolicy:
      type: Source
status:
  dockerImageRepository: image-registry.openshift-image-registry.svc:5000/demo/nginx
  publicDockerImageRepository: default-route-openshift-image-registry.apps.example.com/demo/nginx
  tags:
  - items:
    - created: "2024-05-14T09:12:41Z"
      dockerImageReference: quay.io/nginx/nginx-unprivileged@sha256:9d3e8b6a2c1f0e4d5b7a8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b
      generation: 2
      image: sha256:9d3e8b6a2c1f0e4d5b7a8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b
    - created: "2024-04-02T17:03:11Z"
      dockerImageReference: quay.io/nginx/nginx-unprivileged@sha256:1111111111111111111111111111111111111111111111111111111111111111
      generation: 1
      image: sha256:1111111111111111111111111111111111111111111111111111111111111111
    tag: "1.25"
  - conditions:
    - generation: 3
      lastTransitionTime: "2024-05-14T09:12:41Z"
      message: 'Internal error occurred: docker.io/library/nginx:does-not-exist: manifest
        unknown'
      reason: NotFound
      status: "False"
      type: ImportSuccess
    items: null
    tag: broken
"#;

    /// The same stream as `oc get is nginx -o json` prints it.
    const OC_JSON: &str = r#"{
    "apiVersion": "image.openshift.io/v1",
    "kind": "ImageStream",
    "metadata": {
        "annotations": {"openshift.io/image.dockerRepositoryCheck": "2024-05-14T09:12:41Z"},
        "creationTimestamp": "2024-05-14T09:12:40Z",
        "generation": 3,
        "name": "nginx",
        "namespace": "demo",
        "resourceVersion": "4839201",
        "uid": "6f0c8a3e-4b1d-4c55-9f0e-2f6d1f4b7a21"
    },
    "spec": {
        "lookupPolicy": {"local": true},
        "tags": [
            {
                "annotations": null,
                "from": {"kind": "DockerImage", "name": "quay.io/nginx/nginx-unprivileged:1.25"},
                "generation": 2,
                "importPolicy": {"importMode": "Legacy"},
                "name": "1.25",
                "referencePolicy": {"type": "Source"}
            },
            {
                "annotations": {"openshift.io/imported-from": "docker.io/library/nginx"},
                "from": {"kind": "DockerImage", "name": "docker.io/library/nginx:does-not-exist"},
                "generation": 3,
                "importPolicy": {"importMode": "PreserveOriginal", "scheduled": true},
                "name": "broken",
                "referencePolicy": {"type": "Local"}
            },
            {
                "annotations": null,
                "from": {"kind": "ImageStreamTag", "name": "nginx:1.25", "namespace": "demo"},
                "generation": null,
                "importPolicy": {},
                "name": "latest",
                "reference": true,
                "referencePolicy": {"type": "Source"}
            }
        ]
    },
    "status": {
        "dockerImageRepository": "image-registry.openshift-image-registry.svc:5000/demo/nginx",
        "publicDockerImageRepository": "default-route-openshift-image-registry.apps.example.com/demo/nginx",
        "tags": [
            {
                "items": [
                    {
                        "created": "2024-05-14T09:12:41Z",
                        "dockerImageReference": "quay.io/nginx/nginx-unprivileged@sha256:9d3e8b6a2c1f0e4d5b7a8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b",
                        "generation": 2,
                        "image": "sha256:9d3e8b6a2c1f0e4d5b7a8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b"
                    },
                    {
                        "created": "2024-04-02T17:03:11Z",
                        "dockerImageReference": "quay.io/nginx/nginx-unprivileged@sha256:1111111111111111111111111111111111111111111111111111111111111111",
                        "generation": 1,
                        "image": "sha256:1111111111111111111111111111111111111111111111111111111111111111"
                    }
                ],
                "tag": "1.25"
            },
            {
                "conditions": [
                    {
                        "generation": 3,
                        "lastTransitionTime": "2024-05-14T09:12:41Z",
                        "message": "Internal error occurred: docker.io/library/nginx:does-not-exist: manifest unknown",
                        "reason": "NotFound",
                        "status": "False",
                        "type": "ImportSuccess"
                    }
                ],
                "items": null,
                "tag": "broken"
            }
        ]
    }
}"#;

    fn check_oc_stream(is: &ImageStream) {
        assert_eq!(is.metadata.name.as_deref(), Some("nginx"));
        assert_eq!(is.metadata.namespace.as_deref(), Some("demo"));
        assert_eq!(is.metadata.generation, Some(3));
        assert!(is.lookup_local());

        assert_eq!(is.spec_tags().len(), 3);
        let t125 = is.spec_tag("1.25").expect("tag 1.25");
        assert_eq!(t125.annotations, None);
        assert_eq!(t125.from_kind(), Some(FROM_KIND_DOCKER_IMAGE));
        assert_eq!(
            t125.from_name(),
            Some("quay.io/nginx/nginx-unprivileged:1.25")
        );
        assert_eq!(t125.from_namespace(), None);
        assert_eq!(t125.generation, Some(2));
        assert_eq!(t125.import_mode(), ImportMode::Legacy);
        assert_eq!(t125.reference_policy_type(), TagReferencePolicyType::Source);
        assert!(!t125.is_reference());
        assert!(!t125.is_scheduled());
        assert!(!t125.is_insecure());

        let broken = is.spec_tag("broken").expect("tag broken");
        assert_eq!(
            broken
                .annotations
                .as_ref()
                .and_then(|a| a.get("openshift.io/imported-from"))
                .map(String::as_str),
            Some("docker.io/library/nginx")
        );
        assert!(broken.is_scheduled());
        assert_eq!(broken.import_mode(), ImportMode::PreserveOriginal);
        assert_eq!(
            broken.reference_policy_type(),
            TagReferencePolicyType::Local
        );

        let latest = is.spec_tag("latest").expect("tag latest");
        assert_eq!(latest.from_kind(), Some(FROM_KIND_IMAGE_STREAM_TAG));
        assert_eq!(latest.from_namespace(), Some("demo"));
        assert_eq!(latest.generation, None);
        assert!(latest.is_reference());
        assert_eq!(latest.import_policy, Some(TagImportPolicy::default()));
        assert_eq!(latest.import_mode(), ImportMode::Legacy);
        assert!(is.spec_tag("missing").is_none());

        let status = is.status.as_ref().expect("status");
        assert_eq!(
            status.docker_image_repository.as_deref(),
            Some("image-registry.openshift-image-registry.svc:5000/demo/nginx")
        );
        assert_eq!(
            status.public_docker_image_repository.as_deref(),
            Some("default-route-openshift-image-registry.apps.example.com/demo/nginx")
        );

        let s125 = is.status_tag("1.25").expect("status tag 1.25");
        assert_eq!(s125.items().len(), 2);
        let newest = s125.latest().expect("latest event");
        assert_eq!(newest.created.as_deref(), Some("2024-05-14T09:12:41Z"));
        assert_eq!(
            &*newest.docker_image_reference,
            "quay.io/nginx/nginx-unprivileged@sha256:9d3e8b6a2c1f0e4d5b7a8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b"
        );
        assert_eq!(
            &*newest.image,
            "sha256:9d3e8b6a2c1f0e4d5b7a8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b"
        );
        assert_eq!(newest.generation, 2);
        assert!(s125.condition(CONDITION_IMPORT_SUCCESS).is_none());

        let sbroken = is.status_tag("broken").expect("status tag broken");
        assert_eq!(sbroken.items, None);
        assert!(sbroken.latest().is_none());
        let cond = sbroken
            .condition(CONDITION_IMPORT_SUCCESS)
            .expect("ImportSuccess condition");
        assert_eq!(cond.status, "False");
        assert_eq!(cond.reason.as_deref(), Some("NotFound"));
        assert_eq!(
            cond.message.as_deref(),
            Some(
                "Internal error occurred: docker.io/library/nginx:does-not-exist: manifest unknown"
            )
        );
        assert_eq!(
            cond.last_transition_time.as_deref(),
            Some("2024-05-14T09:12:41Z")
        );
        assert_eq!(cond.generation, 3);
        assert!(is.status_tag("latest").is_none());
    }

    #[test]
    fn parses_oc_yaml() {
        let is: ImageStream = serde_saphyr::from_str(OC_YAML).expect("parse yaml");
        check_oc_stream(&is);
    }

    #[test]
    fn parses_oc_json() {
        let is: ImageStream = serde_json::from_str(OC_JSON).expect("parse json");
        check_oc_stream(&is);
        let from_yaml: ImageStream = serde_saphyr::from_str(OC_YAML).expect("parse yaml");
        assert_eq!(is, from_yaml);
    }

    /// What `oc get is -o yaml` and `-o json` print holds no field a stream
    /// file's strict check would report.
    #[test]
    fn oc_output_has_no_unknown_fields() {
        for (text, json) in [(OC_YAML, false), (OC_JSON, true)] {
            let parsed = crate::manifest::parse_file_checked(text, json).expect("parses");
            assert_eq!(parsed.objects.len(), 1);
            assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
        }
    }

    #[test]
    fn round_trips() {
        let is: ImageStream = serde_saphyr::from_str(OC_YAML).expect("parse yaml");

        let json = serde_json::to_string(&is).expect("to json");
        let back: ImageStream = serde_json::from_str(&json).expect("json back");
        assert_eq!(back, is);

        let yaml = serde_saphyr::to_string(&is).expect("to yaml");
        let back: ImageStream = serde_saphyr::from_str(&yaml).expect("yaml back");
        assert_eq!(back, is);

        // Absent values are left out rather than written as null, and the identifying
        // fields come out as OpenShift writes them.
        let value = serde_json::to_value(&is).expect("to value");
        assert_eq!(value["apiVersion"], API_VERSION);
        assert_eq!(value["kind"], KIND);
        assert!(value["spec"]["tags"][0].get("annotations").is_none());
        assert!(value["status"]["tags"][1].get("items").is_none());
        assert_eq!(value["spec"]["tags"][1]["referencePolicy"]["type"], "Local");
        assert_eq!(
            value["status"]["tags"][1]["conditions"][0]["type"],
            CONDITION_IMPORT_SUCCESS
        );
    }

    #[test]
    fn parses_minimal_stream() {
        let is: ImageStream = serde_saphyr::from_str(
            "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata:\n  name: empty\nspec: {}\n",
        )
        .expect("parse minimal");
        assert_eq!(is.spec, ImageStreamSpec::default());
        assert!(is.status.is_none());
        assert!(is.spec_tags().is_empty());
        assert!(is.status_tags().is_empty());
        assert!(!is.lookup_local());
        assert!(is.spec_tag("latest").is_none());
        assert!(is.status_tag("latest").is_none());
    }

    #[test]
    fn parses_stream_without_status_and_explicit_nulls() {
        let is: ImageStream = serde_json::from_str(
            r#"{"apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
                "metadata": {"name": "app", "namespace": "ns"},
                "spec": {"lookupPolicy": null, "dockerImageRepository": null, "tags": [
                    {"name": "v1", "annotations": null, "from": null, "reference": null,
                     "generation": null, "importPolicy": null, "referencePolicy": null},
                    {"name": "v2", "from": {"kind": "DockerImage", "name": "quay.io/a/b:v2"},
                     "importPolicy": {"insecure": true, "scheduled": null, "importMode": null},
                     "referencePolicy": {"type": null}}
                ]},
                "status": null}"#,
        )
        .expect("parse nulls");
        assert!(is.status.is_none());
        assert!(!is.lookup_local());
        let v1 = is.spec_tag("v1").expect("v1");
        assert_eq!(
            *v1,
            TagReference {
                name: "v1".into(),
                ..TagReference::default()
            }
        );
        assert_eq!(v1.from_kind(), None);
        assert!(!v1.is_reference() && !v1.is_insecure() && !v1.is_scheduled());
        assert_eq!(v1.import_mode(), ImportMode::Legacy);
        assert_eq!(v1.reference_policy_type(), TagReferencePolicyType::Source);
        let v2 = is.spec_tag("v2").expect("v2");
        assert!(v2.is_insecure());
        assert!(!v2.is_scheduled());
        assert_eq!(v2.from_name(), Some("quay.io/a/b:v2"));

        // Status-side nulls that a zero Go time or nil slice produces.
        let status: ImageStreamStatus = serde_json::from_str(
            r#"{"dockerImageRepository": "", "tags": [{"tag": "v1", "items": [
                {"created": null, "dockerImageReference": "quay.io/a/b@sha256:00", "image": "sha256:00",
                 "generation": 1, "platforms": null}], "conditions": null}]}"#,
        )
        .expect("parse status nulls");
        let tags = status.tags.as_deref().unwrap_or_default();
        assert_eq!(tags[0].latest().map(|e| e.created.is_none()), Some(true));
        assert!(tags[0].conditions().is_empty());
    }

    #[test]
    fn rejects_from_that_is_not_an_object() {
        let yaml = "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata:\n  name: bad\nspec:\n  tags:\n  - name: latest\n    from: quay.io/a/b:latest\n";
        assert!(serde_saphyr::from_str::<ImageStream>(yaml).is_err());
        let json = r#"{"apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
            "metadata": {"name": "bad"}, "spec": {"tags": [{"name": "latest", "from": "quay.io/a/b:latest"}]}}"#;
        assert!(serde_json::from_str::<ImageStream>(json).is_err());
    }

    #[test]
    fn constants_match_resource() {
        assert_eq!(ImageStream::group(&()), GROUP);
        assert_eq!(ImageStream::version(&()), VERSION);
        assert_eq!(ImageStream::api_version(&()), API_VERSION);
        assert_eq!(ImageStream::kind(&()), KIND);
        assert_eq!(ImageStream::plural(&()), PLURAL);
        assert_eq!(ImageStream::shortnames(), &[SHORT_NAME]);
        let is = ImageStream::new("x", ImageStreamSpec::default());
        let value = serde_json::to_value(&is).expect("to value");
        assert_eq!(value["apiVersion"], API_VERSION);
        assert_eq!(value["kind"], KIND);
    }

    fn crd_json() -> Value {
        serde_json::to_value(ImageStream::crd()).expect("crd to json")
    }

    fn schema_at<'a>(root: &'a Value, path: &[&str]) -> &'a Value {
        path.iter().fold(root, |v, key| &v[*key])
    }

    #[test]
    fn crd_names_subresources_and_columns() {
        let crd = ImageStream::crd();
        assert_eq!(
            crd.metadata.name.as_deref(),
            Some("imagestreams.image.openshift.io")
        );
        assert_eq!(crd.spec.group, GROUP);
        assert_eq!(crd.spec.scope, "Namespaced");
        assert_eq!(crd.spec.names.kind, KIND);
        assert_eq!(crd.spec.names.plural, PLURAL);
        assert_eq!(
            crd.spec.names.short_names,
            Some(vec![SHORT_NAME.to_string()])
        );
        assert_eq!(crd.spec.names.categories, Some(vec!["all".to_string()]));

        assert_eq!(crd.spec.versions.len(), 1);
        let version = &crd.spec.versions[0];
        assert_eq!(version.name, VERSION);
        assert!(version.served && version.storage);
        let subresources = version.subresources.as_ref().expect("subresources");
        assert!(subresources.status.is_some());
        assert!(subresources.scale.is_none());

        let columns: Vec<(&str, &str, &str)> = version
            .additional_printer_columns
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|c| (c.name.as_str(), c.type_.as_str(), c.json_path.as_str()))
            .collect();
        assert_eq!(
            columns,
            [
                (
                    "Image Repository",
                    "string",
                    ".status.dockerImageRepository"
                ),
                ("Tags", "string", ".spec.tags[*].name"),
                ("Updated", "date", ".status.tags[0].items[0].created"),
            ]
        );
        // The API server's own check (validateSimpleJSONPath): non-empty and starting with
        // a dot; anything client-go's JSONPath parser accepts then works at print time.
        for (_, _, path) in columns {
            assert!(path.starts_with('.') && path.len() > 1, "{path}");
        }
    }

    #[test]
    fn crd_schema_is_structural() {
        let crd = crd_json();
        let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
        assert_eq!(schema["type"], "object");

        // Structural schemas must not use references or unresolved combinators, and every
        // node needs a type.
        fn walk(node: &Value, path: &str) {
            let Some(obj) = node.as_object() else {
                panic!("schema at {path} is not an object: {node}");
            };
            for banned in [
                "$ref",
                "$schema",
                "definitions",
                "$defs",
                "anyOf",
                "oneOf",
                "allOf",
            ] {
                assert!(!obj.contains_key(banned), "{banned} at {path}");
            }
            assert!(
                obj.contains_key("type")
                    || obj.contains_key("x-kubernetes-preserve-unknown-fields")
                    || obj.contains_key("x-kubernetes-int-or-string"),
                "no type at {path}: {node}"
            );
            if let Some(props) = obj.get("properties").and_then(Value::as_object) {
                for (name, child) in props {
                    walk(child, &format!("{path}.{name}"));
                }
            }
            if let Some(items) = obj.get("items") {
                walk(items, &format!("{path}[]"));
            }
            if let Some(additional) = obj.get("additionalProperties") {
                walk(additional, &format!("{path}{{}}"));
            }
        }
        walk(schema, "");

        let spec_tag = schema_at(
            schema,
            &["properties", "spec", "properties", "tags", "items"],
        );
        assert_eq!(spec_tag["required"], serde_json::json!(["name"]));
        let tag_props = &spec_tag["properties"];
        assert_eq!(tag_props["annotations"]["type"], "object");
        assert_eq!(tag_props["annotations"]["nullable"], true);
        assert_eq!(
            tag_props["annotations"]["additionalProperties"]["type"],
            "string"
        );
        assert_eq!(tag_props["generation"]["nullable"], true);
        assert_eq!(tag_props["generation"]["type"], "integer");
        // A `from` that is a string (or anything but an object or null) is rejected.
        assert_eq!(tag_props["from"]["type"], "object");
        assert_eq!(tag_props["from"]["properties"]["kind"]["type"], "string");
        // Enums are not nullable: see `non_nullable`.
        let import_mode = &tag_props["importPolicy"]["properties"]["importMode"];
        assert_eq!(import_mode["type"], "string");
        assert_eq!(
            import_mode["enum"],
            serde_json::json!(["Legacy", "PreserveOriginal"])
        );
        assert!(import_mode.get("nullable").is_none());
        let policy_type = &tag_props["referencePolicy"]["properties"]["type"];
        assert_eq!(policy_type["type"], "string");
        assert_eq!(policy_type["enum"], serde_json::json!(["Source", "Local"]));
        assert!(policy_type.get("nullable").is_none());

        let status_tag = schema_at(
            schema,
            &["properties", "status", "properties", "tags", "items"],
        );
        assert_eq!(status_tag["properties"]["items"]["type"], "array");
        assert_eq!(status_tag["properties"]["items"]["nullable"], true);
        assert_eq!(status_tag["properties"]["conditions"]["nullable"], true);
        let event = &status_tag["properties"]["items"]["items"];
        assert_eq!(event["properties"]["created"]["nullable"], true);
        assert_eq!(
            event["required"],
            serde_json::json!(["dockerImageReference", "generation", "image"])
        );

        // No defaults: the API server must store streams as written, like OpenShift does.
        assert!(
            !serde_json::to_string(schema)
                .expect("schema")
                .contains("\"default\"")
        );
    }

    #[test]
    fn crd_yaml_round_trips() {
        let yaml = crd_yaml().expect("crd yaml");
        assert!(yaml.contains("kind: CustomResourceDefinition"));
        let parsed: CustomResourceDefinition = serde_saphyr::from_str(&yaml).expect("parse crd");
        assert_eq!(parsed, ImageStream::crd());
    }
}
