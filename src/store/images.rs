//! Where Image records (`image.openshift.io/v1` `Image`, one per digest) are
//! kept: the cluster (cluster-scoped objects), or a hidden `.images` folder of
//! the streams directory, one JSON file per digest. The directory loader skips
//! hidden entries, so admission never reads, holds or polls these files.

use std::path::{Path, PathBuf};

use kube::api::{Api, ListParams, PostParams};

use imagestream_core::image::Image;
use imagestream_core::import::metadata::MAX_RECORD_BYTES;
use imagestream_core::reference::is_sha256_digest;

/// The folder of `--streams-dir` that holds the records.
pub const DIR_NAME: &str = ".images";
/// Records a directory listing reads at most (`images` prints them all).
const MAX_LISTED: usize = 100_000;

#[derive(Clone)]
pub enum ImageStore {
    /// `<streams-dir>/.images`.
    Dir(PathBuf),
    Api(kube::Client),
}

impl ImageStore {
    /// The records of the streams directory `streams_dir`.
    pub fn directory(streams_dir: &Path) -> ImageStore {
        ImageStore::Dir(streams_dir.join(DIR_NAME))
    }

    /// The record of `digest`, if there is one.
    pub async fn get(&self, digest: &str) -> Result<Option<Image>, String> {
        check(digest)?;
        match self {
            ImageStore::Api(client) => Api::<Image>::all(client.clone())
                .get_opt(digest)
                .await
                .map_err(|e| api_error(e, digest)),
            ImageStore::Dir(dir) => {
                let path = file_of(dir, digest);
                blocking(move || read_record(&path)).await
            }
        }
    }

    /// Whether `digest` has a record (its image needs no reading).
    pub async fn contains(&self, digest: &str) -> Result<bool, String> {
        check(digest)?;
        match self {
            ImageStore::Api(_) => Ok(self.get(digest).await?.is_some()),
            ImageStore::Dir(dir) => Ok(file_of(dir, digest).exists()),
        }
    }

    /// Writes a new record. Records never change (a digest names one
    /// image), so one that exists already is left as it is.
    pub async fn create(&self, image: &Image) -> Result<(), String> {
        let digest = image.digest().to_owned();
        check(&digest)?;
        match self {
            ImageStore::Api(client) => {
                match Api::<Image>::all(client.clone())
                    .create(&PostParams::default(), image)
                    .await
                {
                    Ok(_) => Ok(()),
                    Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
                    Err(e) => Err(api_error(e, &digest)),
                }
            }
            ImageStore::Dir(dir) => {
                // As the API server would: `describe` shows the record's age.
                let mut image = image.clone();
                image.metadata.creation_timestamp.get_or_insert_with(|| {
                    k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now())
                });
                let bytes = serde_json::to_vec_pretty(&image).map_err(|e| e.to_string())?;
                let (dir, path) = (dir.clone(), file_of(dir, &digest));
                blocking(move || {
                    std::fs::create_dir_all(&dir)
                        .and_then(|()| crate::store::directory::atomic::write_atomic(&path, &bytes))
                        .map_err(|e| format!("cannot write {}: {e}", path.display()))
                })
                .await
            }
        }
    }

    /// Every record, ordered by name; records that cannot be read are
    /// named in the second list.
    pub async fn list(&self) -> Result<(Vec<Image>, Vec<String>), String> {
        match self {
            ImageStore::Api(client) => {
                let list = Api::<Image>::all(client.clone())
                    .list(&ListParams::default())
                    .await
                    .map_err(|e| api_error(e, "list"))?;
                let mut items = list.items;
                items.sort_by(|a, b| a.digest().cmp(b.digest()));
                Ok((items, Vec::new()))
            }
            ImageStore::Dir(dir) => {
                let dir = dir.clone();
                blocking(move || list_dir(&dir)).await
            }
        }
    }
}

fn check(digest: &str) -> Result<(), String> {
    if is_sha256_digest(digest) {
        Ok(())
    } else {
        Err(format!(
            "{:?} is not an image name: images are named sha256: and 64 hex digits",
            imagestream_core::text::clip(digest, 80)
        ))
    }
}

/// `sha256-<hex>.json`: the digest is checked first, so it is a plain file name.
fn file_of(dir: &Path, digest: &str) -> PathBuf {
    dir.join(format!("{}.json", digest.replacen(':', "-", 1)))
}

/// Records are written by this program, but the folder is the user's:
/// read within bounds, as stream files are.
fn read_record(path: &Path) -> Result<Option<Image>, String> {
    let limit = 2 * MAX_RECORD_BYTES as u64;
    match crate::store::directory::listing::read_limited(path, limit) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("image record {} is not an Image: {e}", path.display())),
        Err(crate::store::directory::listing::ReadError::Io(e))
            if e.kind() == std::io::ErrorKind::NotFound =>
        {
            Ok(None)
        }
        Err(e) => Err(format!("image record {} {e}", path.display())),
    }
}

fn list_dir(dir: &Path) -> Result<(Vec<Image>, Vec<String>), String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Default::default()),
        Err(e) => return Err(format!("cannot read {}: {e}", dir.display())),
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| {
            n.strip_prefix("sha256-")
                .and_then(|n| n.strip_suffix(".json"))
                .is_some_and(|hex| is_sha256_digest(&format!("sha256:{hex}")))
        })
        .take(MAX_LISTED + 1)
        .collect();
    if names.len() > MAX_LISTED {
        return Err(format!(
            "{} holds more than {MAX_LISTED} image records",
            dir.display()
        ));
    }
    names.sort();
    let mut images = Vec::new();
    let mut unreadable = Vec::new();
    for name in names {
        match read_record(&dir.join(&name)) {
            Ok(Some(image)) => images.push(image),
            Ok(None) => {}
            Err(e) => unreadable.push(e),
        }
    }
    Ok((images, unreadable))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    crate::background::run("image-records", f)
        .await
        .ok_or_else(|| "the image record reader failed".to_owned())?
}

fn api_error(e: kube::Error, what: &str) -> String {
    match e {
        kube::Error::Api(s)
            if s.code == 404
                && s.message
                    .contains("the server could not find the requested resource") =>
        {
            "the Image CustomResourceDefinition (images.image.openshift.io) is not installed: kubectl apply -f manifests/crd.yaml".to_owned()
        }
        kube::Error::Api(s) if s.code == 403 => format!(
            "image {what}: forbidden ({}); the imagestream-webhook ClusterRole grants get and create on images.image.openshift.io (manifests/rbac.yaml)",
            s.message
        ),
        other => format!("image {what}: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use imagestream_core::image::ImageFields;

    const D: &str = "sha256:4f1d0000000000000000000000000000000000000000000000000000000000aa";

    #[tokio::test]
    async fn directory_records_round_trip_and_stay_hidden() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ImageStore::directory(dir.path());
        assert!(!store.contains(D).await.expect("contains"));
        let image = Image::new(
            D,
            ImageFields {
                docker_image_reference: Some(format!("quay.io/a/b@{D}")),
                ..ImageFields::default()
            },
        );
        store.create(&image).await.expect("create");
        assert!(store.contains(D).await.expect("contains"));
        let stored = store.get(D).await.expect("get").expect("stored");
        assert!(stored.metadata.creation_timestamp.is_some());
        let mut image = image;
        image.metadata.creation_timestamp = stored.metadata.creation_timestamp.clone();
        assert_eq!(stored, image);
        std::fs::write(
            dir.path()
                .join(DIR_NAME)
                .join(format!("sha256-{}.json", "b".repeat(64))),
            "not json",
        )
        .expect("write");
        let (all, bad) = store.list().await.expect("list");
        assert_eq!(all, vec![image]);
        assert_eq!(bad.len(), 1, "{bad:?}");
        // A name that is not a digest never becomes a path.
        assert!(store.get("sha256:../../etc/passwd").await.is_err());
        assert!(store.contains("../x").await.is_err());
    }
}
