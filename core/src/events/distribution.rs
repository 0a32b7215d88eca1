//! The reference registry's notifications (distribution 2.x and 3.x, and
//! GitLab's registry, which forked it): `{"events": [...]}`, one event per
//! blob and manifest, pushed, pulled, mounted or deleted.
//!
//! A tag moved only on a `push` that carries `target.tag`: the registry sets
//! it when a manifest was put by tag, never for blobs or pushes by digest
//! (the children of a multi-platform index arrive as untagged pushes, then
//! the index with its tag). Manifest reads by tag, the importer's own among
//! them, arrive as `pull` with a tag, which is why the action decides.

use serde::Deserialize;

use super::hint::{Hint, Reading, json, split_url};

#[derive(Deserialize)]
struct Envelope {
    events: Vec<Event>,
}

#[derive(Deserialize)]
struct Event {
    action: String,
    #[serde(default)]
    target: Target,
    #[serde(default)]
    request: Request,
}

#[derive(Deserialize, Default)]
struct Target {
    repository: Option<String>,
    tag: Option<String>,
    url: Option<String>,
}

#[derive(Deserialize, Default)]
struct Request {
    host: Option<String>,
}

pub(super) fn read(body: &[u8]) -> Result<Reading, String> {
    let envelope: Envelope = json(body, "a distribution notification ({\"events\": [...]})")?;
    let mut reading = Reading::default();
    for (i, event) in envelope.events.iter().enumerate() {
        let tag = event.target.tag.as_deref().filter(|t| !t.is_empty());
        let (true, Some(tag)) = (event.action == "push", tag) else {
            reading.ignored += 1;
            continue;
        };
        let Some(repository) = event.target.repository.as_deref() else {
            return Err(format!(
                "events[{i}] pushes tag {tag:?} but names no target.repository"
            ));
        };
        // The host the pusher used; `target.url` is relative when the
        // registry runs with `http.relativeurls`.
        let host = event
            .request
            .host
            .as_deref()
            .filter(|h| !h.is_empty())
            .or_else(|| {
                event
                    .target
                    .url
                    .as_deref()
                    .and_then(split_url)
                    .map(|(h, _)| h)
            });
        let Some(host) = host else {
            reading.ignored += 1;
            continue;
        };
        reading
            .add(Hint::new(host, repository, tag))
            .map_err(|why| format!("events[{i}]: {why}"))?;
    }
    Ok(reading)
}

#[cfg(test)]
mod tests {
    use super::super::{Delivery, Format, read as read_format};
    use super::*;
    use crate::events::fixture;

    fn hints(name: &str) -> (Vec<String>, usize) {
        let r = read_format(
            Format::Distribution,
            &Delivery {
                body: &fixture(name),
                ..Delivery::default()
            },
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        (r.hints.iter().map(ToString::to_string).collect(), r.ignored)
    }

    #[test]
    fn only_a_push_by_tag_moves_a_tag() {
        let captured = "distribution-2.8.2";
        let cases: &[(&str, &[&str])] = &[
            ("push-by-tag-01-push-octet-stream", &[]),
            ("push-by-tag-02-push-octet-stream", &[]),
            (
                "push-by-tag-03-push-oci-image-manifest-v1-json",
                &["127.0.0.1:5055/team/app:v1"],
            ),
            ("inspect-by-tag-01-pull-oci-image-manifest-v1-json", &[]),
            ("inspect-by-tag-02-pull-octet-stream", &[]),
            ("head-by-tag-01-pull-oci-image-manifest-v1-json", &[]),
            ("get-by-digest-01-pull-oci-image-manifest-v1-json", &[]),
            ("push-by-digest-01-pull-octet-stream", &[]),
            ("push-by-digest-02-mount-octet-stream", &[]),
            ("push-by-digest-03-push-octet-stream", &[]),
            ("push-by-digest-04-push-oci-image-manifest-v1-json", &[]),
            ("push-docker-v2s2-01-pull-octet-stream", &[]),
            ("push-docker-v2s2-02-mount-octet-stream", &[]),
            ("push-docker-v2s2-03-push-octet-stream", &[]),
            (
                "push-docker-v2s2-04-push-docker-distribution-manifest-v2-json",
                &["127.0.0.1:5055/library/busybox:1.36"],
            ),
            ("multiarch-push-all-01-push-octet-stream", &[]),
            ("multiarch-push-all-02-push-octet-stream", &[]),
            ("multiarch-push-all-03-push-oci-image-manifest-v1-json", &[]),
            ("multiarch-push-all-04-push-octet-stream", &[]),
            ("multiarch-push-all-05-push-octet-stream", &[]),
            ("multiarch-push-all-06-push-oci-image-manifest-v1-json", &[]),
            (
                "multiarch-push-all-07-push-oci-image-index-v1-json",
                &["127.0.0.1:5055/team/multi:latest"],
            ),
            ("delete-manifest-01-delete-none", &[]),
        ];
        for (file, want) in cases {
            let name = format!("{captured}-{file}.json");
            let (got, ignored) = hints(&name);
            assert_eq!(got, *want, "{name}");
            assert_eq!(ignored, usize::from(want.is_empty()), "{name}");
        }
        // The docs' three pushes by digest in one envelope (one URL with a
        // 65-hex digest, unread): no tag moved.
        assert_eq!(
            hints("distribution-docs-envelope-three-push-events.json"),
            (vec![], 3)
        );
        assert_eq!(hints("distribution-docs-pull-by-tag.json"), (vec![], 1));
    }

    #[test]
    fn the_host_is_the_pushers_else_the_urls() {
        let event = |request: &str, url: &str| {
            format!(
                r#"{{"events":[{{"action":"push","target":{{"repository":"team/app","tag":"v1","url":{url}}},"request":{request}}}]}}"#
            )
        };
        let read = |body: String| read(body.as_bytes()).expect("reads");
        let r = read(event(
            r#"{"host":"registry.example.com"}"#,
            r#""http://10.0.0.1:5000/v2/team/app/manifests/sha256:1""#,
        ));
        assert_eq!(r.hints[0].to_string(), "registry.example.com/team/app:v1");
        let r = read(event(
            "{}",
            r#""https://10.0.0.1:5000/v2/team/app/manifests/sha256:1""#,
        ));
        assert_eq!(r.hints[0].to_string(), "10.0.0.1:5000/team/app:v1");
        let r = read(event(
            r#"{"host":""}"#,
            r#""/v2/team/app/manifests/sha256:1""#,
        ));
        assert_eq!(
            (r.hints.len(), r.ignored),
            (0, 1),
            "no host to match: ignored"
        );
        let r = read(event(r#"{"host":"registry"}"#, "null"));
        assert_eq!(
            (r.hints.len(), r.ignored),
            (0, 1),
            "a host no reference can name"
        );
    }

    #[test]
    fn bodies_that_are_not_notifications_are_refused() {
        for (body, why) in [
            ("", "not a distribution notification"),
            ("[]", "not a distribution notification"),
            (r#"{"event":[]}"#, "missing field `events`"),
            (r#"{"events":{}}"#, "not a distribution notification"),
            (r#"{"events":[{"target":{}}]}"#, "missing field `action`"),
            (
                r#"{"events":[{"action":"push","target":{"tag":5}}]}"#,
                "invalid type",
            ),
            (
                r#"{"events":[{"action":"push","target":{"tag":"v1"}}]}"#,
                "names no target.repository",
            ),
            (
                r#"{"events":[{"action":"push","target":{"repository":"Team/App","tag":"v1"},"request":{"host":"r.io"}}]}"#,
                "lowercase",
            ),
            (
                r#"{"events":[{"action":"push","target":{"repository":"a","tag":"v 1"},"request":{"host":"r.io"}}]}"#,
                "events[0]",
            ),
        ] {
            let err = read(body.as_bytes())
                .err()
                .unwrap_or_else(|| panic!("{body} was read"));
            assert!(err.contains(why), "{body}: {err}");
        }
        // An empty list is a notification with nothing in it.
        assert_eq!(read(br#"{"events":[]}"#), Ok(Reading::default()));
    }

    #[test]
    fn one_tag_pushed_twice_in_a_body_is_one_hint() {
        let one = r#"{"action":"push","target":{"repository":"a/b","tag":"1"},"request":{"host":"r.io"}}"#;
        let upper = r#"{"action":"push","target":{"repository":"a/b","tag":"1"},"request":{"host":"R.IO"}}"#;
        let body = format!(r#"{{"events":[{one},{one},{upper}]}}"#);
        let r = read(body.as_bytes()).expect("reads");
        assert_eq!(r.hints.len(), 1);
        let many = vec![one; super::super::MAX_EVENTS + 1].join(",");
        let err = read_format(
            Format::Distribution,
            &Delivery {
                body: format!(r#"{{"events":[{many}]}}"#).as_bytes(),
                ..Delivery::default()
            },
        );
        assert!(err.is_ok(), "repeats of one tag are one hint: {err:?}");
        let pulls = vec![r#"{"action":"pull"}"#; super::super::MAX_EVENTS + 1].join(",");
        let err = read_format(
            Format::Distribution,
            &Delivery {
                body: format!(r#"{{"events":[{pulls}]}}"#).as_bytes(),
                ..Delivery::default()
            },
        )
        .expect_err("too many events");
        assert!(err.contains("at most 1000"), "{err}");
    }
}
