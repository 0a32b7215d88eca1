//! `importPolicy.importMode`: which digest a tag pins when its image is an
//! index (an OCI image index or a Docker manifest list).
//!
//! `PreserveOriginal` pins the index itself. `Legacy` pins the one manifest
//! of the configured platform, as OpenShift's Legacy mode records it; unlike
//! OpenShift (which then falls back to linux/amd64 and then to the first
//! entry), a missing platform fails the import, so a cluster never runs an
//! image built for another platform without anyone being told.

use serde::Deserialize;

use crate::reference::is_sha256_digest;
use crate::stream::{ImportMode, TagReference};

/// The largest manifest read for its list of platforms: distribution's own
/// limit for a manifest it accepts.
pub const MAX_MANIFEST_BYTES: usize = 4 << 20;
/// Entries of an index read; a real one has a few dozen at most.
pub const MAX_INDEX_ENTRIES: usize = 4096;
/// Platforms named in the message of a missing one; the rest are counted.
const PLATFORMS_LISTED: usize = 20;

/// The tag's import mode: its own, else `import.defaultImportMode`.
pub fn mode_of(tag: &TagReference, default: ImportMode) -> ImportMode {
    tag.import_policy
        .as_ref()
        .and_then(|p| p.import_mode)
        .unwrap_or(default)
}

/// One entry of an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Child {
    pub digest: String,
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Child {
    fn platform(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}/{v}", self.os, self.architecture),
            None => format!("{}/{}", self.os, self.architecture),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    media_type: Option<String>,
    manifests: Option<Vec<Entry>>,
}

#[derive(Deserialize)]
struct Entry {
    digest: Option<String>,
    platform: Option<Platform>,
}

#[derive(Deserialize)]
struct Platform {
    os: Option<String>,
    architecture: Option<String>,
    variant: Option<String>,
}

const INDEX_TYPES: [&str; 2] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// The entries of `body` when it is an index, `None` when it is a single
/// image's manifest. A registry's answer is hostile: its size, entry count
/// and digests are checked, and every problem is an error that says what.
pub fn index_children(body: &[u8]) -> Result<Option<Vec<Child>>, String> {
    if body.len() > MAX_MANIFEST_BYTES {
        return Err(format!(
            "the manifest is {} bytes, more than the {MAX_MANIFEST_BYTES} read",
            body.len()
        ));
    }
    let m: Manifest =
        serde_json::from_slice(body).map_err(|e| format!("the manifest is not JSON: {e}"))?;
    let is_index = match m.media_type.as_deref() {
        Some(t) => INDEX_TYPES.contains(&t),
        // OCI allows an index without mediaType: its `manifests` says so.
        None => m.manifests.is_some(),
    };
    if !is_index {
        return Ok(None);
    }
    let entries = m.manifests.unwrap_or_default();
    if entries.len() > MAX_INDEX_ENTRIES {
        return Err(format!(
            "the index has {} entries, more than the {MAX_INDEX_ENTRIES} read",
            entries.len()
        ));
    }
    let mut out = Vec::with_capacity(entries.len());
    for (i, e) in entries.into_iter().enumerate() {
        let digest = e.digest.unwrap_or_default();
        if !is_sha256_digest(&digest) {
            return Err(format!(
                "entry {i} of the index has no sha256 digest ({:?})",
                crate::text::clip(&digest, 80)
            ));
        }
        let p = e.platform.unwrap_or(Platform {
            os: None,
            architecture: None,
            variant: None,
        });
        out.push(Child {
            digest,
            os: p.os.unwrap_or_else(|| "unknown".into()),
            architecture: p.architecture.unwrap_or_else(|| "unknown".into()),
            variant: p.variant.filter(|v| !v.is_empty()),
        });
    }
    Ok(Some(out))
}

/// The manifest Legacy mode pins: the first entry of `os`/`architecture`
/// (the variant is not compared, as in OpenShift). None there fails, with
/// the platforms the index has.
pub fn legacy_child<'c>(children: &'c [Child], os: &str, arch: &str) -> Result<&'c Child, String> {
    if let Some(c) = children
        .iter()
        .find(|c| c.os == os && c.architecture == arch)
    {
        return Ok(c);
    }
    let mut present: Vec<String> = Vec::new();
    for c in children {
        let p = c.platform();
        if !present.contains(&p) {
            present.push(p);
        }
    }
    let listed = if present.is_empty() {
        "it lists no manifests".to_owned()
    } else {
        let more = present.len().saturating_sub(PLATFORMS_LISTED);
        present.truncate(PLATFORMS_LISTED);
        let mut s = format!("it has {}", present.join(", "));
        if more > 0 {
            s.push_str(&format!(" and {more} more"));
        }
        s
    };
    Err(format!(
        "the image index has no {os}/{arch} manifest ({listed}); importMode Legacy pins the manifest of import.preferOS/import.preferArch: set those to a platform the index has, or set importPolicy.importMode: PreserveOriginal (--import-mode PreserveOriginal) to pin the whole index"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: u8) -> String {
        format!("sha256:{}", (n as char).to_string().repeat(64))
    }

    fn index(entries: &[(&str, &str, Option<&str>)]) -> Vec<u8> {
        let manifests: Vec<serde_json::Value> = entries
            .iter()
            .enumerate()
            .map(|(i, (os, arch, variant))| {
                let mut p = serde_json::json!({"os": os, "architecture": arch});
                if let Some(v) = variant {
                    p["variant"] = (*v).into();
                }
                serde_json::json!({"digest": format!("sha256:{i:064x}"), "size": 1, "platform": p})
            })
            .collect();
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": INDEX_TYPES[0],
            "manifests": manifests,
        }))
        .expect("json")
    }

    #[test]
    fn legacy_pins_the_first_entry_of_the_platform_and_fails_without_it() {
        let body = index(&[
            ("linux", "arm", Some("v6")),
            ("linux", "arm", Some("v7")),
            ("linux", "amd64", None),
            ("unknown", "unknown", None),
        ]);
        let children = index_children(&body).expect("parses").expect("an index");
        assert_eq!(children.len(), 4);
        assert_eq!(
            legacy_child(&children, "linux", "amd64").map(|c| c.digest.clone()),
            Ok(format!("sha256:{:064x}", 2))
        );
        // The variant is not compared: the first arm entry wins.
        assert_eq!(
            legacy_child(&children, "linux", "arm").map(|c| c.digest.clone()),
            Ok(format!("sha256:{:064x}", 0))
        );
        let why = legacy_child(&children, "linux", "s390x").expect_err("missing");
        assert!(
            why.contains("no linux/s390x manifest (it has linux/arm/v6, linux/arm/v7, linux/amd64, unknown/unknown)"),
            "{why}"
        );
        assert!(why.contains("PreserveOriginal"), "{why}");
    }

    #[test]
    fn single_manifests_and_hostile_answers() {
        let single = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[]}"#;
        assert_eq!(index_children(single), Ok(None));
        // An OCI index may leave out its mediaType.
        let bare = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"digest":"{}"}}]}}"#,
            d(b'1')
        );
        let children = index_children(bare.as_bytes())
            .expect("parses")
            .expect("index");
        assert_eq!(children[0].os, "unknown");
        for bad in [
            b"not json".to_vec(),
            br#"{"manifests":[{"digest":"md5:x"}]}"#.to_vec(),
            vec![b' '; MAX_MANIFEST_BYTES + 1],
        ] {
            assert!(index_children(&bad).is_err());
        }
        let many: Vec<_> = (0..=MAX_INDEX_ENTRIES)
            .map(|_| ("linux", "amd64", None))
            .collect();
        assert!(index_children(&index(&many)).is_err());
        let why = legacy_child(&[], "linux", "amd64").expect_err("empty");
        assert!(why.contains("lists no manifests"), "{why}");
    }
}
