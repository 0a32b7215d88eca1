//! What an import learns of an image: its manifest (an image, or an index of
//! images for several platforms) and its config, read from registry answers
//! (hostile input: every field is checked, nothing is trusted to be small
//! beyond the byte limits the fetcher keeps to), made into the `Image` record
//! OpenShift would write.

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::image::{
    DockerConfig, DockerImage, Empty, Image, ImageFields, ImageLayer, ImageManifest,
    LAYERS_ORDER_ANNOTATION, METADATA_API_VERSION, METADATA_KIND, METADATA_VERSION, Platform,
    choose_child,
};
use crate::reference::is_sha256_digest;

/// The largest manifest read: what the OCI distribution spec asks registries to accept.
pub const MAX_MANIFEST_BYTES: u64 = 4 << 20;
/// The largest config blob read; a larger one leaves the metadata out.
pub const MAX_CONFIG_BYTES: u64 = 4 << 20;
/// The largest record written (an API server takes objects of about 1.5 MiB): a
/// record over it keeps its reference and media type, and drops the rest.
pub const MAX_RECORD_BYTES: usize = 1 << 20;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// `Accept` of a manifest request: every type read here.
pub const MANIFEST_TYPES: [&str; 4] = [OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST];

/// A content descriptor: what a manifest says of a blob or a child manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub media_type: String,
    /// Always `sha256:` and 64 lower-case hex digits: it goes into request paths.
    pub digest: String,
    pub size: i64,
    pub platform: Option<Platform>,
}

/// A manifest as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Manifest {
    Image(ImageDoc),
    Index(IndexDoc),
}

/// An image manifest (OCI, or Docker schema 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageDoc {
    pub media_type: String,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// An image index (OCI) or manifest list (Docker).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexDoc {
    pub media_type: String,
    pub manifests: Vec<Descriptor>,
}

impl IndexDoc {
    /// Each child's platform, in the index's order (empty fields when it names none).
    pub fn platforms(&self) -> Vec<Platform> {
        self.manifests
            .iter()
            .map(|m| m.platform.clone().unwrap_or_default())
            .collect()
    }

    /// The child read for `prefer` (see [`choose_child`]): `importMode: Legacy`
    /// imports it in place of the index, and the index's record takes its config from it.
    pub fn child(&self, prefer: &Platform) -> Option<&Descriptor> {
        self.manifests.get(choose_child(&self.platforms(), prefer)?)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    schema_version: Option<i64>,
    media_type: Option<String>,
    config: Option<RawDescriptor>,
    layers: Option<Vec<RawDescriptor>>,
    manifests: Option<Vec<RawDescriptor>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDescriptor {
    media_type: Option<String>,
    digest: String,
    size: i64,
    platform: Option<RawPlatform>,
}

#[derive(Deserialize)]
struct RawPlatform {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
    variant: Option<String>,
}

impl RawDescriptor {
    fn checked(self, what: &str) -> Result<Descriptor, String> {
        if !is_sha256_digest(&self.digest) {
            return Err(format!(
                "{what} has digest {:?}, not sha256 and 64 hex digits",
                crate::text::clip(&self.digest, 80)
            ));
        }
        if self.size < 0 {
            return Err(format!("{what} has a negative size"));
        }
        Ok(Descriptor {
            media_type: self.media_type.unwrap_or_default(),
            digest: self.digest,
            size: self.size,
            platform: self.platform.map(|p| Platform {
                os: p.os,
                architecture: p.architecture,
                variant: p.variant.filter(|v| !v.is_empty()),
            }),
        })
    }
}

/// The manifest in `bytes`, its type from its own `mediaType`, else from the
/// `Content-Type` the registry sent, else from its shape.
pub fn parse_manifest(bytes: &[u8], content_type: Option<&str>) -> Result<Manifest, String> {
    let raw: RawManifest = serde_json::from_slice(bytes)
        .map_err(|e| format!("the manifest is not a JSON manifest: {e}"))?;
    if raw.schema_version == Some(1) {
        return Err("the manifest is Docker schema 1, which is not read".to_owned());
    }
    let header = content_type
        .map(|t| t.split(';').next().unwrap_or_default().trim().to_owned())
        .filter(|t| !t.is_empty());
    let media_type = raw.media_type.clone().or(header).unwrap_or_default();
    let is_index = match media_type.as_str() {
        OCI_INDEX | DOCKER_LIST => true,
        OCI_MANIFEST | DOCKER_MANIFEST => false,
        _ => raw.config.is_none() && raw.manifests.is_some(),
    };
    if is_index {
        let manifests = raw
            .manifests
            .ok_or("the index lists no manifests")?
            .into_iter()
            .enumerate()
            .map(|(i, d)| d.checked(&format!("manifest {i} of the index")))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Manifest::Index(IndexDoc {
            media_type: if media_type.is_empty() {
                OCI_INDEX.to_owned()
            } else {
                media_type
            },
            manifests,
        }));
    }
    let config = raw
        .config
        .ok_or_else(|| {
            format!(
                "the manifest ({}) has no config",
                if media_type.is_empty() {
                    "no media type"
                } else {
                    &media_type
                }
            )
        })?
        .checked("the config")?;
    let layers = raw
        .layers
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, d)| d.checked(&format!("layer {i}")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Manifest::Image(ImageDoc {
        // OpenShift's default for a manifest that does not say.
        media_type: if media_type.is_empty() {
            DOCKER_MANIFEST.to_owned()
        } else {
            media_type
        },
        config,
        layers,
    }))
}

/// What an image's config says, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageConfig {
    pub architecture: Option<String>,
    pub os: Option<String>,
    pub created: Option<String>,
    pub author: Option<String>,
    pub docker_version: Option<String>,
    pub config: Option<DockerConfig>,
    /// The config blob's length in bytes (it counts in the image's size).
    pub len: usize,
}

#[derive(Deserialize)]
struct RawConfig {
    architecture: Option<String>,
    os: Option<String>,
    created: Option<String>,
    author: Option<String>,
    docker_version: Option<String>,
    config: Option<RawRunConfig>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawRunConfig {
    user: Option<String>,
    exposed_ports: Option<BTreeMap<String, IgnoredAny>>,
    env: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    volumes: Option<BTreeMap<String, IgnoredAny>>,
    working_dir: Option<String>,
    entrypoint: Option<Vec<String>>,
    labels: Option<BTreeMap<String, String>>,
}

/// Why a config gives no metadata.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("the config blob is not JSON: {0}")]
    NotJson(String),
    #[error("the config blob is not an image config: {0}")]
    NotAConfig(String),
}

/// The image config in `bytes` (an OCI or Docker config blob).
pub fn parse_config(bytes: &[u8]) -> Result<ImageConfig, ConfigError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| ConfigError::NotJson(e.to_string()))?;
    if !value.is_object() {
        return Err(ConfigError::NotAConfig(
            "it is not a JSON object".to_owned(),
        ));
    }
    let raw: RawConfig =
        serde_json::from_value(value).map_err(|e| ConfigError::NotAConfig(e.to_string()))?;
    let keys = |m: Option<BTreeMap<String, IgnoredAny>>| {
        m.map(|m| m.into_keys().map(|k| (k, Empty {})).collect())
    };
    let config = raw.config.map(|c| DockerConfig {
        user: c.user.filter(|u| !u.is_empty()),
        exposed_ports: keys(c.exposed_ports),
        env: c.env,
        cmd: c.cmd,
        volumes: keys(c.volumes),
        working_dir: c.working_dir.filter(|w| !w.is_empty()),
        entrypoint: c.entrypoint,
        labels: c.labels,
    });
    Ok(ImageConfig {
        architecture: raw.architecture.filter(|a| !a.is_empty()),
        os: raw.os.filter(|o| !o.is_empty()),
        // Kept to the second, as OpenShift's record keeps it; an unreadable time is left out.
        created: raw
            .created
            .and_then(|c| c.parse::<jiff::Timestamp>().ok().map(|t| format!("{t:.0}"))),
        author: raw.author.filter(|a| !a.is_empty()),
        docker_version: raw.docker_version.filter(|v| !v.is_empty()),
        config,
        len: bytes.len(),
    })
}

fn new_record(repo: &str, digest: &str, media_type: &str) -> Image {
    Image::new(
        digest,
        ImageFields {
            docker_image_reference: Some(format!("{repo}@{digest}")),
            docker_image_manifest_media_type: Some(media_type.to_owned()),
            ..ImageFields::default()
        },
    )
}

fn metadata(id: &str) -> DockerImage {
    DockerImage {
        kind: Some(METADATA_KIND.to_owned()),
        api_version: Some(METADATA_API_VERSION.to_owned()),
        id: id.to_owned(),
        ..DockerImage::default()
    }
}

/// The record of image manifest `digest` of `repo`, with its config's
/// metadata when the config was read.
pub fn image_record(
    repo: &str,
    digest: &str,
    doc: &ImageDoc,
    config: Option<&ImageConfig>,
) -> Image {
    let mut image = new_record(repo, digest, &doc.media_type);
    let layers: Vec<ImageLayer> = doc
        .layers
        .iter()
        .map(|l| ImageLayer {
            name: l.digest.clone(),
            size: l.size,
            media_type: l.media_type.clone(),
        })
        .collect();
    if !layers.is_empty() {
        image.metadata.annotations = Some(BTreeMap::from([(
            LAYERS_ORDER_ANNOTATION.to_owned(),
            "ascending".to_owned(),
        )]));
    }
    if let Some(c) = config {
        let mut seen = HashSet::new();
        let layer_bytes = doc
            .layers
            .iter()
            .filter(|l| seen.insert(l.digest.as_str()))
            .fold(0i64, |sum, l| sum.saturating_add(l.size));
        image.spec.docker_image_metadata = Some(DockerImage {
            created: c.created.clone(),
            docker_version: c.docker_version.clone(),
            author: c.author.clone(),
            config: c.config.clone(),
            architecture: c.architecture.clone(),
            os: c.os.clone(),
            size: Some(layer_bytes.saturating_add(i64::try_from(c.len).unwrap_or(i64::MAX))),
            ..metadata(&doc.config.digest)
        });
        image.spec.docker_image_metadata_version = Some(METADATA_VERSION.to_owned());
    }
    image.spec.docker_image_layers = Some(layers);
    image
}

/// The record of index (or manifest list) `digest` of `repo`, read at `now`:
/// its children and their platforms; as in OpenShift its metadata is only
/// its own digest and the time of the import.
pub fn index_record(repo: &str, digest: &str, doc: &IndexDoc, now: &str) -> Image {
    let mut image = new_record(repo, digest, &doc.media_type);
    image.spec.docker_image_manifests = Some(
        doc.manifests
            .iter()
            .map(|m| {
                let p = m.platform.clone().unwrap_or_default();
                ImageManifest {
                    digest: m.digest.clone(),
                    media_type: m.media_type.clone(),
                    manifest_size: m.size,
                    architecture: p.architecture,
                    os: p.os,
                    variant: p.variant,
                }
            })
            .collect(),
    );
    image.spec.docker_image_metadata = Some(DockerImage {
        created: Some(now.to_owned()),
        ..metadata(digest)
    });
    image.spec.docker_image_metadata_version = Some(METADATA_VERSION.to_owned());
    image
}

/// Keeps a record within [`MAX_RECORD_BYTES`]: one over it (thousands of
/// layers, or of index entries, or a config of megabytes) keeps its name,
/// reference and media type only. Says what was dropped.
pub fn fit(image: &mut Image) -> Option<String> {
    let len = serde_json::to_vec(image).map_or(usize::MAX, |b| b.len());
    if len <= MAX_RECORD_BYTES {
        return None;
    }
    image.spec.docker_image_metadata = None;
    image.spec.docker_image_metadata_version = None;
    image.spec.docker_image_layers = None;
    image.spec.docker_image_manifests = None;
    image.metadata.annotations = None;
    Some(format!(
        "the record of image {} would be {len} bytes, over the {MAX_RECORD_BYTES}-byte limit: its metadata, layers and manifests are left out",
        image.digest()
    ))
}

#[cfg(test)]
mod tests;
