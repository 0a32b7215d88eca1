//! Reading what an imported image is, for its Image record: its manifest,
//! then its config (or, for an index, the child for the preferred platform
//! and that child's config), with the credentials and transports the digest
//! lookup uses. Registry answers are hostile: a manifest over
//! [`MAX_MANIFEST_BYTES`] is refused, a config is read only when its
//! descriptor says it fits [`MAX_CONFIG_BYTES`] and reading stops past it,
//! every request holds a permit of the shared limit and has the timeout.

use std::pin::Pin;
use std::task::{Context, Poll};

use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use imagestream_core::image::{Image, Platform};
use imagestream_core::import::metadata::{
    self, ImageConfig, ImageDoc, MANIFEST_TYPES, MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES, Manifest,
};
use imagestream_core::import::{Reason, Source};
use imagestream_core::pullsecret::{Credential, Keyring};
use imagestream_core::reference::ImageRef;

use super::registry::{Failure, Registries, Transport};
use crate::store::images::ImageStore;

/// The records made of one image, and what was left out of them and why.
#[derive(Debug, Default)]
pub struct Records {
    /// The image's own record first; for an index, then the chosen child's.
    pub images: Vec<Image>,
    pub warnings: Vec<String>,
}

/// What one attempt speaks with.
struct Session<'a> {
    client: std::sync::Arc<Client>,
    auth: RegistryAuth,
    cred: Option<&'a Credential>,
}

impl Registries {
    /// The records of `found`, the `REPO@DIGEST` an import found (its
    /// registry and repository as looked up): each matching credential of
    /// `keyring` in turn, then anonymous.
    pub async fn read_records(
        &self,
        found: &str,
        keyring: &Keyring,
        insecure: bool,
        prefer: &Platform,
        now: &str,
    ) -> Result<Records, Failure> {
        let parsed = ImageRef::parse(found).map_err(|e| {
            Failure::new(
                Reason::InternalError,
                format!("{found:?} is not an image reference: {e}"),
            )
        })?;
        let (Some(host), Some(digest)) = (parsed.registry(), parsed.digest()) else {
            return Err(Failure::new(
                Reason::InternalError,
                format!("{found:?} names no registry and digest"),
            ));
        };
        let host = host.to_owned();
        let repo = format!("{host}/{}", parsed.repository());
        let reference = Reference::with_digest(
            host.clone(),
            parsed.repository().to_owned(),
            digest.to_owned(),
        );
        let creds = keyring.lookup(&host, reference.repository());
        let attempts = creds.iter().map(Some).chain([None]);
        let transports: &[Transport] = if insecure {
            &[Transport::Unverified, Transport::PlainHttp]
        } else {
            &[Transport::Verified]
        };
        let mut first_auth_failure = None;
        'creds: for cred in attempts {
            for &transport in transports {
                let session = Session {
                    client: self.client(&host, cred, transport)?,
                    auth: match cred {
                        Some(c) => RegistryAuth::Basic(c.username.clone(), c.password.clone()),
                        None => RegistryAuth::Anonymous,
                    },
                    cred,
                };
                match self
                    .read_with(&session, &reference, &repo, digest, prefer, now)
                    .await
                {
                    Ok(records) => return Ok(records),
                    // An insecure tag's registry may answer in plain HTTP: the next transport.
                    Err(f) if f.plain_http && transport == Transport::Unverified => continue,
                    Err(f) if matches!(f.reason, Reason::Unauthorized | Reason::Forbidden) => {
                        first_auth_failure.get_or_insert(f);
                        continue 'creds;
                    }
                    Err(f) => return Err(f),
                }
            }
        }
        Err(first_auth_failure.unwrap_or_else(|| {
            Failure::new(
                Reason::InternalError,
                format!("no answer from registry {host}"),
            )
        }))
    }

    async fn read_with(
        &self,
        s: &Session<'_>,
        reference: &Reference,
        repo: &str,
        digest: &str,
        prefer: &Platform,
        now: &str,
    ) -> Result<Records, Failure> {
        let mut out = Records::default();
        match self.manifest(s, reference).await? {
            Manifest::Image(doc) => {
                let config = self.config(s, reference, &doc, &mut out.warnings).await?;
                out.images
                    .push(metadata::image_record(repo, digest, &doc, config.as_ref()));
            }
            Manifest::Index(index) => {
                out.images
                    .push(metadata::index_record(repo, digest, &index, now));
                if let Some(child) = index.child(prefer) {
                    let child_ref = Reference::with_digest(
                        reference.registry().to_owned(),
                        reference.repository().to_owned(),
                        child.digest.clone(),
                    );
                    match self.manifest(s, &child_ref).await? {
                        Manifest::Image(doc) => {
                            let config =
                                self.config(s, &child_ref, &doc, &mut out.warnings).await?;
                            out.images.push(metadata::image_record(
                                repo,
                                &child.digest,
                                &doc,
                                config.as_ref(),
                            ));
                        }
                        Manifest::Index(_) => out.warnings.push(format!(
                            "{}: the index entry {} for {} is itself an index; its config is not read",
                            reference.whole(),
                            child.digest,
                            child.platform.clone().unwrap_or_default()
                        )),
                    }
                }
            }
        }
        for image in &mut out.images {
            if let Some(why) = metadata::fit(image) {
                out.warnings.push(why);
            }
        }
        Ok(out)
    }

    /// The manifest `reference` (by digest) names; the client checks its digest.
    async fn manifest(&self, s: &Session<'_>, reference: &Reference) -> Result<Manifest, Failure> {
        let (bytes, _) = self
            .limited(reference.registry(), reference, s.cred, async {
                s.client
                    .pull_manifest_raw(reference, &s.auth, &MANIFEST_TYPES)
                    .await
            })
            .await?;
        let what = reference.whole();
        if bytes.len() as u64 > MAX_MANIFEST_BYTES {
            return Err(Failure::new(
                Reason::InternalError,
                format!(
                    "{what}: the manifest is {} bytes, over the {MAX_MANIFEST_BYTES}-byte limit",
                    bytes.len()
                ),
            ));
        }
        metadata::parse_manifest(&bytes, None)
            .map_err(|e| Failure::new(Reason::InternalError, format!("{what}: {e}")))
    }

    /// The image's config, or `None` with a warning when it is too large or not a config.
    async fn config(
        &self,
        s: &Session<'_>,
        reference: &Reference,
        doc: &ImageDoc,
        warnings: &mut Vec<String>,
    ) -> Result<Option<ImageConfig>, Failure> {
        let what = reference.whole();
        let too_large = || {
            format!(
                "{what}: the config blob {} is over the {MAX_CONFIG_BYTES}-byte limit; the image's metadata is left out",
                doc.config.digest
            )
        };
        if doc.config.size as u64 > MAX_CONFIG_BYTES {
            warnings.push(too_large());
            return Ok(None);
        }
        let mut sink = Capped::default();
        let read = self
            .limited(reference.registry(), reference, s.cred, async {
                s.client
                    .pull_blob(reference, doc.config.digest.as_str(), &mut sink)
                    .await
            })
            .await;
        if sink.overflowed {
            warnings.push(too_large());
            return Ok(None);
        }
        read?;
        match metadata::parse_config(&sink.bytes) {
            Ok(config) => Ok(Some(config)),
            Err(e) => {
                warnings.push(format!("{what}: {e}; the image's metadata is left out"));
                Ok(None)
            }
        }
    }
}

/// Writes Image records: where, and the platform whose config is read for an index.
pub struct Recorder {
    store: ImageStore,
    prefer: Platform,
    /// Digests being recorded now: the many tags a batch imports at once
    /// often share one new image, and only the first reads it.
    in_flight: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl Recorder {
    pub fn new(store: ImageStore, prefer: Platform) -> Recorder {
        Recorder {
            store,
            prefer,
            in_flight: Default::default(),
        }
    }

    /// Writes the Image records of `digest`, imported from `source`, when
    /// it has none: a digest with a record is not read again. What cannot be
    /// read is a warning, never a failed import (admission needs the digest
    /// only). `None` records nothing.
    /// `found` is the `REPO@DIGEST` the import found.
    pub(super) async fn record(
        recorder: Option<&Recorder>,
        (registries, keyring, source): (&Registries, &Keyring, &Source),
        found: &str,
        digest: &str,
    ) {
        let Some(r) = recorder else { return };
        let Some(_claim) = Claim::take(&r.in_flight, digest) else {
            return;
        };
        r.write(registries, keyring, source, found, digest).await;
    }

    async fn write(
        &self,
        registries: &Registries,
        keyring: &Keyring,
        source: &Source,
        found: &str,
        digest: &str,
    ) {
        let (store, prefer) = (&self.store, &self.prefer);
        let now = format!("{:.0}", jiff::Timestamp::now());
        let Source::Registry {
            image, insecure, ..
        } = source
        else {
            return;
        };
        match store.contains(digest).await {
            Ok(true) => return,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(%image, %digest, error = %e, "cannot look up the image record; metadata not recorded");
                return;
            }
        }
        let read = registries
            .read_records(found, keyring, *insecure, prefer, &now)
            .await;
        let records = match read {
            Ok(r) => r,
            Err(f) => {
                tracing::warn!(%image, %digest, error = %f.message, "cannot read the image's manifest and config; metadata not recorded");
                return;
            }
        };
        for w in &records.warnings {
            tracing::warn!(%image, %digest, warning = %w, "image metadata left out");
        }
        // The index's own record last: once it exists, the import is not read again.
        for record in records.images.iter().rev() {
            if let Err(e) = store.create(record).await {
                tracing::warn!(%image, digest = %record.digest(), error = %e, "cannot write the image record");
                return;
            }
        }
    }
}

/// A buffer that refuses to grow past [`MAX_CONFIG_BYTES`]: the blob
/// download stops at the first write over it.
#[derive(Default)]
struct Capped {
    bytes: Vec<u8>,
    overflowed: bool,
}

impl tokio::io::AsyncWrite for Capped {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if (self.bytes.len() + buf.len()) as u64 > MAX_CONFIG_BYTES {
            self.overflowed = true;
            return Poll::Ready(Err(std::io::Error::other("config blob over the limit")));
        }
        self.bytes.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A digest in [`Recorder`]'s in-flight set, released when dropped (also
/// when the import that records it is cancelled).
struct Claim<'a> {
    set: &'a std::sync::Mutex<std::collections::HashSet<String>>,
    digest: String,
}

impl<'a> Claim<'a> {
    fn take(
        set: &'a std::sync::Mutex<std::collections::HashSet<String>>,
        digest: &str,
    ) -> Option<Claim<'a>> {
        let fresh = set
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(digest.to_owned());
        fresh.then(|| Claim {
            set,
            digest: digest.to_owned(),
        })
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.set
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.digest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt as _;

    #[tokio::test]
    async fn the_config_buffer_stops_at_the_limit() {
        let mut sink = Capped::default();
        sink.write_all(&[b'x'; 1024]).await.expect("fits");
        let big = vec![b'x'; MAX_CONFIG_BYTES as usize];
        assert!(sink.write_all(&big).await.is_err());
        assert!(sink.overflowed);
        assert_eq!(sink.bytes.len(), 1024, "nothing past the limit is kept");
    }
}
