//! Quay's "Repository Push" notification: the event data alone,
//! `{"docker_url": "HOST/NAMESPACE/REPO", "updated_tags": [...], ...}`. No
//! digest, and Quay can set no header: the token comes in the URL.

use serde::Deserialize;

use super::hint::{Hint, Reading, json, split_url};

#[derive(Deserialize)]
struct Push {
    docker_url: String,
    /// A list; a 2013 Quay sent an object of tag to image id, which no
    /// current Quay sends and which is refused rather than guessed at.
    updated_tags: Vec<String>,
}

pub(super) fn read(body: &[u8]) -> Result<Reading, String> {
    let push: Push = json(
        body,
        "a Quay repository push ({\"docker_url\": ..., \"updated_tags\": [...]})",
    )?;
    let Some((host, repository)) = split_url(&push.docker_url) else {
        return Err(format!(
            "docker_url {:?} is not HOST/REPOSITORY",
            crate::text::clip(&push.docker_url, 200)
        ));
    };
    let mut reading = Reading::default();
    for tag in &push.updated_tags {
        reading
            .add(Hint::new(host, repository, tag))
            .map_err(|why| format!("updated_tags: {why}"))?;
    }
    if push.updated_tags.is_empty() {
        reading.ignored = 1;
    }
    Ok(reading)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::fixture;

    fn names(r: &Reading) -> Vec<String> {
        r.hints.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn every_updated_tag_is_a_hint() {
        let r = read(&fixture("quay-repo-push.docs.json")).expect("reads");
        assert_eq!(names(&r), ["quay.io/dgangaia/test:latest"]);
        // What Quay's "Test Notification" sends (constructed from its source).
        let r = read(&fixture(
            "quay-repo-push-test-notification.constructed.json",
        ))
        .expect("reads");
        assert_eq!(
            names(&r),
            [
                "quay.example.com/acme/web:latest",
                "quay.example.com/acme/web:foo"
            ]
        );
        let r = read(br#"{"docker_url":"quay.io/a/b","updated_tags":[]}"#).expect("reads");
        assert_eq!((r.hints.len(), r.ignored), (0, 1));
    }

    #[test]
    fn bodies_that_are_not_quay_pushes_are_refused() {
        let legacy = read(&fixture("quay-repo-push-legacy-2013.gist.json")).expect_err("legacy");
        assert!(
            legacy.contains("invalid type: map, expected a sequence"),
            "{legacy}"
        );
        for (body, why) in [
            ("{}", "missing field `docker_url`"),
            (
                r#"{"docker_url":"quay.io/a/b"}"#,
                "missing field `updated_tags`",
            ),
            (
                r#"{"docker_url":"quay.io","updated_tags":["v1"]}"#,
                "is not HOST/REPOSITORY",
            ),
            (
                r#"{"docker_url":"quay.io/a/b","updated_tags":["no good"]}"#,
                "updated_tags",
            ),
            (
                r#"{"docker_url":"quay.io/a/b","updated_tags":[1]}"#,
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
