//! `oc set triggers` on a workload's `image.openshift.io/triggers`
//! annotation: follow a tag with some containers, stop following it, pause
//! or resume every trigger, remove them all; and the table of what a
//! workload follows.
//!
//! As oc, a trigger from a tag covers exactly the containers last named
//! for it, each entry is rewritten with a `?(@.name=="NAME")` selector, and
//! `from.namespace` is written only for a stream of another namespace. Unlike
//! oc, `spec.paused` is never touched (oc pauses a Deployment on `--manual`
//! and `--remove-all` and resumes it on `--auto`), init containers get an
//! `initContainers[…]` path (this product's controller looks a name up in
//! the list the path names), and no triggers left means no annotation
//! (oc writes the JSON `null`).

use serde_json::{Map, Value, json};

use crate::admission::workload::{ContainerList, Kind};
use crate::openshift::tag_source::{TagSource, parse_source};
use crate::trigger::{self, Selector, TRIGGERS_ANNOTATION};

/// `--from-image`: a stream tag, `[NS/]STREAM:TAG`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FromImage {
    pub namespace: Option<String>,
    pub stream: String,
    pub tag: String,
}

/// Reads `--from-image` with oc's errors.
pub fn parse_from_image(s: &str) -> Result<FromImage, String> {
    let source = parse_source(s, None).map_err(|e| {
        format!(
            "the value of --from-image does not appear to be a valid reference to an image: {e}"
        )
    })?;
    match source {
        TagSource::StreamTag {
            namespace,
            stream,
            tag,
        } => Ok(FromImage {
            namespace,
            stream,
            tag,
        }),
        TagSource::Registry(image) if !image.contains(['/', '@', ':']) => Err(format!(
            "the value of --from-image must include the tag you wish to pull from: {image}:TAG"
        )),
        _ => Err(format!(
            "the value of --from-image must point to an image stream tag, [NS/]STREAM:TAG, not {s:?}"
        )),
    }
}

/// What to do to the annotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// The tag is followed by exactly these containers (`--from-image -c`), paused with `--manual`.
    Follow {
        from: FromImage,
        containers: Vec<String>,
        paused: bool,
    },
    /// `--remove --from-image`.
    Remove { from: FromImage },
    /// `--remove-all`.
    RemoveAll,
    /// `--manual` (true) or `--auto` (false) without `--from-image`: every trigger.
    Pause(bool),
}

/// One entry of the annotation, its container found by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub namespace: String,
    pub stream: String,
    pub tag: String,
    pub container: String,
    pub list: ContainerList,
    pub paused: bool,
}

/// The workload's namespace: its own, else the command's.
pub fn namespace_of<'v>(object: &'v Value, default_ns: &'v str) -> &'v str {
    object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .unwrap_or(default_ns)
}

fn container_names(object: &Value, kind: Kind, list: ContainerList) -> Vec<String> {
    object
        .pointer(&format!("{}/{}", kind.pod_spec_pointer(), list.field()))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("name").and_then(Value::as_str))
        .map(str::to_owned)
        .collect()
}

/// The entries of the annotation, and a note for each that names no
/// container of the workload (dropped when the annotation is rewritten).
pub fn entries(
    object: &Value,
    kind: Kind,
    default_ns: &str,
) -> Result<(Vec<Entry>, Vec<String>), String> {
    let ns = namespace_of(object, default_ns);
    let Some(raw) = object
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(TRIGGERS_ANNOTATION))
    else {
        return Ok((Vec::new(), Vec::new()));
    };
    let raw = raw
        .as_str()
        .ok_or_else(|| format!("annotation {TRIGGERS_ANNOTATION} is not a string"))?;
    let parsed = trigger::parse(raw, kind, ns)?;
    let mut out = Vec::with_capacity(parsed.len());
    let mut notes = Vec::new();
    for t in parsed {
        let names = container_names(object, kind, t.list);
        let container = match &t.selector {
            Selector::Name(n) if names.contains(n) => Some(n.clone()),
            Selector::Name(_) => None,
            Selector::Index(i) => names.get(*i).cloned(),
        };
        match container {
            Some(container) => out.push(Entry {
                namespace: t.namespace,
                stream: t.stream,
                tag: t.tag,
                container,
                list: t.list,
                paused: t.paused,
            }),
            None => notes.push(format!(
                "the trigger on {:?} names no container of the workload; dropped",
                t.field_path
            )),
        }
    }
    Ok((out, notes))
}

/// The workload with `edit` applied to its annotation, and notes to show;
/// the object comes back unchanged when the edit changes nothing.
pub fn apply(
    object: &Value,
    kind: Kind,
    default_ns: &str,
    edit: &Edit,
) -> Result<(Value, Vec<String>), String> {
    let ns = namespace_of(object, default_ns).to_owned();
    let (old, mut notes) = entries(object, kind, default_ns)?;
    let same = |e: &Entry, f: &FromImage| {
        e.stream == f.stream
            && e.tag == f.tag
            && e.namespace == f.namespace.as_deref().unwrap_or(&ns)
    };
    let shown = |f: &FromImage| match &f.namespace {
        Some(n) if *n != ns => format!("{n}/{}:{}", f.stream, f.tag),
        _ => format!("{}:{}", f.stream, f.tag),
    };
    let new = match edit {
        Edit::RemoveAll => Vec::new(),
        Edit::Pause(paused) => {
            if old.is_empty() {
                notes.push("the workload has no image-change triggers".into());
            }
            old.iter()
                .cloned()
                .map(|e| Entry {
                    paused: *paused,
                    ..e
                })
                .collect()
        }
        Edit::Remove { from } => {
            let kept: Vec<Entry> = old.iter().filter(|e| !same(e, from)).cloned().collect();
            if kept.len() == old.len() {
                return Err(format!("the workload has no trigger from {}", shown(from)));
            }
            kept
        }
        Edit::Follow {
            from,
            containers,
            paused,
        } => follow(object, kind, &ns, &old, from, containers, *paused)?,
    };
    if new == old && notes.is_empty() {
        return Ok((object.clone(), notes));
    }
    let mut out = object.clone();
    write(&mut out, kind, &ns, &new)?;
    Ok((out, notes))
}

fn follow(
    object: &Value,
    kind: Kind,
    ns: &str,
    old: &[Entry],
    from: &FromImage,
    containers: &[String],
    paused: bool,
) -> Result<Vec<Entry>, String> {
    if containers.is_empty() {
        return Err("you must specify --containers when setting --from-image".into());
    }
    let regular = container_names(object, kind, ContainerList::Containers);
    let init = container_names(object, kind, ContainerList::InitContainers);
    let mut missing: Vec<&str> = containers
        .iter()
        .filter(|c| !regular.contains(c) && !init.contains(c))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        missing.sort_unstable();
        let mut all: Vec<&str> = regular.iter().chain(&init).map(String::as_str).collect();
        all.sort_unstable();
        return Err(format!(
            "not all container names exist: {} (accepts: {})",
            missing.join(", "),
            all.join(", ")
        ));
    }
    let from_ns = from.namespace.as_deref().unwrap_or(ns);
    let is_from =
        |e: &Entry| e.stream == from.stream && e.tag == from.tag && e.namespace == from_ns;
    for e in old.iter().filter(|e| !is_from(e)) {
        if containers.contains(&e.container) {
            let other = if e.namespace == ns {
                format!("{}:{}", e.stream, e.tag)
            } else {
                format!("{}/{}:{}", e.namespace, e.stream, e.tag)
            };
            return Err(format!(
                "only one trigger may reference each container: {:?} follows {other}; remove that first (--remove --from-image {other})",
                e.container
            ));
        }
    }
    let mut seen = Vec::new();
    let added: Vec<Entry> = containers
        .iter()
        .filter(|c| {
            let first = !seen.contains(c);
            seen.push(*c);
            first
        })
        .map(|c| Entry {
            namespace: from_ns.to_owned(),
            stream: from.stream.clone(),
            tag: from.tag.clone(),
            container: c.clone(),
            list: if regular.contains(c) {
                ContainerList::Containers
            } else {
                ContainerList::InitContainers
            },
            paused,
        })
        .collect();
    // In place of the tag's first entry, or at the end.
    let at = old.iter().position(is_from).unwrap_or(old.len());
    let mut out: Vec<Entry> = old[..at].iter().filter(|e| !is_from(e)).cloned().collect();
    out.extend(added);
    out.extend(old[at..].iter().filter(|e| !is_from(e)).cloned());
    Ok(out)
}

/// The field path of a container's image, by name.
fn field_path(kind: Kind, entry: &Entry) -> String {
    let spec = kind
        .pod_spec_pointer()
        .trim_start_matches('/')
        .replace('/', ".");
    format!(
        "{spec}.{}[?(@.name==\"{}\")].image",
        entry.list.field(),
        entry.container
    )
}

/// Writes the annotation (removes it when nothing is followed).
fn write(object: &mut Value, kind: Kind, ns: &str, entries: &[Entry]) -> Result<(), String> {
    let metadata = object
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .ok_or("the workload has no metadata")?;
    if entries.is_empty() {
        if let Some(Value::Object(a)) = metadata.get_mut("annotations") {
            a.remove(TRIGGERS_ANNOTATION);
            if a.is_empty() {
                metadata.remove("annotations");
            }
        }
        return Ok(());
    }
    let list: Vec<Value> = entries
        .iter()
        .map(|e| {
            let mut from = Map::new();
            from.insert("kind".into(), json!("ImageStreamTag"));
            from.insert("name".into(), json!(format!("{}:{}", e.stream, e.tag)));
            if e.namespace != ns {
                from.insert("namespace".into(), json!(e.namespace));
            }
            let mut entry = Map::new();
            entry.insert("from".into(), Value::Object(from));
            entry.insert("fieldPath".into(), json!(field_path(kind, e)));
            if e.paused {
                entry.insert("paused".into(), json!(true));
            }
            Value::Object(entry)
        })
        .collect();
    let value = serde_json::to_string(&list).map_err(|e| e.to_string())?;
    // What is written is what the trigger controller reads.
    trigger::parse(&value, kind, ns)?;
    let annotations = metadata.entry("annotations").or_insert_with(|| json!({}));
    if !annotations.is_object() {
        *annotations = json!({});
    }
    if let Some(a) = annotations.as_object_mut() {
        a.insert(TRIGGERS_ANNOTATION.into(), json!(value));
    }
    Ok(())
}

/// `oc set triggers`' table of one workload: `NAME TYPE VALUE AUTO` rows
/// (without oc's `config` row: a Deployment always rolls out on a template change).
pub fn rows(
    object: &Value,
    kind: Kind,
    default_ns: &str,
    name: &str,
) -> Result<Vec<[String; 4]>, String> {
    let ns = namespace_of(object, default_ns);
    let (entries, _) = entries(object, kind, default_ns)?;
    Ok(entries
        .into_iter()
        .map(|e| {
            let from = if e.namespace == ns {
                format!("{}:{}", e.stream, e.tag)
            } else {
                format!("{}/{}:{}", e.namespace, e.stream, e.tag)
            };
            [
                format!("{}/{name}", crate::openshift::resource::plural(kind)),
                "image".to_owned(),
                format!("{from} ({})", e.container),
                (!e.paused).to_string(),
            ]
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(annotation: Option<&str>) -> Value {
        let mut d = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "myproj"},
            "spec": {"paused": false, "template": {"spec": {
                "initContainers": [{"name": "init", "image": "i"}],
                "containers": [{"name": "web", "image": "w"}, {"name": "sidecar", "image": "s"}]}}}});
        if let Some(a) = annotation {
            d["metadata"]["annotations"] = json!({TRIGGERS_ANNOTATION: a, "keep": "me"});
        }
        d
    }

    fn from(s: &str) -> FromImage {
        parse_from_image(s).expect("from-image")
    }

    fn follow(s: &str, containers: &[&str], paused: bool) -> Edit {
        Edit::Follow {
            from: from(s),
            containers: containers.iter().map(|c| c.to_string()).collect(),
            paused,
        }
    }

    fn annotation(v: &Value) -> Option<String> {
        v["metadata"]["annotations"][TRIGGERS_ANNOTATION]
            .as_str()
            .map(str::to_owned)
    }

    fn run(object: &Value, edit: &Edit) -> Value {
        apply(object, Kind::Deployment, "myproj", edit)
            .expect("applies")
            .0
    }

    const WEB: &str = r#"spec.template.spec.containers[?(@.name==\"web\")].image"#;

    #[test]
    fn as_oc_writes_it() {
        let d = deployment(None);
        let out = run(&d, &follow("marsview:prod", &["web"], false));
        assert_eq!(
            annotation(&out).as_deref(),
            Some(format!(r#"[{{"from":{{"kind":"ImageStreamTag","name":"marsview:prod"}},"fieldPath":"{WEB}"}}]"#).as_str())
        );
        // Everything else stays, spec.paused included.
        let mut back = out.clone();
        back["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("annotations");
        assert_eq!(back, d);

        let out = run(
            &d,
            &follow("other/marsview:prod", &["web", "sidecar"], false),
        );
        let list: Value = serde_json::from_str(&annotation(&out).unwrap()).unwrap();
        assert_eq!(
            list[1]["from"],
            json!({"kind": "ImageStreamTag", "name": "marsview:prod", "namespace": "other"})
        );
        assert_eq!(
            list[1]["fieldPath"],
            r#"spec.template.spec.containers[?(@.name=="sidecar")].image"#
        );

        let out = run(&d, &follow("marsview:prod", &["web"], true));
        assert!(annotation(&out).unwrap().ends_with(r#","paused":true}]"#));
        // The object's own namespace is left out even when written.
        let out = run(&d, &follow("myproj/marsview:prod", &["init"], false));
        assert_eq!(
            annotation(&out).as_deref(),
            Some(
                r#"[{"from":{"kind":"ImageStreamTag","name":"marsview:prod"},"fieldPath":"spec.template.spec.initContainers[?(@.name==\"init\")].image"}]"#
            )
        );
    }

    #[test]
    fn a_tag_covers_the_containers_last_named_for_it() {
        let d = run(
            &deployment(Some("[]")),
            &follow("app:1", &["web", "sidecar"], false),
        );
        let d = run(&d, &follow("app:1", &["sidecar"], true));
        let list: Value = serde_json::from_str(&annotation(&d).unwrap()).unwrap();
        assert_eq!(list.as_array().unwrap().len(), 1);
        assert_eq!(list[0]["paused"], json!(true));
        // A container that follows another tag is not taken over silently.
        let err = apply(
            &d,
            Kind::Deployment,
            "myproj",
            &follow("other:2", &["sidecar"], false),
        )
        .expect_err("taken");
        assert_eq!(
            err,
            "only one trigger may reference each container: \"sidecar\" follows app:1; remove that first (--remove --from-image app:1)"
        );
        // Pause and resume all; remove one; remove all.
        let d = run(&d, &follow("other:2", &["web"], false));
        let paused = run(&d, &Edit::Pause(true));
        assert_eq!(
            annotation(&paused)
                .unwrap()
                .matches("\"paused\":true")
                .count(),
            2
        );
        let resumed = run(&paused, &Edit::Pause(false));
        assert!(!annotation(&resumed).unwrap().contains("paused"));
        let removed = run(
            &resumed,
            &Edit::Remove {
                from: from("app:1"),
            },
        );
        assert!(!annotation(&removed).unwrap().contains("app:1"));
        let err = apply(
            &removed,
            Kind::Deployment,
            "myproj",
            &Edit::Remove {
                from: from("app:1"),
            },
        )
        .expect_err("gone");
        assert_eq!(err, "the workload has no trigger from app:1");
        let none = run(&removed, &Edit::RemoveAll);
        assert_eq!(annotation(&none), None);
        assert_eq!(none["metadata"]["annotations"], json!({"keep": "me"}));
        assert_eq!(run(&deployment(None), &Edit::RemoveAll), deployment(None));
    }

    #[test]
    fn errors_as_oc_words_them() {
        let d = deployment(None);
        let err = apply(
            &d,
            Kind::Deployment,
            "myproj",
            &follow("marsview:prod", &[], false),
        )
        .unwrap_err();
        assert_eq!(
            err,
            "you must specify --containers when setting --from-image"
        );
        let err = apply(
            &d,
            Kind::Deployment,
            "myproj",
            &follow("marsview:prod", &["nope", "also"], false),
        )
        .unwrap_err();
        assert_eq!(
            err,
            "not all container names exist: also, nope (accepts: init, sidecar, web)"
        );
        for (s, want) in [
            ("marsview", "must include the tag you wish to pull from"),
            ("quay.io/a/b:1", "must point to an image stream tag"),
            (
                "marsview@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                "must point to an image stream tag",
            ),
            ("Marsview:1", "does not appear to be a valid reference"),
        ] {
            let err = parse_from_image(s).expect_err(s);
            assert!(err.contains(want), "{s}: {err}");
        }
        // A malformed annotation is reported, not overwritten.
        let bad = deployment(Some("[{\"from\":{}}]"));
        assert!(apply(&bad, Kind::Deployment, "myproj", &Edit::RemoveAll).is_err());
        assert!(
            apply(&d, Kind::Pod, "myproj", &Edit::RemoveAll).is_ok(),
            "no annotation, nothing to read"
        );
    }

    #[test]
    fn existing_entries_are_kept_until_edited() {
        // An index selector resolves to its container; a no-op leaves the text alone.
        let raw = r#"[{"from":{"kind":"ImageStreamTag","name":"app:1"},"fieldPath":"spec.template.spec.containers[1].image"}]"#;
        let d = deployment(Some(raw));
        assert_eq!(run(&d, &follow("app:1", &["sidecar"], false)), d);
        assert_eq!(
            rows(&d, Kind::Deployment, "myproj", "web").unwrap(),
            vec![[
                "deployments/web".to_owned(),
                "image".into(),
                "app:1 (sidecar)".into(),
                "true".into()
            ]]
        );
        let out = run(&d, &Edit::Pause(true));
        assert!(
            annotation(&out)
                .unwrap()
                .contains(r#"containers[?(@.name==\"sidecar\")]"#)
        );
        // An entry on a container the workload lacks is dropped, and said so.
        let raw = r#"[{"from":{"kind":"ImageStreamTag","name":"app:1"},"fieldPath":"spec.template.spec.containers[?(@.name==\"gone\")].image"}]"#;
        let (out, notes) = apply(
            &deployment(Some(raw)),
            Kind::Deployment,
            "myproj",
            &Edit::Pause(true),
        )
        .unwrap();
        assert_eq!(annotation(&out), None);
        assert!(
            notes[0].contains("names no container of the workload; dropped"),
            "{notes:?}"
        );
    }

    #[test]
    fn cronjobs_and_objects_without_a_namespace() {
        let cj = json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly"},
            "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "job", "image": "j"}]}}}}}});
        let (out, _) = apply(
            &cj,
            Kind::CronJob,
            "team",
            &follow("team/batch:1", &["job"], false),
        )
        .unwrap();
        assert_eq!(
            annotation(&out).as_deref(),
            Some(
                r#"[{"from":{"kind":"ImageStreamTag","name":"batch:1"},"fieldPath":"spec.jobTemplate.spec.template.spec.containers[?(@.name==\"job\")].image"}]"#
            )
        );
        let (out, _) = apply(
            &cj,
            Kind::CronJob,
            "elsewhere",
            &follow("team/batch:1", &["job"], false),
        )
        .unwrap();
        assert!(annotation(&out).unwrap().contains(r#""namespace":"team""#));
    }
}
