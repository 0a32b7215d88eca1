//! Looking an image up: in its registry or each search registry in turn,
//! in the tag's import mode, and a repository's tag list across pages.

use oci_client::Reference;

use imagestream_core::import::{self, Outcome, Reason, mode};
use imagestream_core::pullsecret::Keyring;
use imagestream_core::reference::ImageRef;
use imagestream_core::stream::ImportMode;

use super::registry::{Answer, Ask, Failure, Found, Registries, TAG_PAGE};
use super::settings::ImportSettings;

impl Registries {
    /// What importing `image` in `mode` gives: its digest, or why not
    /// (a registry outside `import.allowedRegistries` is `Forbidden`).
    pub async fn import(
        &self,
        image: &str,
        namespace: &str,
        keyring: &Keyring,
        insecure: bool,
        mode: ImportMode,
        settings: &ImportSettings,
    ) -> Outcome {
        if let Err(f) = self.allowed(image, settings) {
            return Outcome::Failed {
                reason: f.reason,
                message: f.message,
            };
        }
        let legacy = match mode {
            ImportMode::Legacy => {
                Some((settings.prefer_os.as_str(), settings.prefer_arch.as_str()))
            }
            ImportMode::PreserveOriginal => None,
        };
        match self
            .digest(image, namespace, keyring, insecure, legacy)
            .await
        {
            Ok(found) => Outcome::Image {
                reference: found.reference,
                digest: found.digest,
            },
            Err(f) => Outcome::Failed {
                reason: f.reason,
                message: f.message,
            },
        }
    }

    /// [`Registries::tags`], from allowed registries only.
    pub async fn list_tags(
        &self,
        image: &str,
        namespace: &str,
        keyring: &Keyring,
        insecure: bool,
        settings: &ImportSettings,
    ) -> Result<(String, Vec<String>), Failure> {
        self.allowed(image, settings)?;
        self.tags(image, namespace, keyring, insecure).await
    }

    /// Every registry `image` may come from is in `import.allowedRegistries`.
    fn allowed(&self, image: &str, settings: &ImportSettings) -> Result<(), Failure> {
        let allowed = &settings.allowed_registries;
        match self
            .hosts_of(image)?
            .into_iter()
            .find(|h| !import::registry_allowed(h, allowed))
        {
            Some(host) => Err(Failure::new(
                Reason::Forbidden,
                format!(
                    "registry {host} is not in import.allowedRegistries ({})",
                    allowed.join(", ")
                ),
            )),
            None => Ok(()),
        }
    }

    /// The registry hosts an image may be pulled from: its own, or for a
    /// name without one each of `import.searchRegistries`, in order.
    pub fn hosts_of(&self, image: &str) -> Result<Vec<String>, Failure> {
        Ok(self
            .candidates(image)?
            .into_iter()
            .map(|(r, _)| r.resolve_registry().to_owned())
            .collect())
    }

    /// Where `image` is looked up, in order: (reference, `HOST/REPOSITORY`).
    fn candidates(&self, image: &str) -> Result<Vec<(Reference, String)>, Failure> {
        let parsed = ImageRef::parse(image).map_err(|e| {
            Failure::new(
                Reason::InternalError,
                format!("{image:?} is not an image reference: {e}"),
            )
        })?;
        let registries: Vec<String> = match parsed.registry() {
            Some(r) => vec![r.to_owned()],
            None if self.search_registries().is_empty() => vec!["docker.io".to_owned()],
            None => self.search_registries().to_vec(),
        };
        Ok(registries
            .into_iter()
            .map(|registry| {
                let docker_hub = matches!(
                    registry.as_str(),
                    "docker.io" | "index.docker.io" | "registry-1.docker.io"
                );
                let repository = if docker_hub && !parsed.repository().contains('/') {
                    format!("library/{}", parsed.repository())
                } else {
                    parsed.repository().to_owned()
                };
                let repo = format!("{registry}/{repository}");
                let reference = match (parsed.digest(), parsed.tag()) {
                    (Some(d), _) => Reference::with_digest(registry, repository, d.to_owned()),
                    (None, t) => {
                        Reference::with_tag(registry, repository, t.unwrap_or("latest").to_owned())
                    }
                };
                (reference, repo)
            })
            .collect())
    }

    /// The digest `image` points at, looked up in each of its registries in
    /// turn (see [`Registries::hosts_of`]): the first that has it wins. A
    /// registry that does not have it (404, or 401/403 as Docker Hub answers
    /// for a repository that does not exist) passes to the next; any other
    /// failure ends the search, so that an image is never taken from a later
    /// registry because an earlier one was down. `legacy` is the
    /// `(os, architecture)` whose manifest an index pins (`importMode:
    /// Legacy`); `None` pins the index itself.
    pub async fn digest(
        &self,
        image: &str,
        namespace: &str,
        keyring: &Keyring,
        insecure: bool,
        legacy: Option<(&str, &str)>,
    ) -> Result<Found, Failure> {
        let candidates = self.candidates(image)?;
        let searched = candidates.len() > 1;
        let mut missed: Vec<(String, Failure)> = Vec::new();
        for (reference, repo) in candidates {
            let host = reference.registry().to_owned();
            match self
                .digest_at(&reference, &repo, namespace, keyring, insecure, legacy)
                .await
            {
                Ok(found) => return Ok(found),
                Err(f)
                    if searched
                        && !f.found
                        && matches!(
                            f.reason,
                            Reason::NotFound | Reason::Unauthorized | Reason::Forbidden
                        ) =>
                {
                    missed.push((host, f));
                }
                Err(f) => return Err(f),
            }
        }
        let reason = if missed.iter().any(|(_, f)| f.reason == Reason::NotFound) {
            Reason::NotFound
        } else {
            missed.first().map_or(Reason::NotFound, |(_, f)| f.reason)
        };
        let tried: Vec<String> = missed
            .iter()
            .map(|(host, f)| format!("{host} ({})", f.message))
            .collect();
        Err(Failure::new(
            reason,
            format!(
                "{image} was found in none of import.searchRegistries, tried in order: {}",
                tried.join("; ")
            ),
        ))
    }

    /// [`Registries::digest`] at one registry: each matching credential in
    /// turn, then anonymous (also after an authentication failure).
    /// `keyring` holds the pull secrets of `namespace`, which an error names.
    async fn digest_at(
        &self,
        reference: &Reference,
        repo: &str,
        namespace: &str,
        keyring: &Keyring,
        insecure: bool,
        legacy: Option<(&str, &str)>,
    ) -> Result<Found, Failure> {
        let ask = if legacy.is_some() {
            Ask::Manifest
        } else {
            Ask::Digest
        };
        match self
            .ask(reference, namespace, keyring, insecure, &ask)
            .await?
        {
            Answer::Digest(digest) => Ok(Found {
                reference: format!("{repo}@{digest}"),
                digest,
            }),
            Answer::Manifest(body, digest) => {
                let children = mode::index_children(&body).map_err(|e| {
                    Failure::new(Reason::InternalError, format!("{}: {e}", reference.whole()))
                })?;
                let digest = match (children, legacy) {
                    (Some(children), Some((os, arch))) => mode::legacy_child(&children, os, arch)
                        .map_err(|e| {
                            let mut f = Failure::new(
                                Reason::NotFound,
                                format!("{}: {e}", reference.whole()),
                            );
                            f.found = true;
                            f
                        })?
                        .digest
                        .clone(),
                    _ => digest,
                };
                Ok(Found {
                    reference: format!("{repo}@{digest}"),
                    digest,
                })
            }
            Answer::Tags(_) => Err(Failure::new(
                Reason::InternalError,
                "the registry client answered a tag list for a manifest",
            )),
        }
    }

    /// Every tag of the repository `image` names (its tag or digest is
    /// ignored), followed across pages, and the repository (`HOST/PATH`)
    /// they were listed in: for a name without a registry the first of
    /// `import.searchRegistries` that has it.
    pub async fn tags(
        &self,
        image: &str,
        namespace: &str,
        keyring: &Keyring,
        insecure: bool,
    ) -> Result<(String, Vec<String>), Failure> {
        let candidates = self.candidates(image)?;
        let searched = candidates.len() > 1;
        let mut missed: Vec<String> = Vec::new();
        for (reference, repo) in candidates {
            match self
                .tag_pages(&reference, namespace, keyring, insecure)
                .await
            {
                Ok(tags) => return Ok((repo, tags)),
                Err(f)
                    if searched
                        && matches!(
                            f.reason,
                            Reason::NotFound | Reason::Unauthorized | Reason::Forbidden
                        ) =>
                {
                    missed.push(format!("{} ({})", reference.registry(), f.message));
                }
                Err(f) => return Err(f),
            }
        }
        Err(Failure::new(
            Reason::NotFound,
            format!(
                "{image} was found in none of import.searchRegistries, tried in order: {}",
                missed.join("; ")
            ),
        ))
    }

    async fn tag_pages(
        &self,
        reference: &Reference,
        namespace: &str,
        keyring: &Keyring,
        insecure: bool,
    ) -> Result<Vec<String>, Failure> {
        let max = imagestream_core::import::bulk::MAX_LISTED_TAGS;
        let mut all: Vec<String> = Vec::new();
        let mut last: Option<String> = None;
        // Bounded: every page adds tags or ends the loop, and `max` ends it.
        loop {
            let ask = Ask::Tags {
                n: TAG_PAGE,
                last: last.clone(),
            };
            let page = match self
                .ask(reference, namespace, keyring, insecure, &ask)
                .await?
            {
                Answer::Tags(page) => page,
                _ => {
                    return Err(Failure::new(
                        Reason::InternalError,
                        "the registry client answered a manifest for a tag list",
                    ));
                }
            };
            let next = page.last().cloned();
            all.extend(page);
            if all.len() > max {
                return Err(Failure::new(
                    Reason::InternalError,
                    format!(
                        "{}: the repository lists more than {max} tags; import the ones you need by name",
                        reference.whole()
                    ),
                ));
            }
            // The next page starts after this one's last tag (tag lists are
            // in lexical order), until a page is empty or does not move on:
            // a registry may answer fewer than `n` tags a page (Docker Hub
            // caps it), or ignore `n` and `last` and repeat the whole list.
            match (next, &last) {
                (None, _) => return Ok(all),
                (Some(n), Some(l)) if n <= *l => return Ok(all),
                (next, _) => last = next,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::importer::registry::RegistryConfig;

    impl Registries {
        fn reference(&self, image: &str) -> Result<(Reference, String), Failure> {
            Ok(self.candidates(image)?.remove(0))
        }
    }

    #[test]
    fn short_docker_hub_names_get_library() {
        let r = Registries::new(RegistryConfig::default());
        let (reference, repo) = r.reference("nginx:1.27").expect("parses");
        assert_eq!(repo, "docker.io/library/nginx");
        assert_eq!(reference.tag(), Some("1.27"));
        let (_, repo) = r.reference("quay.io/x/app@sha256:1111111111111111111111111111111111111111111111111111111111111111").expect("parses");
        assert_eq!(repo, "quay.io/x/app");
        let (reference, repo) = r.reference("localhost:5000/team/app").expect("parses");
        assert_eq!(
            (repo.as_str(), reference.tag()),
            ("localhost:5000/team/app", Some("latest"))
        );
        assert!(r.reference("Not A Ref").is_err());
    }
}
