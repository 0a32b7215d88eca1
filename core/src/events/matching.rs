//! Which spec tags a push moves: those whose `from` names the hint's
//! registry, repository and tag, compared as references are compared (host
//! case, default port and address spellings, Docker Hub's names), with the
//! event's host also standing for the names `events.registryHosts` gives it.

use std::collections::BTreeMap;

use super::hint::Hint;
use crate::import::{self, Source};
use crate::reference::ImageRef;
use crate::reference::host::hosts_equal;
use crate::stream::snapshot::Snapshot;

/// The names Docker Hub answers to; one of them in an event is any of them.
const DOCKER_HUB: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];

fn is_docker_hub(host: &str) -> bool {
    DOCKER_HUB.iter().any(|h| hosts_equal(h, host))
}

/// One hint, ready to compare: every host it stands for.
#[derive(Debug)]
struct Pushed {
    hosts: Vec<String>,
    repository: String,
    tag: String,
}

/// The hints of a planning pass, to test spec tags against.
#[derive(Debug)]
pub struct Matcher {
    pushed: Vec<Pushed>,
    /// Where a name with no registry is pulled from (`import.searchRegistries[0]`).
    search_registry: String,
}

impl Matcher {
    /// `registry_hosts` is `events.registryHosts`: an event host (key) and
    /// the names streams know that registry by (values).
    pub fn new(
        hints: &[Hint],
        registry_hosts: &BTreeMap<String, Vec<String>>,
        search_registries: &[String],
    ) -> Matcher {
        let pushed = hints
            .iter()
            .map(|h| {
                let mut hosts = vec![h.host().to_owned()];
                for (event_host, names) in registry_hosts {
                    if hosts_equal(event_host, h.host()) {
                        hosts.extend(names.iter().cloned());
                    }
                }
                let repository = hub_repository(&hosts, h.repository());
                Pushed {
                    hosts,
                    repository,
                    tag: h.tag().to_owned(),
                }
            })
            .collect();
        Matcher {
            pushed,
            search_registry: search_registries
                .first()
                .cloned()
                .unwrap_or_else(|| DOCKER_HUB[0].to_owned()),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.pushed.is_empty()
    }

    /// The index (in the hints given to [`Matcher::new`]) of a hint that
    /// moves the tag of `image`, a `from.name` of kind `DockerImage`. A
    /// reference by digest follows no tag and is moved by none.
    pub fn moved_by(&self, image: &str) -> Option<usize> {
        if self.pushed.is_empty() {
            return None;
        }
        let r = ImageRef::parse(image).ok()?;
        if r.digest().is_some() {
            return None;
        }
        let host = r.registry().unwrap_or(&self.search_registry);
        let hub = is_docker_hub(host);
        let repository = r.repository();
        let tag = r.tag().unwrap_or("latest");
        self.pushed.iter().position(|p| {
            p.tag == tag
                && repository_equal(&p.repository, repository, hub)
                && p.hosts
                    .iter()
                    .any(|h| hosts_equal(h, host) || (hub && is_docker_hub(h)))
        })
    }
}

/// The spec tags of one stream that a push moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    pub namespace: String,
    pub name: String,
    pub tags: Vec<String>,
    /// The first hint (by its index) that moved one of the tags: the
    /// earliest to arrive, when hints are kept in their order of arrival.
    pub first_hint: usize,
}

/// Every spec tag in `snap` that follows a pushed tag: kind `DockerImage`,
/// by tag (a pin by digest follows nothing), not a reference-only tag (those
/// are never imported). Streams in the snapshot's order.
pub fn moved(snap: &Snapshot, matcher: &Matcher) -> Vec<Moved> {
    if matcher.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for entry in snap.streams() {
        // Only the spec's DockerImage tags are planned below, so a stream
        // with none costs nothing but this look.
        let mut tags = Vec::new();
        let mut first_hint = usize::MAX;
        for plan in import::plans(&entry.head).into_iter().flatten() {
            if let Source::Registry {
                image,
                pinned: false,
                ..
            } = &plan.source
                && let Some(hint) = matcher.moved_by(image)
            {
                first_hint = first_hint.min(hint);
                tags.push(plan.tag);
            }
        }
        if !tags.is_empty() {
            out.push(Moved {
                namespace: entry.namespace.to_string(),
                name: entry.name.to_string(),
                tags,
                first_hint,
            });
        }
    }
    out
}

/// A Docker Hub repository with its implicit `library/`.
fn hub_repository(hosts: &[String], repository: &str) -> String {
    if hosts.iter().any(|h| is_docker_hub(h)) && !repository.contains('/') {
        format!("library/{repository}")
    } else {
        repository.to_owned()
    }
}

fn repository_equal(pushed: &str, followed: &str, hub: bool) -> bool {
    pushed == followed
        || (hub && !followed.contains('/') && pushed.strip_prefix("library/") == Some(followed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hint(text: &str) -> Hint {
        Hint::parse(text).expect("hint")
    }

    fn matcher(hints: &[&str], hosts: &[(&str, &[&str])]) -> Matcher {
        let hints: Vec<Hint> = hints.iter().map(|h| hint(h)).collect();
        let map = hosts
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.iter().map(|s| (*s).to_owned()).collect()))
            .collect();
        Matcher::new(&hints, &map, &["docker.io".to_owned()])
    }

    #[test]
    fn the_tag_pushed_is_the_tag_followed() {
        let m = matcher(&["registry.example.com:5000/team/app:v1"], &[]);
        let moved = [
            "registry.example.com:5000/team/app:v1",
            "Registry.Example.COM:5000/team/app:v1",
            "registry.example.com:05000/team/app:v1",
        ];
        for image in moved {
            assert_eq!(m.moved_by(image), Some(0), "{image}");
        }
        let not_moved = [
            "registry.example.com:5000/team/app:v2",
            "registry.example.com:5000/team/app:V1",
            "registry.example.com:5000/team/app",
            "registry.example.com:5000/team/app2:v1",
            "registry.example.com:5000/team:v1",
            "registry.example.com/team/app:v1",
            "registry.example.com:5001/team/app:v1",
            "other.example.com:5000/team/app:v1",
            "registry.example.com:5000/team/app:v1@sha256:0000000000000000000000000000000000000000000000000000000000000000",
            "registry.example.com:5000/team/app@sha256:0000000000000000000000000000000000000000000000000000000000000000",
            "not a reference",
        ];
        for image in not_moved {
            assert_eq!(m.moved_by(image), None, "{image}");
        }
    }

    #[test]
    fn hosts_compare_as_the_runtimes_compare_them() {
        let m = matcher(
            &["quay.io/a/b:1", "127.0.0.1:5000/a/b:2", "[::1]:5000/a/b:3"],
            &[],
        );
        assert_eq!(m.moved_by("quay.io:443/a/b:1"), Some(0), "no port is 443");
        assert_eq!(m.moved_by("QUAY.io/a/b:1"), Some(0));
        assert_eq!(m.moved_by("quay.io:80/a/b:1"), None);
        assert_eq!(
            m.moved_by("127.1:5000/a/b:2"),
            Some(1),
            "an address in another form"
        );
        assert_eq!(m.moved_by("[0:0::1]:5000/a/b:3"), Some(2));
        assert_eq!(
            m.moved_by("localhost:5000/a/b:2"),
            None,
            "another name is another host"
        );
    }

    #[test]
    fn docker_hub_answers_to_all_its_names() {
        let m = matcher(
            &["docker.io/library/nginx:1.27", "docker.io/team/app:latest"],
            &[],
        );
        for image in [
            "nginx:1.27",
            "library/nginx:1.27",
            "docker.io/nginx:1.27",
            "docker.io/library/nginx:1.27",
            "index.docker.io/library/nginx:1.27",
            "registry-1.docker.io/nginx:1.27",
        ] {
            assert_eq!(m.moved_by(image), Some(0), "{image}");
        }
        for image in [
            "team/app",
            "docker.io/team/app:latest",
            "index.docker.io/team/app",
        ] {
            assert_eq!(m.moved_by(image), Some(1), "{image}");
        }
        assert_eq!(m.moved_by("quay.io/library/nginx:1.27"), None);
        assert_eq!(m.moved_by("docker.io/other/nginx:1.27"), None);
        // A hint with Hub's short form names the official image too.
        let m = matcher(&["docker.io/nginx:1"], &[]);
        assert_eq!(m.moved_by("nginx:1"), Some(0));
        assert_eq!(m.moved_by("docker.io/library/nginx:1"), Some(0));
        // Names with no registry are on the first search registry.
        let hints = [hint("mirror.example.com/nginx:1")];
        let m = Matcher::new(&hints, &BTreeMap::new(), &["mirror.example.com".to_owned()]);
        assert_eq!(m.moved_by("nginx:1"), Some(0));
        assert_eq!(m.moved_by("library/nginx:1"), None);
    }

    #[test]
    fn a_push_moves_the_tags_that_follow_it_in_every_namespace() {
        use crate::stream::snapshot::tests::stream;
        let one = stream(
            r#"
metadata: {name: app, namespace: team-a}
spec:
  tags:
  - {name: latest, from: {kind: DockerImage, name: "registry.example.com/team/app:v1"}}
  - {name: stable, from: {kind: DockerImage, name: "registry.example.com/team/app:v1"}, importPolicy: {scheduled: true}}
  - {name: other, from: {kind: DockerImage, name: "registry.example.com/team/app:v2"}}
  - {name: pinned, from: {kind: DockerImage, name: "registry.example.com/team/app@sha256:1111111111111111111111111111111111111111111111111111111111111111"}}
  - {name: ref, reference: true, from: {kind: DockerImage, name: "registry.example.com/team/app:v1"}}
  - {name: alias, from: {kind: ImageStreamTag, name: "app:latest"}}
"#,
        );
        let two = stream(
            r#"
metadata: {name: mirror, namespace: team-b}
spec:
  tags:
  - {name: v1, from: {kind: DockerImage, name: "REGISTRY.example.com:443/team/app:v1"}}
"#,
        );
        let three = stream(
            r#"
metadata: {name: unrelated, namespace: team-b}
spec:
  tags:
  - {name: v1, from: {kind: DockerImage, name: "registry.example.com/team/other:v1"}}
"#,
        );
        let snap = Snapshot::build([one, two, three].map(std::sync::Arc::new));
        let m = matcher(
            &[
                "registry.example.com/team/app:v9",
                "registry.example.com/team/app:v1",
            ],
            &[],
        );
        let mut got = moved(&snap, &m);
        got.sort_by(|a, b| a.namespace.cmp(&b.namespace));
        assert_eq!(
            got,
            [
                Moved {
                    namespace: "team-a".into(),
                    name: "app".into(),
                    tags: vec!["latest".into(), "stable".into()],
                    first_hint: 1,
                },
                Moved {
                    namespace: "team-b".into(),
                    name: "mirror".into(),
                    tags: vec!["v1".into()],
                    first_hint: 1,
                },
            ]
        );
        assert!(moved(&snap, &matcher(&[], &[])).is_empty());
        assert!(moved(&snap, &matcher(&["registry.example.com/team/app:v3"], &[])).is_empty());
    }

    #[test]
    fn registry_hosts_give_an_event_host_the_names_streams_use() {
        let m = matcher(
            &["registry.internal:5000/team/app:v1"],
            &[(
                "Registry.Internal:5000",
                &["registry.example.com", "10.0.0.7:5000"],
            )],
        );
        assert_eq!(m.moved_by("registry.internal:5000/team/app:v1"), Some(0));
        assert_eq!(m.moved_by("registry.example.com/team/app:v1"), Some(0));
        assert_eq!(m.moved_by("registry.example.com:443/team/app:v1"), Some(0));
        assert_eq!(m.moved_by("10.0.0.7:5000/team/app:v1"), Some(0));
        assert_eq!(m.moved_by("registry.other.com/team/app:v1"), None);
        // The map goes one way: from the event's host to the streams' names.
        let m = matcher(
            &["registry.example.com/team/app:v1"],
            &[("registry.internal:5000", &["registry.example.com"])],
        );
        assert_eq!(m.moved_by("registry.internal:5000/team/app:v1"), None);
        assert!(matcher(&[], &[]).moved_by("quay.io/a/b:1").is_none());
    }
}
