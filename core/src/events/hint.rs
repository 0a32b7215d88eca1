//! What every format is read into: the hint (`HOST/REPOSITORY:TAG` was
//! pushed), the reading of one delivery, and the helpers the readers share.

use std::fmt;

use serde::de::DeserializeOwned;

use crate::reference::ImageRef;
use crate::text::clip;

/// The most events (or tags) one body may carry. Registries send one event
/// per request; the bound keeps a hostile body from queueing thousands.
pub const MAX_EVENTS: usize = 1000;

/// Longest reason quoted back in a 400 answer.
pub(super) const REASON_MAX: usize = 300;

/// "HOST/REPOSITORY:TAG was pushed": the one thing an event tells.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Hint {
    host: String,
    repository: String,
    tag: String,
}

/// Why a hint cannot be made of an event's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HintError {
    /// The host is one no image reference can name (no `.`, `:` or
    /// `localhost`): no stream follows it.
    Host(String),
    /// The repository or tag breaks the reference grammar.
    Reference(String),
}

impl Hint {
    /// A hint, checked against the reference grammar as a whole
    /// (`HOST/REPOSITORY:TAG` within its lengths), so that everything a hint
    /// holds could be written in a stream's `from.name`.
    pub fn new(host: &str, repository: &str, tag: &str) -> Result<Hint, HintError> {
        let text = format!("{host}/{repository}:{tag}");
        let parsed = ImageRef::parse(&text)
            .map_err(|e| HintError::Reference(format!("{}: {e}", clip(&text, REASON_MAX))))?;
        if parsed.registry() != Some(host) {
            return Err(HintError::Host(format!(
                "{:?} is not a registry host (a host[:port] with a '.' or ':', or localhost)",
                clip(host, REASON_MAX)
            )));
        }
        if parsed.repository() != repository || parsed.tag() != Some(tag) {
            return Err(HintError::Reference(format!(
                "{:?} is not a repository and a tag",
                clip(&text, REASON_MAX)
            )));
        }
        Ok(Hint {
            host: host.to_owned(),
            repository: repository.to_owned(),
            tag: tag.to_owned(),
        })
    }

    /// A hint from its text form `HOST/REPOSITORY:TAG` (as [`fmt::Display`] writes it).
    pub fn parse(text: &str) -> Result<Hint, HintError> {
        let parsed = ImageRef::parse(text)
            .map_err(|e| HintError::Reference(format!("{}: {e}", clip(text, REASON_MAX))))?;
        match (parsed.registry(), parsed.tag(), parsed.digest()) {
            (Some(host), Some(tag), None) => Hint::new(host, parsed.repository(), tag),
            _ => Err(HintError::Reference(format!(
                "{:?} is not HOST/REPOSITORY:TAG",
                clip(text, REASON_MAX)
            ))),
        }
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn repository(&self) -> &str {
        &self.repository
    }

    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// The same push: hosts compared ignoring case, as DNS names are.
    pub fn same(&self, other: &Hint) -> bool {
        self.host.eq_ignore_ascii_case(&other.host)
            && self.repository == other.repository
            && self.tag == other.tag
    }

    /// The hint with its host in lower case: two hints with the same key
    /// are one (DNS names ignore case).
    pub fn key(&self) -> (String, &str, &str) {
        (self.host.to_ascii_lowercase(), &self.repository, &self.tag)
    }
}

impl fmt::Display for Hint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}:{}", self.host, self.repository, self.tag)
    }
}

/// One request to the receiver, as far as reading it goes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Delivery<'a> {
    pub body: &'a [u8],
    /// The `Content-Type` header.
    pub content_type: Option<&'a str>,
    /// GitHub's `X-GitHub-Event` header.
    pub github_event: Option<&'a str>,
}

/// What one delivery says: the tags it moved, and how many of its events
/// moved none (pulls, blobs, pushes by digest, other event types).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reading {
    pub hints: Vec<Hint>,
    pub ignored: usize,
}

impl Reading {
    /// Adds a hint unless it is one already read (a multi-platform push, or
    /// a registry repeating itself), or counts an event it could not be made of.
    pub(super) fn add(&mut self, hint: Result<Hint, HintError>) -> Result<(), String> {
        match hint {
            Ok(h) if self.hints.iter().any(|o| o.same(&h)) => Ok(()),
            Ok(_) if self.hints.len() >= MAX_EVENTS => Err(format!(
                "more than {MAX_EVENTS} tags in one body; at most {MAX_EVENTS} are read"
            )),
            Ok(h) => {
                self.hints.push(h);
                Ok(())
            }
            Err(HintError::Host(_)) => {
                self.ignored += 1;
                Ok(())
            }
            Err(HintError::Reference(why)) => Err(why),
        }
    }
}

/// The body as `T`, or why it is not `what`.
pub(super) fn json<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| {
        let why = e.to_string();
        format!("not {what}: {}", clip(&why, REASON_MAX))
    })
}

/// `host` of `[scheme://]host/rest`, and `rest`.
pub(super) fn split_url(url: &str) -> Option<(&str, &str)> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .unwrap_or(url);
    rest.split_once('/').filter(|(host, _)| !host.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_hold_only_what_a_reference_can_name() {
        let h = Hint::new("Registry.Example.com:5000", "team/app", "v1.2").expect("valid");
        assert_eq!(h.to_string(), "Registry.Example.com:5000/team/app:v1.2");
        assert_eq!(Hint::parse(&h.to_string()), Ok(h.clone()));
        assert_eq!(h.key().0, "registry.example.com:5000");
        for (host, repo, tag) in [
            ("registry", "team/app", "v1"),
            ("", "team/app", "v1"),
            ("quay.io/x", "app", "v1"),
        ] {
            assert!(
                matches!(
                    Hint::new(host, repo, tag),
                    Err(HintError::Host(_) | HintError::Reference(_))
                ),
                "{host} {repo} {tag}"
            );
        }
        assert!(matches!(
            Hint::new("registry", "a", "b"),
            Err(HintError::Host(_))
        ));
        for (repo, tag) in [
            ("Team/app", "v1"),
            ("team//app", "v1"),
            ("team/app", "sha256:abc"),
            ("team/app", ""),
            ("team/app", &"t".repeat(129)),
            ("team/app", "v1@sha256:00"),
            ("team/app:x", "v1"),
        ] {
            assert!(
                matches!(
                    Hint::new("quay.io", repo, tag),
                    Err(HintError::Reference(_))
                ),
                "{repo}:{tag}"
            );
        }
        for bad in [
            "quay.io/a/b",
            "quay.io/a/b@sha256:00",
            "a/b:1",
            "quay.io/a/b:1@sha256:1",
        ] {
            assert!(Hint::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn urls_split_into_host_and_path() {
        assert_eq!(
            split_url("http://127.0.0.1:5055/v2/team/app/manifests/sha256:1"),
            Some(("127.0.0.1:5055", "v2/team/app/manifests/sha256:1"))
        );
        assert_eq!(
            split_url("hub.harbor.com/test-webhook/debian:latest"),
            Some(("hub.harbor.com", "test-webhook/debian:latest"))
        );
        assert_eq!(split_url("/v2/team/app"), None);
        assert_eq!(split_url("nohost"), None);
    }
}
