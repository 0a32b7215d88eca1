//! GitHub's `package` webhook, for images in GitHub's container registry
//! (`ghcr.io`): `X-GitHub-Event: package` (or the older `registry_package`),
//! `action` `published` or `updated`, `package.package_type` `CONTAINER`.
//!
//! Each package version is one delivery: the index of a multi-platform
//! push carries the tag, its children and attestations come untagged. The
//! signature over the body is checked before this reads it.

use serde::Deserialize;

use super::hint::{Delivery, Hint, Reading, json};
use crate::reference::ImageRef;

/// GitHub's container registry.
const HOST: &str = "ghcr.io";

#[derive(Deserialize)]
struct Event {
    #[serde(default)]
    action: String,
    package: Option<Package>,
    /// The same object, under the older event's name.
    registry_package: Option<Package>,
}

#[derive(Deserialize)]
struct Package {
    name: String,
    namespace: String,
    package_type: String,
    package_version: Option<Version>,
}

#[derive(Deserialize)]
struct Version {
    container_metadata: Option<ContainerMetadata>,
    /// `ghcr.io/OWNER/NAME:TAG` (ending in a bare `:` when untagged).
    package_url: Option<String>,
}

#[derive(Deserialize)]
struct ContainerMetadata {
    tag: Option<Tag>,
}

#[derive(Deserialize)]
struct Tag {
    #[serde(default)]
    name: String,
}

pub(super) fn read(delivery: &Delivery<'_>) -> Result<Reading, String> {
    if delivery
        .content_type
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"))
    {
        return Err(
            "GitHub sent the delivery form-encoded: set the webhook's content type to application/json".into(),
        );
    }
    let ignored = Reading {
        hints: Vec::new(),
        ignored: 1,
    };
    match delivery.github_event {
        None => {
            return Err("no X-GitHub-Event header: not a GitHub webhook delivery".into());
        }
        // `ping` (sent when the webhook is made) and every other event.
        Some(e) if e != "package" && e != "registry_package" => return Ok(ignored),
        Some(_) => {}
    }
    let event: Event = json(delivery.body, "a GitHub package event")?;
    let Some(package) = event.package.or(event.registry_package) else {
        return Err("a package event without its package".into());
    };
    let tag = package
        .package_version
        .as_ref()
        .and_then(|v| v.container_metadata.as_ref())
        .and_then(|m| m.tag.as_ref())
        .map(|t| t.name.as_str())
        .unwrap_or_default();
    if !matches!(event.action.as_str(), "published" | "updated")
        || !package.package_type.eq_ignore_ascii_case("container")
        || tag.is_empty()
    {
        // Other actions, npm or Maven packages, untagged versions (the
        // children of an index, attestations, signatures).
        return Ok(ignored);
    }
    let url = package
        .package_version
        .as_ref()
        .and_then(|v| v.package_url.as_deref())
        .map(|u| u.trim_end_matches(':'));
    let from_url = url
        .and_then(|u| ImageRef::parse(u).ok())
        .and_then(|r| Some((r.registry()?.to_owned(), r.repository().to_owned())));
    // GitHub lower-cases the owner in image names (`Acme-Corp` pushes
    // `ghcr.io/acme-corp/...`).
    let (host, repository) = from_url.unwrap_or_else(|| {
        (
            HOST.to_owned(),
            format!("{}/{}", package.namespace, package.name).to_ascii_lowercase(),
        )
    });
    let mut reading = Reading::default();
    reading
        .add(Hint::new(&host, &repository, tag))
        .map_err(|why| format!("package: {why}"))?;
    if reading.hints.is_empty() {
        return Ok(ignored);
    }
    Ok(reading)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::fixture;

    fn package(body: &[u8]) -> Result<Reading, String> {
        read(&Delivery {
            body,
            content_type: Some("application/json"),
            github_event: Some("package"),
        })
    }

    #[test]
    fn a_tagged_container_version_is_a_hint() {
        // Constructed from the schema and real deliveries (see testdata/README.md).
        let r = package(&fixture("ghcr-package-published.constructed.json")).expect("reads");
        assert_eq!(
            r.hints[0].to_string(),
            "ghcr.io/acme-corp/platform/web:v1.4.2"
        );
        // Without package_url, the owner and name, lower-cased.
        let text = String::from_utf8(fixture("ghcr-package-published.constructed.json"))
            .expect("utf-8")
            .replace(
                r#""package_url": "ghcr.io/acme-corp/platform/web:v1.4.2","#,
                "",
            )
            .replace(r#""namespace": "acme-corp""#, r#""namespace": "Acme-Corp""#);
        let r = package(text.as_bytes()).expect("reads");
        assert_eq!(
            r.hints[0].to_string(),
            "ghcr.io/acme-corp/platform/web:v1.4.2"
        );
        let old = read(&Delivery {
            body: text
                .replace(r#""package":"#, r#""registry_package":"#)
                .as_bytes(),
            content_type: None,
            github_event: Some("registry_package"),
        })
        .expect("reads");
        assert_eq!(old.hints, r.hints);
    }

    #[test]
    fn other_packages_versions_and_events_move_no_tag() {
        // octokit's example: an npm package, untagged, a package_url ending in ':'.
        let r = package(&fixture("ghcr-package-published.octokit-example.json")).expect("reads");
        assert_eq!((r.hints.len(), r.ignored), (0, 1));
        let text =
            String::from_utf8(fixture("ghcr-package-published.constructed.json")).expect("utf-8");
        for (from, to) in [
            (r#""name": "v1.4.2""#, r#""name": """#),
            (r#""action": "published""#, r#""action": "deleted""#),
            (r#""package_type": "CONTAINER""#, r#""package_type": "npm""#),
        ] {
            let r = package(text.replace(from, to).as_bytes()).expect("reads");
            assert_eq!((r.hints.len(), r.ignored), (0, 1), "{to}");
        }
        let ping = read(&Delivery {
            body: br#"{"zen":"Design for failure.","hook_id":1}"#,
            content_type: Some("application/json"),
            github_event: Some("ping"),
        })
        .expect("a ping is answered");
        assert_eq!((ping.hints.len(), ping.ignored), (0, 1));
    }

    #[test]
    fn deliveries_that_cannot_be_read_are_refused_with_the_fix() {
        let body = fixture("ghcr-package-published.constructed.json");
        let form = read(&Delivery {
            body: &body,
            content_type: Some("application/x-www-form-urlencoded"),
            github_event: Some("package"),
        })
        .expect_err("form-encoded");
        assert!(form.contains("content type to application/json"), "{form}");
        let none = read(&Delivery {
            body: &body,
            content_type: None,
            github_event: None,
        })
        .expect_err("no event header");
        assert!(none.contains("X-GitHub-Event"), "{none}");
        for (body, why) in [
            (r#"{"action":"published"}"#, "without its package"),
            (
                r#"{"action":"published","package":{"name":1}}"#,
                "invalid type",
            ),
            ("[", "not a GitHub package event"),
        ] {
            let err = package(body.as_bytes())
                .err()
                .unwrap_or_else(|| panic!("{body} was read"));
            assert!(err.contains(why), "{body}: {err}");
        }
    }
}
