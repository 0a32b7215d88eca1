//! The text of `imagestream-webhook describe NAME`, laid out like `oc describe is NAME`.
//!
//! People who know OpenShift read this output at a glance, and scripts written
//! against `oc describe` may scrape it, so it follows oc's `DescribeImageStream` and
//! `formatImageStreamTags` (openshift/oc, `pkg/helpers/describe`) line for line:
//! the same wording, the same tag order (library-go's `PrioritizeTags`), the same
//! hiding of same-stream alias tags, and the same tab alignment, which oc gets from
//! Go's `text/tabwriter` with tab padding. The text is first built with the raw tabs
//! oc writes and then aligned by `tabwrite`, a re-implementation of that
//! tabwriter, so values that themselves contain tabs or newlines line up as in oc.
//!
//! One difference on purpose: oc lists an alias tag (`tag --alias`) under the
//! tag it follows even when the alias's own status still holds an older
//! image; here it then gets its own section, since admission pins what the
//! alias's status holds.
//!
//! Where oc would print nonsense for a missing or malformed time (a Go zero time is
//! "292 years ago") this module prints `<unknown>` instead; an absent
//! `creationTimestamp` gives `Created: <unknown>` where oc leaves the line out.

pub mod image;
mod order;
mod tabwrite;

use std::collections::{BTreeMap, BTreeSet, HashSet};

use jiff::Timestamp;

use crate::stream::{
    CONDITION_IMPORT_SUCCESS, FROM_KIND_DOCKER_IMAGE, FROM_KIND_IMAGE_STREAM_IMAGE,
    FROM_KIND_IMAGE_STREAM_TAG, ImageStream, NamedTagEventList, TagReferencePolicyType,
};
use order::{prioritize_tags, reference_id};
use tabwrite::tabwrite;

/// What oc prints for an empty value.
const NONE: &str = "<none>";
/// What is printed for a time that is missing or cannot be parsed.
const UNKNOWN: &str = "<unknown>";

/// `oc describe is`-style text for the stream, ages relative to `now`.
pub fn describe(is: &ImageStream, now: Timestamp) -> String {
    let mut out = String::new();
    write_meta(&mut out, is, now);

    // oc shows the public (route) location when there is one: that is the
    // location a user outside the cluster can pull from.
    let status = is.status.as_ref();
    let public = status
        .and_then(|s| s.public_docker_image_repository.as_deref())
        .unwrap_or("");
    let repository = if public.is_empty() {
        status
            .and_then(|s| s.docker_image_repository.as_deref())
            .unwrap_or("")
    } else {
        public
    };
    format_string(&mut out, "Image Repository", repository);
    format_string(
        &mut out,
        "Image Lookup",
        &format!("local={}", is.lookup_local()),
    );
    write_tags(&mut out, is, now);
    tabwrite(&out)
}

/// "5 minutes ago"-style age, as oc's `FormatRelativeTime`/kubectl's `HumanDuration` ("2 days ago", "About an hour ago", "40 seconds ago").
///
/// The wording is that of `HumanDuration` in github.com/docker/go-units v0.5.0,
/// which oc uses for every age in `oc describe`, followed by " ago". A `then` in the
/// future (clock skew) reads "Less than a second ago", as in oc.
pub fn age(then: Timestamp, now: Timestamp) -> String {
    // Go's `Time.Sub` saturates at the limits of a nanosecond `int64` rather than
    // overflowing; doing the same keeps absurd dates printable.
    let nanos = now.as_nanosecond() - then.as_nanosecond();
    let nanos = i64::try_from(nanos).unwrap_or(if nanos < 0 { i64::MIN } else { i64::MAX });
    format!("{} ago", human_duration(nanos))
}

/// go-units' `HumanDuration` for a Go `time.Duration` (nanoseconds).
fn human_duration(d: i64) -> String {
    const SECOND: i64 = 1_000_000_000;
    const MINUTE: i64 = 60 * SECOND;
    const HOUR: i64 = 60 * MINUTE;
    const DAY: i64 = 24 * HOUR;
    const WEEK: i64 = 7 * DAY;
    const MONTH: i64 = 30 * DAY;
    const YEAR: i64 = 365 * DAY;
    // go-units rounds to the nearest unit in floating point; the same arithmetic
    // gives the same answer at the boundaries.
    let round = |unit: i64| (d as f64 / unit as f64 + 0.5) as i64;

    // Seconds and minutes truncate (Go's `int(d.Seconds())`), which integer
    // division matches over the range where the value is printed.
    let seconds = d / SECOND;
    if seconds < 1 {
        return "Less than a second".to_string();
    }
    if seconds == 1 {
        return "1 second".to_string();
    }
    if seconds < 60 {
        return format!("{seconds} seconds");
    }
    let minutes = d / MINUTE;
    if minutes == 1 {
        return "About a minute".to_string();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    let hours = round(HOUR);
    if hours == 1 {
        return "About an hour".to_string();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if d < 2 * WEEK {
        return format!("{} days", round(DAY));
    }
    if d < 2 * MONTH {
        return format!("{} weeks", round(WEEK));
    }
    if d < 2 * YEAR {
        return format!("{} months", round(MONTH));
    }
    format!("{} years", round(YEAR))
}

/// The age of an RFC 3339 time taken from the stream, or `<unknown>` when it is
/// missing or malformed: a description must never fail over one bad field.
fn age_of(time: Option<&str>, now: Timestamp) -> String {
    time.and_then(|t| t.parse::<Timestamp>().ok())
        .map_or_else(|| UNKNOWN.to_string(), |then| age(then, now))
}

/// oc's `formatString`: `Label:` then each line of the value after a tab, so that a
/// multi-line value stays in the value column. An empty value prints as `<none>`.
fn format_string(out: &mut String, label: &str, value: &str) {
    let value = if value.is_empty() { NONE } else { value };
    out.push_str(label);
    out.push(':');
    for line in value.split('\n') {
        out.push('\t');
        out.push_str(line);
        out.push('\n');
    }
}

/// oc's `formatMapStringString`: the first `key=value` on the label's line, the rest
/// on their own lines in the value column, keys in byte order (as Go's
/// `sets.String.List`, which a `BTreeMap` iterates in already).
fn format_map<'a>(
    out: &mut String,
    label: &str,
    entries: impl Iterator<Item = (&'a String, &'a String)>,
) {
    let mut any = false;
    for (key, value) in entries {
        if any {
            // Only the first entry goes through `formatString` in oc, so only its
            // value's extra lines are moved into the value column.
            out.push_str(&format!("\t{key}={value}\n"));
        } else {
            format_string(out, label, &format!("{key}={value}"));
            any = true;
        }
    }
    if !any {
        format_string(out, label, "");
    }
}

/// oc's `formatMeta`: name, namespace, age, labels and annotations.
fn write_meta(out: &mut String, is: &ImageStream, now: Timestamp) {
    let meta = &is.metadata;
    format_string(out, "Name", meta.name.as_deref().unwrap_or(""));
    if let Some(namespace) = meta.namespace.as_deref().filter(|ns| !ns.is_empty()) {
        format_string(out, "Namespace", namespace);
    }
    let created = meta
        .creation_timestamp
        .as_ref()
        .map_or_else(|| UNKNOWN.to_string(), |t| age(t.0, now));
    out.push_str(&format!("Created:\t{created}\n"));

    format_map(out, "Labels", meta.labels.iter().flatten());

    // oc lifts a `description` annotation out into its own line and never lists it
    // among the annotations, even when it is empty. Every other annotation,
    // `openshift.io/image.dockerRepositoryCheck` included, is listed as it is.
    let annotations = meta.annotations.as_ref();
    let description = annotations
        .and_then(|a| a.get("description"))
        .map_or("", String::as_str);
    if !description.is_empty() {
        format_string(out, "Description", description);
    }
    format_map(
        out,
        "Annotations",
        annotations
            .into_iter()
            .flatten()
            .filter(|(key, _)| key.as_str() != "description"),
    );
}

/// oc's `formatImageStreamTags`: the image and tag counts, then one section per tag.
fn write_tags(out: &mut String, is: &ImageStream, now: Timestamp) {
    let spec_tags = is.spec_tags();
    let status_tags = is.status_tags();
    if spec_tags.is_empty() && status_tags.is_empty() {
        out.push_str("Tags:\t<none>\n");
        return;
    }

    // Every status tag (duplicates too), then the spec tags that have no status:
    // oc counts this list, so the count includes the hidden alias tags.
    let mut sorted: Vec<&str> = status_tags.iter().map(|t| t.tag.as_str()).collect();
    // Spec tags that only point (through same-stream ImageStreamTag links) at
    // another spec tag get no section of their own; oc lists them after the name of
    // the tag they end at instead.
    let mut hidden: HashSet<&str> = HashSet::new();
    let mut aliases: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for tag in spec_tags {
        // Unlike oc, an alias whose status is not (yet) at its target's image
        // keeps its own section: admission pins the alias's own newest image,
        // and the description must never show another.
        if let Some(target) = follow_tag_reference(is, &tag.name)
            && newest_image(is, &tag.name) == newest_image(is, target)
        {
            hidden.insert(tag.name.as_str());
            aliases.entry(target).or_default().insert(tag.name.as_str());
        }
        if is.status_tag(&tag.name).is_none() {
            sorted.push(tag.name.as_str());
        }
    }
    out.push_str(&format!(
        "Unique Images:\t{}\nTags:\t{}\n\n",
        unique_images(status_tags),
        sorted.len()
    ));

    prioritize_tags(&mut sorted);
    let mut first = true;
    for tag in sorted {
        if hidden.contains(tag) {
            continue;
        }
        if !first {
            out.push('\n');
        }
        first = false;
        write_tag(out, is, tag, aliases.get(tag), now);
    }
}

/// The digest of the tag's newest history item.
fn newest_image<'a>(is: &'a ImageStream, tag: &str) -> Option<&'a str> {
    is.status_tag(tag)
        .and_then(|t| t.latest())
        .map(|i| &*i.image)
}

/// The number oc prints as "Unique Images".
fn unique_images(status_tags: &[NamedTagEventList]) -> usize {
    // oc keys a map by image ID. For an event without an ID it means to key by pull
    // spec, but stores the (empty) ID instead, so all such events together count
    // once. Reproduced so the number matches oc's.
    let mut keys: HashSet<&str> = HashSet::new();
    for tag in status_tags {
        for item in tag.items() {
            if !item.image.is_empty() {
                keys.insert(&*item.image);
            } else if !item.docker_image_reference.is_empty()
                && !keys.contains(&*item.docker_image_reference)
            {
                keys.insert("");
            }
        }
    }
    keys.len()
}

/// One tag's section: name (and aliases), source, policies, annotations, import
/// state and image history.
fn write_tag(
    out: &mut String,
    is: &ImageStream,
    tag: &str,
    aliases: Option<&BTreeSet<&str>>,
    now: Timestamp,
) {
    let stream_namespace = is.metadata.namespace.as_deref().unwrap_or("");
    let history = is.status_tag(tag);
    let spec = is.spec_tag(tag);

    let mut name = String::new();
    let (mut scheduled, mut insecure, mut importing) = (false, false, false);
    if let Some((spec, from)) = spec.and_then(|s| s.from.as_ref().map(|f| (s, f))) {
        let from_name = from.name.as_deref().unwrap_or("");
        // A source in another namespace is shown with it; one in the stream's own
        // namespace reads better without.
        name = match from.namespace.as_deref() {
            Some(ns) if !ns.is_empty() && ns != stream_namespace => format!("{ns}/{from_name}"),
            _ => from_name.to_string(),
        };
        scheduled = spec.is_scheduled();
        insecure = spec.is_insecure();
        importing = !spec.is_reference()
            && spec
                .generation
                .is_some_and(|g| g > latest_observed_generation(history));
    }

    match aliases.filter(|a| !a.is_empty()) {
        Some(aliases) => {
            let mut aliases: Vec<&str> = aliases.iter().copied().collect();
            prioritize_tags(&mut aliases);
            out.push_str(&format!("{tag} ({})\n", aliases.join(", ")));
        }
        None => out.push_str(&format!("{tag}\n")),
    }

    match (spec, spec.and_then(|s| s.from.as_ref())) {
        (None, _) => out.push_str("  no spec tag\n"),
        (Some(_), None) => out.push_str("  tag without source image\n"),
        (Some(spec), Some(from)) => {
            let reference = spec.is_reference();
            let line = match from.kind.as_deref().unwrap_or("") {
                FROM_KIND_IMAGE_STREAM_TAG if reference => format!("reference to {name}"),
                FROM_KIND_IMAGE_STREAM_TAG if scheduled => {
                    format!("updates automatically from {name}")
                }
                FROM_KIND_DOCKER_IMAGE if reference => format!("reference to registry {name}"),
                FROM_KIND_DOCKER_IMAGE if scheduled => {
                    format!("updates automatically from registry {name}")
                }
                FROM_KIND_IMAGE_STREAM_IMAGE if reference => format!("reference to image {name}"),
                FROM_KIND_IMAGE_STREAM_TAG
                | FROM_KIND_DOCKER_IMAGE
                | FROM_KIND_IMAGE_STREAM_IMAGE => format!("tagged from {name}"),
                kind if reference => format!("reference to {kind} {name}"),
                kind => format!("updates from {kind} {name}"),
            };
            out.push_str(&format!("  {line}\n"));
        }
    }
    if insecure {
        out.push_str("    will use insecure HTTPS or HTTP connections\n");
    }
    if spec.is_some_and(|s| s.reference_policy_type() == TagReferencePolicyType::Local) {
        out.push_str("    prefer registry pullthrough when referencing this tag\n");
    }
    out.push('\n');

    // The template-catalog annotations oc shows under the tag.
    let annotation = |key: &str| {
        spec.and_then(|s| s.annotations.as_ref())
            .and_then(|a| a.get(key))
            .map_or("", String::as_str)
    };
    let list = |value: &str| value.split(',').collect::<Vec<_>>().join(", ");
    let mut extra = false;
    for (key, text) in [
        ("description", annotation("description").to_string()),
        ("tags", format!("Tags: {}", list(annotation("tags")))),
        (
            "supports",
            format!("Supports: {}", list(annotation("supports"))),
        ),
        (
            "sampleRepo",
            format!("Example Repo: {}", annotation("sampleRepo")),
        ),
    ] {
        if !annotation(key).is_empty() {
            out.push_str(&format!("  {text}\n"));
            extra = true;
        }
    }
    if extra {
        out.push('\n');
    }

    if importing {
        out.push_str("  ~ importing latest image ...\n");
    }

    let Some(history) = history else {
        return;
    };
    for condition in history.conditions() {
        if condition.type_ == CONDITION_IMPORT_SUCCESS && condition.status == "False" {
            out.push_str(&format!(
                "  ! error: Import failed ({}): {}\n",
                condition.reason.as_deref().unwrap_or(""),
                condition.message.as_deref().unwrap_or(""),
            ));
            if let Some(time) = condition.last_transition_time.as_deref() {
                out.push_str(&format!("      {}\n", age_of(Some(time), now)));
            }
        }
    }

    for (i, event) in history.items().iter().enumerate() {
        let marker = if i == 0 { "  * " } else { "    " };
        out.push_str(&format!("{marker}{}\n", event.docker_image_reference));
        let when = age_of(event.created.as_deref(), now);
        // When the pull spec does not name the image by its digest (a by-tag spec, or
        // a digest of another manifest), oc adds the image ID after the age.
        let shows_id = !event.image.is_empty()
            && reference_id(&event.docker_image_reference).is_some_and(|id| id != &*event.image);
        if shows_id {
            out.push_str(&format!("      {when}\t{}\n", event.image));
        } else {
            out.push_str(&format!("      {when}\n"));
        }
    }
}

/// oc's `latestObservedTagGeneration`: the newest spec generation the importer has
/// acted on for the tag, from its current image or its first ImportSuccess
/// condition. A spec generation above it means an import is pending.
fn latest_observed_generation(history: Option<&NamedTagEventList>) -> i64 {
    let Some(history) = history else {
        return 0;
    };
    let mut last = history.latest().map_or(0, |e| e.generation.max(0));
    if let Some(condition) = history
        .conditions()
        .iter()
        .find(|c| c.type_ == CONDITION_IMPORT_SUCCESS)
    {
        last = last.max(condition.generation);
    }
    last
}

/// oc's `FollowTagReference`, reduced to what describe uses: the spec tag that `tag`
/// ends at after following same-stream ImageStreamTag links, when it follows at
/// least one link and the chain ends at a spec tag that is not such a link.
/// Cycles, missing tags and links to other streams give `None`.
fn follow_tag_reference<'a>(is: &'a ImageStream, tag: &'a str) -> Option<&'a str> {
    let stream_name = is.metadata.name.as_deref().unwrap_or("");
    let stream_namespace = is.metadata.namespace.as_deref().unwrap_or("");
    let mut seen: HashSet<&str> = HashSet::new();
    let mut tag = tag;
    let mut followed = false;
    loop {
        if !seen.insert(tag) {
            return None;
        }
        let spec = is.spec_tag(tag)?;
        let Some(from) = spec
            .from
            .as_ref()
            .filter(|f| f.kind.as_deref() == Some(FROM_KIND_IMAGE_STREAM_TAG))
        else {
            return followed.then_some(tag);
        };
        if from
            .namespace
            .as_deref()
            .is_some_and(|ns| !ns.is_empty() && ns != stream_namespace)
        {
            return None;
        }
        let from_name = from.name.as_deref().unwrap_or("");
        // Both `stream:tag` (naming this stream) and a bare `tag` are accepted.
        tag = match from_name.split_once(':') {
            Some((stream, _)) if stream != stream_name => return None,
            Some((_, "")) => "latest",
            Some((_, target)) => target,
            None => from_name,
        };
        followed = true;
    }
}

#[cfg(test)]
mod tests {
    use super::order::*;
    use super::tabwrite::*;
    use super::*;

    const SHA_A: &str = "sha256:96eb1912a3c5d7e9f1b3d5c7e9a1b3c5d7e9f1a3b5c7d9e1f3a5b7c9d1e3f5a7";
    const SHA_B: &str = "sha256:7d8e0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7";

    fn now() -> Timestamp {
        "2025-06-01T12:00:00Z".parse().expect("now")
    }

    fn stream(yaml: &str) -> ImageStream {
        serde_saphyr::from_str(yaml).expect("parse stream")
    }

    /// The stream of the `oc describe is` example: a scheduled tag with two images,
    /// a tag whose import failed, and an alias of the first.
    fn marsview() -> String {
        format!(
            r#"apiVersion: image.openshift.io/v1
kind: ImageStream
metadata:
  name: marsview
  namespace: toms-project
  creationTimestamp: "2025-05-30T12:00:00Z"
spec:
  lookupPolicy:
    local: true
  tags:
  - name: latest
    from:
      kind: DockerImage
      name: registry.marsrover.space/engine/marsview:latest
    generation: 2
    importPolicy:
      scheduled: true
      importMode: Legacy
    referencePolicy:
      type: Source
  - name: next
    annotations: null
    from:
      kind: DockerImage
      name: registry.marsrover.space/engine/marsview:next
    generation: 1
    importPolicy: {{}}
    referencePolicy:
      type: Source
  - name: stable
    from:
      kind: ImageStreamTag
      name: marsview:latest
      namespace: toms-project
    generation: 2
    referencePolicy:
      type: Source
status:
  dockerImageRepository: image-registry.openshift-image-registry.svc:5000/toms-project/marsview
  tags:
  - tag: latest
    items:
    - created: "2025-06-01T11:55:00Z"
      dockerImageReference: registry.marsrover.space/engine/marsview@{SHA_A}
      image: {SHA_A}
      generation: 2
    - created: "2025-05-18T12:00:00Z"
      dockerImageReference: registry.marsrover.space/engine/marsview@{SHA_B}
      image: {SHA_B}
      generation: 1
  - tag: next
    items: null
    conditions:
    - type: ImportSuccess
      status: "False"
      reason: NotFound
      message: manifest unknown
      lastTransitionTime: "2025-06-01T11:59:00Z"
      generation: 1
  - tag: stable
    items:
    - created: "2025-06-01T11:55:00Z"
      dockerImageReference: registry.marsrover.space/engine/marsview@{SHA_A}
      image: {SHA_A}
      generation: 2
"#
        )
    }

    #[test]
    fn describes_full_example() {
        let expected = format!(
            "Name:\t\t\tmarsview\n\
             Namespace:\t\ttoms-project\n\
             Created:\t\t2 days ago\n\
             Labels:\t\t\t<none>\n\
             Annotations:\t\t<none>\n\
             Image Repository:\timage-registry.openshift-image-registry.svc:5000/toms-project/marsview\n\
             Image Lookup:\t\tlocal=true\n\
             Unique Images:\t\t2\n\
             Tags:\t\t\t3\n\
             \n\
             latest (stable)\n\
             \x20 updates automatically from registry registry.marsrover.space/engine/marsview:latest\n\
             \n\
             \x20 * registry.marsrover.space/engine/marsview@{SHA_A}\n\
             \x20     5 minutes ago\n\
             \x20   registry.marsrover.space/engine/marsview@{SHA_B}\n\
             \x20     2 weeks ago\n\
             \n\
             next\n\
             \x20 tagged from registry.marsrover.space/engine/marsview:next\n\
             \n\
             \x20 ! error: Import failed (NotFound): manifest unknown\n\
             \x20     About a minute ago\n"
        );
        assert_eq!(describe(&stream(&marsview()), now()), expected);
    }

    #[test]
    fn describes_stream_without_status() {
        let is = stream(
            "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata:\n  name: app\n  namespace: ns\nspec:\n  tags:\n  - name: v2\n    from:\n      kind: DockerImage\n      name: quay.io/a/b:v2\n    generation: 1\n    importPolicy:\n      insecure: true\n    referencePolicy:\n      type: Local\n  - name: v1\n    from:\n      kind: DockerImage\n      name: quay.io/a/b:v1\n",
        );
        // No creationTimestamp, no repository yet, and an import pending for the tag
        // with a generation; a spec-only tag leaves an empty line where the history goes.
        // `v1` and `v2` are not versions to oc (no dots), so they sort as plain names.
        let expected = "Name:\t\t\tapp\n\
             Namespace:\t\tns\n\
             Created:\t\t<unknown>\n\
             Labels:\t\t\t<none>\n\
             Annotations:\t\t<none>\n\
             Image Repository:\t<none>\n\
             Image Lookup:\t\tlocal=false\n\
             Unique Images:\t\t0\n\
             Tags:\t\t\t2\n\
             \n\
             v1\n\
             \x20 tagged from quay.io/a/b:v1\n\
             \n\
             \n\
             v2\n\
             \x20 tagged from quay.io/a/b:v2\n\
             \x20   will use insecure HTTPS or HTTP connections\n\
             \x20   prefer registry pullthrough when referencing this tag\n\
             \n\
             \x20 ~ importing latest image ...\n";
        assert_eq!(describe(&is, now()), expected);

        let empty = stream(
            "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata:\n  name: empty\n  creationTimestamp: \"2025-06-01T11:00:00Z\"\nspec: {}\n",
        );
        let expected = "Name:\t\t\tempty\n\
             Created:\t\tAbout an hour ago\n\
             Labels:\t\t\t<none>\n\
             Annotations:\t\t<none>\n\
             Image Repository:\t<none>\n\
             Image Lookup:\t\tlocal=false\n\
             Tags:\t\t\t<none>\n";
        assert_eq!(describe(&empty, now()), expected);
    }

    #[test]
    fn describes_null_items_failed_import_and_status_only_tag() {
        let is = stream(
            r#"apiVersion: image.openshift.io/v1
kind: ImageStream
metadata:
  name: nginx
  namespace: demo
  creationTimestamp: "2025-06-01T11:59:20Z"
spec:
  tags:
  - name: broken
    from:
      kind: DockerImage
      name: docker.io/library/nginx:does-not-exist
    generation: 3
    importPolicy:
      scheduled: true
status:
  dockerImageRepository: image-registry.openshift-image-registry.svc:5000/demo/nginx
  publicDockerImageRepository: default-route-openshift-image-registry.apps.example.com/demo/nginx
  tags:
  - tag: broken
    items: null
    conditions:
    - type: ImportSuccess
      status: "False"
      reason: NotFound
      message: "Internal error occurred: docker.io/library/nginx:does-not-exist: manifest unknown"
      lastTransitionTime: "2025-05-31T11:00:00Z"
      generation: 2
    - type: ImportSuccess
      status: "True"
      generation: 1
  - tag: orphan
    items:
    - created: "2025-06-01T11:59:58Z"
      dockerImageReference: quay.io/x/y:orphan
      image: sha256:1111111111111111111111111111111111111111111111111111111111111111
      generation: 1
    conditions:
    - type: ImportSuccess
      status: "False"
      reason: Unauthorized
      message: denied
      generation: 1
"#,
        );
        let expected = "Name:\t\t\tnginx\n\
             Namespace:\t\tdemo\n\
             Created:\t\t40 seconds ago\n\
             Labels:\t\t\t<none>\n\
             Annotations:\t\t<none>\n\
             Image Repository:\tdefault-route-openshift-image-registry.apps.example.com/demo/nginx\n\
             Image Lookup:\t\tlocal=false\n\
             Unique Images:\t\t1\n\
             Tags:\t\t\t2\n\
             \n\
             broken\n\
             \x20 updates automatically from registry docker.io/library/nginx:does-not-exist\n\
             \n\
             \x20 ~ importing latest image ...\n\
             \x20 ! error: Import failed (NotFound): Internal error occurred: docker.io/library/nginx:does-not-exist: manifest unknown\n\
             \x20     25 hours ago\n\
             \n\
             orphan\n\
             \x20 no spec tag\n\
             \n\
             \x20 ! error: Import failed (Unauthorized): denied\n\
             \x20 * quay.io/x/y:orphan\n\
             \x20     2 seconds ago\tsha256:1111111111111111111111111111111111111111111111111111111111111111\n";
        assert_eq!(describe(&is, now()), expected);
    }

    #[test]
    fn hides_alias_tags_behind_their_target() {
        let is = stream(
            r#"apiVersion: image.openshift.io/v1
kind: ImageStream
metadata:
  name: app
  namespace: ns
spec:
  tags:
  - name: prod
    from: {kind: ImageStreamTag, name: "app:stable"}
  - name: stable
    from: {kind: ImageStreamTag, name: "1.2"}
  - name: "1.2"
    from: {kind: DockerImage, name: "quay.io/a/app:1.2"}
  - name: "1.1"
    from: {kind: ImageStreamTag, name: "app:"}
  - name: latest
    from: {kind: DockerImage, name: "quay.io/a/app:latest"}
  - name: other
    from: {kind: ImageStreamTag, name: "base:latest"}
    reference: true
  - name: elsewhere
    from: {kind: ImageStreamTag, namespace: shared, name: "app:1.2"}
  - name: loop-a
    from: {kind: ImageStreamTag, name: "loop-b"}
  - name: loop-b
    from: {kind: ImageStreamTag, name: "loop-a"}
    importPolicy: {scheduled: true}
"#,
        );
        let text = describe(&is, now());
        let tags = text.split_once("Tags:\t\t\t").expect("tags line").1;
        // Aliases count as tags but get no section: `prod` and `stable` end at 1.2,
        // `1.1` (`app:` means `app:latest`) at latest. Links to another stream or
        // namespace, and cycles, are shown as ordinary tags.
        let expected = "9\n\
             \n\
             latest (1.1)\n\
             \x20 tagged from quay.io/a/app:latest\n\
             \n\
             \n\
             1.2 (prod, stable)\n\
             \x20 tagged from quay.io/a/app:1.2\n\
             \n\
             \n\
             elsewhere\n\
             \x20 tagged from shared/app:1.2\n\
             \n\
             \n\
             loop-a\n\
             \x20 tagged from loop-b\n\
             \n\
             \n\
             loop-b\n\
             \x20 updates automatically from loop-a\n\
             \n\
             \n\
             other\n\
             \x20 reference to base:latest\n\
             \n";
        assert_eq!(tags, expected);
    }

    #[test]
    fn an_alias_behind_its_target_is_shown_at_its_own_image() {
        let yaml = |prod: &str| {
            format!(
                r#"apiVersion: image.openshift.io/v1
kind: ImageStream
metadata: {{name: app, namespace: ns}}
spec:
  tags:
  - {{name: latest, from: {{kind: DockerImage, name: "quay.io/a/app:latest"}}}}
  - {{name: prod, from: {{kind: ImageStreamTag, name: "app:latest"}}}}
status:
  tags:
  - tag: latest
    items: [{{dockerImageReference: "quay.io/a/app@{D2}", image: "{D2}", generation: 1}}]
  - tag: prod
    items: [{{dockerImageReference: "quay.io/a/app@{prod}", image: "{prod}", generation: 1}}]
"#
            )
        };
        const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
        const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
        let settled = describe(&stream(&yaml(D2)), now());
        assert!(settled.contains("latest (prod)\n"), "{settled}");
        assert!(!settled.contains(D1));
        // prod still holds D1: that is what a pod asking for app:prod gets.
        let stale = describe(&stream(&yaml(D1)), now());
        assert!(!stale.contains("latest (prod)"), "{stale}");
        let prod = stale.split_once("\nprod\n").expect("prod has a section").1;
        assert!(prod.starts_with("  tagged from app:latest\n"), "{prod}");
        assert!(prod.contains(&format!("* quay.io/a/app@{D1}")), "{prod}");
    }

    #[test]
    fn describes_pinned_and_reference_tags() {
        let is = stream(&format!(
            r#"apiVersion: image.openshift.io/v1
kind: ImageStream
metadata:
  name: marsview
  namespace: toms-project
spec:
  tags:
  - name: pinned
    from: {{kind: ImageStreamImage, name: "marsview@{SHA_A}"}}
  - name: pinned-ref
    from: {{kind: ImageStreamImage, namespace: base, name: "rover@{SHA_B}"}}
    reference: true
  - name: upstream
    from: {{kind: DockerImage, name: "quay.io/a/b:1"}}
    reference: true
  - name: odd
    from: {{kind: Image, name: "x"}}
  - name: odd-ref
    from: {{name: "y"}}
    reference: true
  - name: bare
status:
  tags:
  - tag: pinned
    items:
    - created: "2025-06-01T09:00:00Z"
      dockerImageReference: registry.marsrover.space/engine/marsview@{SHA_A}
      image: {SHA_A}
      generation: 1
"#
        ));
        let text = describe(&is, now());
        let tags = text.split_once("Tags:\t\t\t").expect("tags line").1;
        let expected = format!(
            "6\n\
             \n\
             bare\n\
             \x20 tag without source image\n\
             \n\
             \n\
             odd\n\
             \x20 updates from Image x\n\
             \n\
             \n\
             odd-ref\n\
             \x20 reference to  y\n\
             \n\
             \n\
             pinned\n\
             \x20 tagged from marsview@{SHA_A}\n\
             \n\
             \x20 * registry.marsrover.space/engine/marsview@{SHA_A}\n\
             \x20     3 hours ago\n\
             \n\
             pinned-ref\n\
             \x20 reference to image base/rover@{SHA_B}\n\
             \n\
             \n\
             upstream\n\
             \x20 reference to registry quay.io/a/b:1\n\
             \n"
        );
        assert_eq!(tags, expected);
    }

    #[test]
    fn describes_labels_and_annotations() {
        let is = stream(
            r#"apiVersion: image.openshift.io/v1
kind: ImageStream
metadata:
  name: python
  namespace: default
  creationTimestamp: "2025-04-01T12:00:00Z"
  labels:
    app: python
    tier: build
  annotations:
    openshift.io/image.dockerRepositoryCheck: "2017-10-02T17:05:11Z"
    description: Python runtime
    openshift.io/display-name: Python
spec:
  lookupPolicy: {}
  tags:
  - name: "3.11"
    annotations:
      description: Build and run Python 3.11 applications
      tags: builder,python
      supports: python:3.11,python
      sampleRepo: https://github.com/sclorg/django-ex.git
    from: {kind: DockerImage, name: "registry.access.redhat.com/ubi9/python-311:latest"}
"#,
        );
        let expected = "Name:\t\t\tpython\n\
             Namespace:\t\tdefault\n\
             Created:\t\t2 months ago\n\
             Labels:\t\t\tapp=python\n\
             \t\t\ttier=build\n\
             Description:\t\tPython runtime\n\
             Annotations:\t\topenshift.io/display-name=Python\n\
             \t\t\topenshift.io/image.dockerRepositoryCheck=2017-10-02T17:05:11Z\n\
             Image Repository:\t<none>\n\
             Image Lookup:\t\tlocal=false\n\
             Unique Images:\t\t0\n\
             Tags:\t\t\t1\n\
             \n\
             3.11\n\
             \x20 tagged from registry.access.redhat.com/ubi9/python-311:latest\n\
             \n\
             \x20 Build and run Python 3.11 applications\n\
             \x20 Tags: builder, python\n\
             \x20 Supports: python:3.11, python\n\
             \x20 Example Repo: https://github.com/sclorg/django-ex.git\n\
             \n";
        assert_eq!(describe(&is, now()), expected);

        // An empty description is dropped, not listed; a multi-line first value
        // keeps its extra lines in the value column.
        let is = stream(
            "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata:\n  name: x\n  annotations:\n    description: \"\"\n    a: \"one\\ntwo\"\nspec: {}\n",
        );
        let text = describe(&is, now());
        assert!(
            text.contains("Annotations:\t\ta=one\n\t\t\ttwo\n"),
            "{text}"
        );
        assert!(!text.contains("description"), "{text}");
    }

    #[test]
    fn unparseable_times_are_unknown() {
        let is = stream(&format!(
            r#"apiVersion: image.openshift.io/v1
kind: ImageStream
metadata:
  name: app
spec:
  tags:
  - name: latest
    from: {{kind: DockerImage, name: "quay.io/a/b@{SHA_A}"}}
status:
  tags:
  - tag: latest
    items:
    - created: yesterday
      dockerImageReference: quay.io/a/b@{SHA_A}
      image: {SHA_A}
      generation: 1
    - created: null
      dockerImageReference: quay.io/a/b@{SHA_B}
      image: {SHA_B}
      generation: 1
    conditions:
    - type: ImportSuccess
      status: "False"
      reason: Timeout
      message: slow
      lastTransitionTime: "2025-13-45T99:00:00Z"
      generation: 1
"#
        ));
        let text = describe(&is, now());
        let expected = format!(
            "latest\n\
             \x20 tagged from quay.io/a/b@{SHA_A}\n\
             \n\
             \x20 ! error: Import failed (Timeout): slow\n\
             \x20     <unknown>\n\
             \x20 * quay.io/a/b@{SHA_A}\n\
             \x20     <unknown>\n\
             \x20   quay.io/a/b@{SHA_B}\n\
             \x20     <unknown>\n"
        );
        assert!(text.ends_with(&expected), "{text}");
    }

    #[test]
    fn age_wording() {
        let now = now();
        let cases: &[(i64, &str)] = &[
            (-3600, "Less than a second ago"),
            (0, "Less than a second ago"),
            (1, "1 second ago"),
            (40, "40 seconds ago"),
            (59, "59 seconds ago"),
            (60, "About a minute ago"),
            (119, "About a minute ago"),
            (120, "2 minutes ago"),
            (5 * 60, "5 minutes ago"),
            (59 * 60 + 59, "59 minutes ago"),
            (60 * 60, "About an hour ago"),
            (89 * 60, "About an hour ago"),
            (90 * 60, "2 hours ago"),
            (25 * 3600, "25 hours ago"),
            (47 * 3600, "47 hours ago"),
            (47 * 3600 + 30 * 60, "2 days ago"),
            (2 * 86400, "2 days ago"),
            (13 * 86400 + 23 * 3600, "14 days ago"),
            (14 * 86400, "2 weeks ago"),
            (59 * 86400, "8 weeks ago"),
            (60 * 86400, "2 months ago"),
            (400 * 86400, "13 months ago"),
            (729 * 86400, "24 months ago"),
            (730 * 86400, "2 years ago"),
            (10 * 365 * 86400, "10 years ago"),
        ];
        for &(seconds, want) in cases {
            let then = now - jiff::SignedDuration::from_secs(seconds);
            assert_eq!(age(then, now), want, "{seconds}s");
        }
        // Go's durations saturate at about 292 years.
        assert_eq!(age(Timestamp::MIN, Timestamp::MAX), "292 years ago");
        assert_eq!(
            age(Timestamp::MAX, Timestamp::MIN),
            "Less than a second ago"
        );
    }

    #[test]
    fn orders_tags_like_oc() {
        let mut tags = vec![
            "zeta",
            "v1.2",
            "1.10",
            "1.2.3",
            "1.2",
            "latest",
            "1.10.0-rc.1",
            "alpha",
            "v1.2.3",
            "1.10.0",
            "1.2-rc1",
            "01.2",
            "1.2.3-beta",
            "1.2.3-beta.2",
            "1.2.3-1",
            "Beta",
        ];
        prioritize_tags(&mut tags);
        assert_eq!(
            tags,
            [
                "latest",
                // Minor versions, newest first; `5.1` before `v5.1`.
                "1.10",
                "1.2",
                "v1.2",
                "1.2-rc1",
                // Full versions, newest first; releases above their pre-releases,
                // numeric identifiers below alphanumeric ones.
                "1.10.0",
                "1.10.0-rc.1",
                "1.2.3",
                "v1.2.3",
                "1.2.3-beta.2",
                "1.2.3-beta",
                "1.2.3-1",
                // The rest in byte order.
                "01.2",
                "Beta",
                "alpha",
                "zeta",
            ]
        );
    }

    #[test]
    fn parses_semantic_versions_like_blang() {
        assert!(SemVer::parse("1.2.3-alpha.1+build.5").is_some());
        assert!(SemVer::parse("1.2.3-rc-1").is_some());
        for bad in [
            "",
            "1",
            "1.2",
            "01.2.3",
            "1.02.3",
            "1.2.03",
            "1.2.3-",
            "1.2.3-01",
            "1.2.3+",
            "1.2.3+a..b",
            "1.2.3-a_b",
            "a.b.c",
            "+1.2.3",
            "1.2.3 ",
        ] {
            assert!(SemVer::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn finds_reference_digests() {
        let digest = format!("quay.io/a/b@{SHA_A}");
        assert_eq!(reference_id(&digest), Some(SHA_A));
        assert_eq!(
            reference_id(&format!("quay.io/a/b:v1@{SHA_A}")),
            Some(SHA_A)
        );
        assert_eq!(reference_id("quay.io:5000/a/b:v1"), Some(""));
        assert_eq!(reference_id("localhost/b"), Some(""));
        assert_eq!(reference_id("nginx"), Some(""));
        assert_eq!(reference_id("a__b/c-----d/e.f_g:1.0-x_y"), Some(""));
        for bad in [
            "",
            "Quay.io/A/b",
            "quay.io/a/b@sha256:abc",
            "quay.io/a/b@md5:00112233445566778899aabbccddeeff",
            "quay.io/a/b:-tag",
            "quay.io/a/b:",
            "quay.io/a//b",
            "quay.io/a/b.",
            "quay.io/a/b_.c",
            "-quay.io/a",
        ] {
            assert_eq!(reference_id(bad), None, "{bad:?}");
        }
        assert_eq!(reference_id(&format!("a/{}", "b".repeat(254))), None);
    }

    #[test]
    fn aligns_like_go_tabwriter() {
        // One block: widest cell 17 + 1 padding, rounded up to 24.
        assert_eq!(
            tabwrite("Name:\tx\nImage Repository:\ty\n\tz\n"),
            "Name:\t\t\tx\nImage Repository:\ty\n\t\t\tz\n"
        );
        // A line without a tab ends the block; a lone tabbed line gets one tab.
        assert_eq!(
            tabwrite("a:\t1\nbreak\nlonger label:\t2\n"),
            "a:\t1\nbreak\nlonger label:\t2\n"
        );
        // Cell widths count characters, not bytes; the 8-character cell widens the
        // column to 16.
        assert_eq!(
            tabwrite("ééééé:\t1\nabcdefgh\t2\n"),
            "ééééé:\t\t1\nabcdefgh\t2\n"
        );
        // Inner columns form their own blocks within the outer one: lines that are
        // not adjacent in a column are aligned separately there.
        assert_eq!(
            tabwrite("a\tb\tc\nd\tlonger-cell\te\n"),
            "a\tb\t\tc\nd\tlonger-cell\te\n"
        );
        assert_eq!(
            tabwrite("a\tb\tc\nlong-first-cell\tb\nx\ty\tz\n"),
            "a\t\tb\tc\nlong-first-cell\tb\nx\t\ty\tz\n"
        );
        // A form feed ends the blocks and is written as a newline.
        assert_eq!(
            tabwrite("a\tx\u{c}longer label\ty"),
            "a\tx\nlonger label\ty"
        );
        assert_eq!(tabwrite(""), "");
    }
}
