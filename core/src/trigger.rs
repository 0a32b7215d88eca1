//! Image-change triggers: the `image.openshift.io/triggers` annotation, its
//! field paths as OpenShift writes them, and the container each one names.

use serde::Deserialize;
use serde_json::Value;

use crate::admission::workload::{ContainerList, Kind};

pub const TRIGGERS_ANNOTATION: &str = "image.openshift.io/triggers";

/// One entry of the annotation, as OpenShift's `ObjectFieldTrigger`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ObjectFieldTrigger {
    from: TriggerFrom,
    field_path: String,
    #[serde(default)]
    paused: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TriggerFrom {
    kind: String,
    name: String,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    #[allow(
        dead_code,
        reason = "OpenShift accepts it; it names the stream API, which is implied"
    )]
    api_version: Option<String>,
}

/// Which container a field path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    Name(String),
    Index(usize),
}

/// A parsed trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    /// The stream's namespace (the workload's when the annotation leaves it out).
    pub namespace: String,
    pub stream: String,
    pub tag: String,
    pub list: ContainerList,
    pub selector: Selector,
    pub field_path: String,
    pub paused: bool,
}

/// The field paths a kind's triggers may start with.
fn pod_spec_path(kind: Kind) -> Option<&'static str> {
    match kind {
        Kind::Deployment | Kind::StatefulSet | Kind::DaemonSet => Some("spec.template.spec."),
        Kind::CronJob => Some("spec.jobTemplate.spec.template.spec."),
        _ => None,
    }
}

/// Parses the annotation of a workload of `kind` in `namespace`. Any problem
/// (bad JSON, a duplicate field path, a path that names no container field,
/// a source that is not `ImageStreamTag` `STREAM:TAG`) rejects the whole
/// annotation: a malformed one is reported, never guessed at.
pub fn parse(annotation: &str, kind: Kind, namespace: &str) -> Result<Vec<Trigger>, String> {
    let raw: Vec<ObjectFieldTrigger> = serde_json::from_str(annotation)
        .map_err(|e| format!("{TRIGGERS_ANNOTATION} is not a JSON array of triggers: {e}"))?;
    let prefix = pod_spec_path(kind)
        .ok_or_else(|| format!("{kind} does not support image-change triggers"))?;
    let mut out: Vec<Trigger> = Vec::with_capacity(raw.len());
    for t in raw {
        if out.iter().any(|o| o.field_path == t.field_path) {
            return Err(format!(
                "duplicate fieldPath {:?}: each field may follow one tag",
                t.field_path
            ));
        }
        if t.from.kind != "ImageStreamTag" {
            return Err(format!(
                "trigger from.kind {:?} is not ImageStreamTag",
                t.from.kind
            ));
        }
        let (stream, tag) = match t.from.name.rsplit_once(':') {
            Some((s, tag)) if !s.is_empty() && !tag.is_empty() && !s.contains('/') => (s, tag),
            _ => {
                return Err(format!(
                    "trigger from.name {:?} is not STREAM:TAG",
                    t.from.name
                ));
            }
        };
        let rest = t.field_path.strip_prefix(prefix).ok_or_else(|| {
            format!(
                "fieldPath {:?} does not start with {prefix:?} for a {kind}",
                t.field_path
            )
        })?;
        let (list, selector) = parse_container_path(rest)
            .map_err(|why| format!("fieldPath {:?}: {why}", t.field_path))?;
        out.push(Trigger {
            namespace: t
                .from
                .namespace
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| namespace.to_owned()),
            stream: stream.to_owned(),
            tag: tag.to_owned(),
            list,
            selector,
            field_path: t.field_path,
            paused: t.paused,
        });
    }
    Ok(out)
}

/// `containers[?(@.name=="web")].image` or `initContainers[0].image`.
fn parse_container_path(rest: &str) -> Result<(ContainerList, Selector), String> {
    let (list, rest) = if let Some(r) = rest.strip_prefix("containers[") {
        (ContainerList::Containers, r)
    } else if let Some(r) = rest.strip_prefix("initContainers[") {
        (ContainerList::InitContainers, r)
    } else {
        return Err("only containers[…].image and initContainers[…].image can be followed".into());
    };
    let Some(selector) = rest.strip_suffix("].image") else {
        return Err("it must end with ].image".into());
    };
    if let Ok(i) = selector.parse::<usize>() {
        return Ok((list, Selector::Index(i)));
    }
    match selector
        .strip_prefix("?(@.name==\"")
        .and_then(|s| s.strip_suffix("\")"))
    {
        Some(name) if !name.is_empty() && !name.contains('"') => {
            Ok((list, Selector::Name(name.to_owned())))
        }
        _ => Err(format!(
            "selector {selector:?} must be an index or ?(@.name==\"NAME\") with double quotes"
        )),
    }
}

/// The JSON pointer of the image field a trigger names in `object`, and its value.
pub fn locate(trigger: &Trigger, kind: Kind, object: &Value) -> Result<(String, String), String> {
    let spec_ptr = kind.pod_spec_pointer();
    let containers = object
        .pointer(&format!("{spec_ptr}/{}", trigger.list.field()))
        .and_then(Value::as_array)
        .ok_or_else(|| {
            format!(
                "fieldPath {:?} points nowhere: the object has no {}",
                trigger.field_path,
                trigger.list.field()
            )
        })?;
    let index = match &trigger.selector {
        Selector::Index(i) if *i < containers.len() => *i,
        Selector::Index(i) => {
            return Err(format!(
                "fieldPath {:?} points nowhere: {} has {} entries, not {}",
                trigger.field_path,
                trigger.list.field(),
                containers.len(),
                i + 1
            ));
        }
        Selector::Name(name) => containers
            .iter()
            .position(|c| c.get("name").and_then(Value::as_str) == Some(name))
            .ok_or_else(|| {
                format!(
                    "fieldPath {:?} names container {name:?}, which the object does not have",
                    trigger.field_path
                )
            })?,
    };
    let pointer = format!("{spec_ptr}/{}/{index}/image", trigger.list.field());
    let image = containers[index]
        .get("image")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    Ok((pointer, image))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(annotation: &str, kind: Kind) -> Result<Trigger, String> {
        parse(annotation, kind, "team").map(|mut v| v.remove(0))
    }

    #[test]
    fn field_paths_as_openshift_writes_them() {
        let t = one(
            r#"[{"from":{"kind":"ImageStreamTag","name":"app:latest"},"fieldPath":"spec.template.spec.containers[?(@.name==\"web\")].image"}]"#,
            Kind::Deployment,
        )
        .expect("parses");
        assert_eq!(
            (t.namespace.as_str(), t.stream.as_str(), t.tag.as_str()),
            ("team", "app", "latest")
        );
        assert_eq!(
            (t.list, t.selector, t.paused),
            (
                ContainerList::Containers,
                Selector::Name("web".into()),
                false
            )
        );

        let t = one(
            r#"[{"from":{"kind":"ImageStreamTag","name":"app:1","namespace":"shared"},"fieldPath":"spec.template.spec.initContainers[0].image","paused":true}]"#,
            Kind::StatefulSet,
        )
        .expect("parses");
        assert_eq!(
            (t.namespace.as_str(), t.list, t.selector, t.paused),
            (
                "shared",
                ContainerList::InitContainers,
                Selector::Index(0),
                true
            )
        );

        let t = one(
            r#"[{"from":{"kind":"ImageStreamTag","name":"app:1"},"fieldPath":"spec.jobTemplate.spec.template.spec.containers[1].image"}]"#,
            Kind::CronJob,
        )
        .expect("cronjob");
        assert_eq!(t.selector, Selector::Index(1));
    }

    #[test]
    fn malformed_annotations_are_rejected_with_the_reason() {
        let cases = [
            ("not json", "not a JSON array"),
            (r#"{"from":{}}"#, "not a JSON array"),
            (
                r#"[{"from":{"kind":"DockerImage","name":"a:b"},"fieldPath":"spec.template.spec.containers[0].image"}]"#,
                "not ImageStreamTag",
            ),
            (
                r#"[{"from":{"kind":"ImageStreamTag","name":"app"},"fieldPath":"spec.template.spec.containers[0].image"}]"#,
                "not STREAM:TAG",
            ),
            (
                r#"[{"from":{"kind":"ImageStreamTag","name":"a:b"},"fieldPath":"spec.template.spec.containers[?(@.name=='web')].image"}]"#,
                "double quotes",
            ),
            (
                r#"[{"from":{"kind":"ImageStreamTag","name":"a:b"},"fieldPath":"spec.template.spec.containers[0].name"}]"#,
                "end with ].image",
            ),
            (
                r#"[{"from":{"kind":"ImageStreamTag","name":"a:b"},"fieldPath":"spec.jobTemplate.spec.template.spec.containers[0].image"}]"#,
                "does not start with",
            ),
            (
                r#"[{"from":{"kind":"ImageStreamTag","name":"a:b"},"fieldPath":"spec.template.spec.volumes[0].image"}]"#,
                "only containers",
            ),
            (
                r#"[{"from":{"kind":"ImageStreamTag","name":"a:b"},"fieldPath":"spec.template.spec.containers[0].image"},
                    {"from":{"kind":"ImageStreamTag","name":"c:d"},"fieldPath":"spec.template.spec.containers[0].image"}]"#,
                "duplicate fieldPath",
            ),
            (
                r#"[{"from":{"kind":"ImageStreamTag","name":"a:b"},"fieldPath":"spec.template.spec.containers[0].image","bogus":1}]"#,
                "unknown field",
            ),
        ];
        for (annotation, want) in cases {
            let err = parse(annotation, Kind::Deployment, "team").expect_err(annotation);
            assert!(err.contains(want), "{annotation}: {err}");
        }
        assert!(
            parse("[]", Kind::Pod, "team").is_err(),
            "pods have no triggers"
        );
    }

    #[test]
    fn locate_finds_the_field_or_says_why_not() {
        let dep = json!({"spec": {"template": {"spec": {
            "initContainers": [{"name": "init", "image": "i:1"}],
            "containers": [{"name": "web", "image": "w:1"}, {"name": "side", "image": "s:1"}]}}}});
        let t = |path: &str| {
            one(
                &format!(
                    r#"[{{"from":{{"kind":"ImageStreamTag","name":"a:b"}},"fieldPath":"{path}"}}]"#
                ),
                Kind::Deployment,
            )
            .expect("parses")
        };
        assert_eq!(
            locate(
                &t(r#"spec.template.spec.containers[?(@.name==\"side\")].image"#),
                Kind::Deployment,
                &dep
            ),
            Ok((
                "/spec/template/spec/containers/1/image".into(),
                "s:1".into()
            ))
        );
        assert_eq!(
            locate(
                &t("spec.template.spec.initContainers[0].image"),
                Kind::Deployment,
                &dep
            ),
            Ok((
                "/spec/template/spec/initContainers/0/image".into(),
                "i:1".into()
            ))
        );
        let err = locate(
            &t(r#"spec.template.spec.containers[?(@.name==\"nope\")].image"#),
            Kind::Deployment,
            &dep,
        )
        .expect_err("unknown");
        assert!(err.contains("which the object does not have"), "{err}");
        let err = locate(
            &t("spec.template.spec.containers[5].image"),
            Kind::Deployment,
            &dep,
        )
        .expect_err("index");
        assert!(err.contains("points nowhere"), "{err}");
    }
}
