//! Harbor's webhook, in its Default format (`{"type": "PUSH_ARTIFACT",
//! "event_data": {...}}`) or its CloudEvents format (`{"specversion": "1.0",
//! "type": "harbor.artifact.pushed", "data": {...}}`, the same event data).
//!
//! Harbor sends one `PUSH_ARTIFACT` per manifest: the children of a
//! multi-platform index come with their digest where the tag would be, then
//! the index with its tag. The registry host is only in `resource_url`
//! (Harbor's external URL without its scheme).

use serde::Deserialize;

use super::hint::{Hint, Reading, json, split_url};

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    /// CloudEvents only.
    specversion: Option<String>,
    event_data: Option<EventData>,
    /// CloudEvents: the event data.
    data: Option<EventData>,
}

#[derive(Deserialize)]
struct EventData {
    #[serde(default)]
    resources: Vec<Resource>,
    repository: Option<Repository>,
}

#[derive(Deserialize)]
struct Resource {
    #[serde(default)]
    tag: String,
    #[serde(default)]
    resource_url: String,
}

#[derive(Deserialize)]
struct Repository {
    repo_full_name: String,
}

pub(super) fn read(body: &[u8]) -> Result<Reading, String> {
    let envelope: Envelope = json(
        body,
        "a Harbor webhook ({\"type\": ..., \"event_data\": ...})",
    )?;
    let (pushed, data) = match envelope.specversion {
        Some(_) => (envelope.kind == "harbor.artifact.pushed", envelope.data),
        None => (envelope.kind == "PUSH_ARTIFACT", envelope.event_data),
    };
    let mut reading = Reading::default();
    if !pushed {
        // Pulls, deletes, scans, quotas, replication: no tag moved.
        reading.ignored = 1;
        return Ok(reading);
    }
    let Some(data) = data else {
        return Err("a Harbor PUSH_ARTIFACT without its event data".into());
    };
    let Some(repository) = data.repository else {
        return Err("a Harbor PUSH_ARTIFACT without event_data.repository".into());
    };
    for (i, resource) in data.resources.iter().enumerate() {
        // A push by digest has the digest where the tag would be.
        if resource.tag.is_empty() || resource.tag.contains(':') {
            reading.ignored += 1;
            continue;
        }
        let Some((host, _)) = split_url(&resource.resource_url) else {
            return Err(format!(
                "event_data.resources[{i}].resource_url {:?} names no registry host",
                crate::text::clip(&resource.resource_url, 200)
            ));
        };
        reading
            .add(Hint::new(host, &repository.repo_full_name, &resource.tag))
            .map_err(|why| format!("event_data.resources[{i}]: {why}"))?;
    }
    if data.resources.is_empty() {
        reading.ignored = 1;
    }
    Ok(reading)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::fixture;

    #[test]
    fn a_pushed_tag_is_read_from_both_formats() {
        let r = read(&fixture("harbor-push-artifact-default.docs.json")).expect("reads");
        assert_eq!(
            r.hints[0].to_string(),
            "hub.harbor.com/test-webhook/debian:latest"
        );
        assert_eq!(r.ignored, 0);
        // The same push as a CloudEvent.
        let cloud = String::from_utf8(fixture(
            "harbor-pull-artifact-cloudevents.source-comment.json",
        ))
        .expect("utf-8")
        .replace("harbor.artifact.pulled", "harbor.artifact.pushed")
        .replace(
            r#""tag":"sha256:dde8e930c7b6a490f728e66292bc9bce42efc9bbb5278bae40e4f30f6e00fe8c""#,
            r#""tag":"1.36""#,
        )
        .replace(
            "busybox@sha256:dde8e930c7b6a490f728e66292bc9bce42efc9bbb5278bae40e4f30f6e00fe8c\"",
            "busybox:1.36\"",
        );
        let r = read(cloud.as_bytes()).expect("reads");
        assert_eq!(r.hints[0].to_string(), "harbor.dev/library/busybox:1.36");
    }

    #[test]
    fn pulls_and_pushes_by_digest_move_no_tag() {
        for name in [
            "harbor-pull-artifact-by-digest-default.source-comment.json",
            "harbor-pull-artifact-cloudevents.source-comment.json",
        ] {
            let r = read(&fixture(name)).expect("reads");
            assert_eq!((r.hints.len(), r.ignored), (0, 1), "{name}");
        }
        // A child manifest of a multi-platform push: its digest in `tag`.
        let child = String::from_utf8(fixture(
            "harbor-pull-artifact-by-digest-default.source-comment.json",
        ))
        .expect("utf-8")
        .replace("PULL_ARTIFACT", "PUSH_ARTIFACT");
        let r = read(child.as_bytes()).expect("reads");
        assert_eq!((r.hints.len(), r.ignored), (0, 1));
    }

    #[test]
    fn bodies_that_are_not_harbor_events_are_refused() {
        for (body, why) in [
            ("{}", "missing field `type`"),
            (r#"{"type":"PUSH_ARTIFACT"}"#, "without its event data"),
            (
                r#"{"type":"PUSH_ARTIFACT","event_data":{"resources":[]}}"#,
                "without event_data.repository",
            ),
            (
                r#"{"type":"PUSH_ARTIFACT","event_data":{"resources":[{"tag":"v1","resource_url":"nohost"}],"repository":{"repo_full_name":"a/b"}}}"#,
                "names no registry host",
            ),
            (
                r#"{"type":"PUSH_ARTIFACT","event_data":{"resources":[{"tag":"v1","resource_url":"h.io/A/b:v1"}],"repository":{"repo_full_name":"A/b"}}}"#,
                "lowercase",
            ),
            (
                r#"{"type":"PUSH_ARTIFACT","event_data":{"resources":{}}}"#,
                "invalid type",
            ),
        ] {
            let err = read(body.as_bytes())
                .err()
                .unwrap_or_else(|| panic!("{body} was read"));
            assert!(err.contains(why), "{body}: {err}");
        }
    }
}
