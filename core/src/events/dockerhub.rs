//! Docker Hub's webhook: `{"push_data": {"tag": ...}, "repository":
//! {"repo_name": "NAMESPACE/NAME", ...}}`, on `docker.io`. No digest, no
//! header and no signature: the token comes in the URL, and one push can
//! be delivered several times (a multi-platform push, once per platform).

use serde::Deserialize;

use super::hint::{Hint, Reading, json};

/// The host of every Docker Hub event.
const HOST: &str = "docker.io";

#[derive(Deserialize)]
struct Push {
    push_data: PushData,
    repository: Repository,
}

#[derive(Deserialize)]
struct PushData {
    #[serde(default)]
    tag: Option<String>,
}

#[derive(Deserialize)]
struct Repository {
    repo_name: String,
}

pub(super) fn read(body: &[u8]) -> Result<Reading, String> {
    let push: Push = json(
        body,
        "a Docker Hub webhook ({\"push_data\": {\"tag\": ...}, \"repository\": {\"repo_name\": ...}})",
    )?;
    let mut reading = Reading::default();
    match push.push_data.tag.as_deref().filter(|t| !t.is_empty()) {
        Some(tag) => reading
            .add(Hint::new(HOST, &push.repository.repo_name, tag))
            .map_err(|why| format!("repository.repo_name and push_data.tag: {why}"))?,
        None => reading.ignored = 1,
    }
    Ok(reading)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::fixture;

    #[test]
    fn the_pushed_tag_is_on_docker_io() {
        let r = read(&fixture("dockerhub-push.docs.json")).expect("reads");
        assert_eq!(
            r.hints[0].to_string(),
            "docker.io/svendowideit/testhook:latest"
        );
        let r = read(&fixture("dockerhub-push-multiarch.hub-feedback-2148.json")).expect("reads");
        assert_eq!(r.hints[0].to_string(), "docker.io/fireflyiii/core:develop");
        let r =
            read(br#"{"push_data":{"tag":""},"repository":{"repo_name":"a/b"}}"#).expect("reads");
        assert_eq!((r.hints.len(), r.ignored), (0, 1));
    }

    #[test]
    fn bodies_that_are_not_hub_pushes_are_refused() {
        for (body, why) in [
            ("{}", "missing field `push_data`"),
            (
                r#"{"push_data":{"tag":"v1"}}"#,
                "missing field `repository`",
            ),
            (
                r#"{"push_data":{"tag":"v1"},"repository":{"repo_name":"A/b"}}"#,
                "lowercase",
            ),
            (
                r#"{"push_data":{"tag":7},"repository":{"repo_name":"a/b"}}"#,
                "invalid type",
            ),
            ("not json", "not a Docker Hub webhook"),
        ] {
            let err = read(body.as_bytes())
                .err()
                .unwrap_or_else(|| panic!("{body} was read"));
            assert!(err.contains(why), "{body}: {err}");
        }
    }
}
