//! Registry push events: the bodies five kinds of registry send when an image
//! is pushed, read into hints ("HOST/REPOSITORY:TAG was pushed"), and the
//! matching of hints to the spec tags that follow them ([`matching`]).
//!
//! An event is only a hint. The importer reads the tag's digest from the
//! registry itself, as on its schedule, so a forged, stale, repeated or
//! reordered event costs at most one import, and no digest from a body ever
//! reaches a status. Only pushes of a tag are hints: pulls (which the
//! importer's own reads cause), blobs, mounts, deletes and pushes by digest
//! move no tag and are ignored, so an import never causes another one.

pub mod auth;
mod distribution;
mod dockerhub;
mod github;
mod harbor;
mod hint;
pub mod matching;
mod quay;

pub use hint::{Delivery, Hint, HintError, MAX_EVENTS, Reading};

/// The largest body read: a distribution event with references is about
/// 1.5 KB, a GitHub `package` delivery a few KB.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// The registries whose events are read, one path each
/// (`/events/<name>`): the parser is chosen by the path, never guessed
/// from the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// The reference registry (distribution) and GitLab's, which forked it.
    Distribution,
    Harbor,
    Quay,
    DockerHub,
    /// GitHub's container registry, through the `package` webhook.
    GitHub,
}

impl Format {
    pub const ALL: [Format; 5] = [
        Format::Distribution,
        Format::Harbor,
        Format::Quay,
        Format::DockerHub,
        Format::GitHub,
    ];

    /// The last segment of the format's path.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Distribution => "distribution",
            Format::Harbor => "harbor",
            Format::Quay => "quay",
            Format::DockerHub => "dockerhub",
            Format::GitHub => "github",
        }
    }

    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.as_str() == name)
    }

    /// GitHub signs each delivery with the token (`X-Hub-Signature-256`);
    /// the others present the token itself.
    pub fn signed(self) -> bool {
        self == Format::GitHub
    }
}

/// Reads a delivery in `format`. The error is the reason for a 400: the
/// body is not that format, or a field an import would need is malformed.
pub fn read(format: Format, delivery: &Delivery<'_>) -> Result<Reading, String> {
    if delivery.body.len() > MAX_BODY_BYTES {
        return Err(format!("body larger than {MAX_BODY_BYTES} bytes"));
    }
    let reading = match format {
        Format::Distribution => distribution::read(delivery.body),
        Format::Harbor => harbor::read(delivery.body),
        Format::Quay => quay::read(delivery.body),
        Format::DockerHub => dockerhub::read(delivery.body),
        Format::GitHub => github::read(delivery),
    }?;
    if reading.hints.len() + reading.ignored > MAX_EVENTS {
        return Err(format!(
            "{} events in one body; at most {MAX_EVENTS} are read",
            reading.hints.len() + reading.ignored
        ));
    }
    Ok(reading)
}

/// A payload a registry really sent (`testdata/`), for the readers' tests.
#[cfg(test)]
pub(crate) fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/src/events/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_named_by_their_path() {
        for f in Format::ALL {
            assert_eq!(Format::from_name(f.as_str()), Some(f));
        }
        assert_eq!(Format::from_name("Quay"), None);
        assert_eq!(Format::from_name(""), None);
        assert!(Format::GitHub.signed() && !Format::Quay.signed());
    }
}
