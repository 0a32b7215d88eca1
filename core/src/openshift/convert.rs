//! A DeploymentConfig as the `apps/v1` Deployment that behaves like it: the
//! same metadata, replicas, history, template and rollout strategy, and each
//! `ImageChange` trigger as entries of the `image.openshift.io/triggers`
//! annotation, which the trigger controller (here or OpenShift's) follows.
//!
//! What a Deployment cannot express (lifecycle hooks, a custom deployer,
//! `test: true`, a trigger on a container the template lacks) is a
//! [`Problem`]: nothing is converted unless the caller forces it, and then
//! each one is named as left out. Tuning with no equivalent (deployer pod
//! deadlines, polling intervals) is named in the notes when it differs from
//! OpenShift's defaults, which any exported DeploymentConfig carries.

use serde_json::{Map, Value, json};

use crate::admission::workload::Kind;
use crate::trigger::{self, TRIGGERS_ANNOTATION};

/// Something of the DeploymentConfig the Deployment cannot keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub text: String,
    /// `--force` may leave it out; otherwise no Deployment can be made at all.
    pub forceable: bool,
}

/// The Deployment, and what the caller should tell about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Converted {
    pub deployment: Value,
    /// Forced problems: what was left out.
    pub left_out: Vec<String>,
    /// Differences in behaviour that need no decision, said so they are not silent.
    pub notes: Vec<String>,
}

/// OpenShift's defaults for the fields that have no Deployment equivalent.
const DEFAULT_INTERVAL_SECONDS: i64 = 1;
const DEFAULT_UPDATE_PERIOD_SECONDS: i64 = 1;
const DEFAULT_TIMEOUT_SECONDS: i64 = 600;
const DEFAULT_ACTIVE_DEADLINE_SECONDS: i64 = 21600;
/// OpenShift's default for `maxSurge` and `maxUnavailable` when neither is set.
const DEFAULT_MAX: &str = "25%";

/// The fields of a DeploymentConfig's spec, for naming the ones that are not.
const SPEC_FIELDS: [&str; 9] = [
    "strategy",
    "minReadySeconds",
    "triggers",
    "replicas",
    "revisionHistoryLimit",
    "test",
    "paused",
    "selector",
    "template",
];

/// Converts one DeploymentConfig. `force` turns forceable problems into
/// things left out; problems that leave no valid Deployment stay errors.
pub fn convert(dc: &Value, force: bool) -> Result<Converted, Vec<Problem>> {
    let mut work = Work::default();
    let deployment = build(dc, &mut work);
    let blocking = work.problems.iter().any(|p| !p.forceable || !force);
    match deployment {
        Some(deployment) if !blocking => Ok(Converted {
            deployment,
            left_out: work.problems.into_iter().map(|p| p.text).collect(),
            notes: work.notes,
        }),
        _ => Err(work.problems),
    }
}

#[derive(Default)]
struct Work {
    problems: Vec<Problem>,
    notes: Vec<String>,
}

impl Work {
    fn fatal(&mut self, text: String) {
        self.problems.push(Problem {
            text,
            forceable: false,
        });
    }

    fn refuse(&mut self, text: String) {
        self.problems.push(Problem {
            text,
            forceable: true,
        });
    }
}

fn build(dc: &Value, work: &mut Work) -> Option<Value> {
    let Some(name) = dc
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    else {
        work.fatal("metadata.name is missing".into());
        return None;
    };
    let namespace = dc
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty());
    let Some(spec) = dc.get("spec").and_then(Value::as_object) else {
        work.fatal("spec is missing or not a mapping".into());
        return None;
    };
    for key in spec.keys() {
        if !SPEC_FIELDS.contains(&key.as_str()) {
            work.notes.push(format!(
                "spec.{key} is not a DeploymentConfig field; left out"
            ));
        }
    }
    let Some(template) = spec.get("template").filter(|t| t.is_object()) else {
        work.fatal("spec.template is missing: a Deployment needs a pod template".into());
        return None;
    };
    let selector = selector(spec, template, work)?;
    if spec.get("test").and_then(Value::as_bool) == Some(true) {
        work.refuse("spec.test: true (scale to 0 after each rollout, for testing) has no Deployment equivalent".into());
    }
    let strategy = strategy(spec.get("strategy"), work);
    let entries = triggers(spec.get("triggers"), template, namespace, work);

    let mut metadata = Map::new();
    metadata.insert("name".into(), json!(name));
    if let Some(ns) = namespace {
        metadata.insert("namespace".into(), json!(ns));
    }
    if let Some(labels) = dc.pointer("/metadata/labels").filter(|l| is_filled(l)) {
        metadata.insert("labels".into(), labels.clone());
    }
    let mut annotations = dc
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if !entries.is_empty() {
        if annotations.contains_key(TRIGGERS_ANNOTATION) {
            work.fatal(format!("metadata.annotations already holds {TRIGGERS_ANNOTATION}, which the ImageChange triggers would replace; keep one of them"));
        }
        let value = serde_json::to_string(&entries).unwrap_or_default();
        // Our own trigger controller must accept what is written.
        if let Err(e) = trigger::parse(&value, Kind::Deployment, namespace.unwrap_or("default")) {
            work.fatal(format!(
                "the triggers annotation made from spec.triggers would be invalid: {e}"
            ));
        }
        annotations.insert(TRIGGERS_ANNOTATION.into(), json!(value));
    }
    if !annotations.is_empty() {
        metadata.insert("annotations".into(), Value::Object(annotations));
    }

    let mut out = Map::new();
    let replicas = match spec.get("replicas") {
        Some(r) if !r.is_null() => r.clone(),
        _ => {
            work.notes.push("spec.replicas is not set, which a DeploymentConfig reads as 0; the Deployment says replicas: 0 (a Deployment without it runs 1)".into());
            json!(0)
        }
    };
    out.insert("replicas".into(), replicas);
    out.insert("selector".into(), json!({"matchLabels": selector}));
    out.insert("strategy".into(), strategy);
    for key in ["minReadySeconds", "revisionHistoryLimit", "paused"] {
        if let Some(v) = spec.get(key).filter(|v| !v.is_null()) {
            out.insert(key.into(), v.clone());
        }
    }
    out.insert("template".into(), template.clone());
    Some(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": out,
    }))
}

fn is_filled(v: &Value) -> bool {
    v.as_object().is_some_and(|m| !m.is_empty())
}

/// `spec.selector`, or the template's labels as OpenShift defaults it; it
/// must select the template's pods, as the API server requires of a Deployment.
fn selector(spec: &Map<String, Value>, template: &Value, work: &mut Work) -> Option<Value> {
    let labels = template
        .pointer("/metadata/labels")
        .and_then(Value::as_object);
    let selector = match spec.get("selector").and_then(Value::as_object) {
        Some(s) if !s.is_empty() => s,
        _ => match labels.filter(|l| !l.is_empty()) {
            Some(l) => l,
            None => {
                work.fatal("spec.selector is empty and the template has no labels: a Deployment needs a selector".into());
                return None;
            }
        },
    };
    let unmatched: Vec<String> = selector
        .iter()
        .filter(|(k, v)| labels.and_then(|l| l.get(*k)) != Some(*v))
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("?")))
        .collect();
    if !unmatched.is_empty() {
        work.fatal(format!(
            "spec.selector ({}) does not match the template's labels; a Deployment's selector must",
            unmatched.join(", ")
        ));
        return None;
    }
    Some(Value::Object(selector.clone()))
}

fn int(v: Option<&Value>) -> Option<i64> {
    v.and_then(Value::as_i64)
}

fn is_zero(v: &Value) -> bool {
    v.as_i64() == Some(0) || v.as_str() == Some("0%")
}

/// The Deployment strategy for `spec.strategy`.
fn strategy(strategy: Option<&Value>, work: &mut Work) -> Value {
    let empty = Map::new();
    let s = strategy.and_then(Value::as_object).unwrap_or(&empty);
    let kind = s.get("type").and_then(Value::as_str).unwrap_or("Rolling");
    if s.get("customParams").is_some_and(|c| !c.is_null()) {
        work.refuse("spec.strategy.customParams (a deployer image of your own) has no Deployment equivalent".into());
    }
    let hooks: &[(&str, &[&str])] = &[
        ("rollingParams", &["pre", "post"]),
        ("recreateParams", &["pre", "mid", "post"]),
    ];
    for (params, names) in hooks {
        for hook in *names {
            if s.get(*params)
                .and_then(|p| p.get(*hook))
                .is_some_and(|h| !h.is_null())
            {
                work.refuse(format!(
                    "lifecycle hook spec.strategy.{params}.{hook} has no Deployment equivalent (use a Job, an init container or your deploy tool's hooks)"
                ));
            }
        }
    }
    if let Some(d) =
        int(s.get("activeDeadlineSeconds")).filter(|d| *d != DEFAULT_ACTIVE_DEADLINE_SECONDS)
    {
        work.notes.push(format!("spec.strategy.activeDeadlineSeconds ({d}) limits OpenShift's deployer pod; a Deployment has none, left out"));
    }
    for key in ["resources", "labels", "annotations"] {
        if s.get(key).is_some_and(is_filled) {
            work.notes.push(format!("spec.strategy.{key} applies to OpenShift's deployer pods; a Deployment has none, left out"));
        }
    }
    match kind {
        "Rolling" => {
            let params = s.get("rollingParams");
            let field = |k: &str| params.and_then(|p| p.get(k)).filter(|v| !v.is_null());
            for (key, default) in [
                ("intervalSeconds", DEFAULT_INTERVAL_SECONDS),
                ("updatePeriodSeconds", DEFAULT_UPDATE_PERIOD_SECONDS),
            ] {
                if let Some(v) = int(field(key)).filter(|v| *v != default) {
                    work.notes.push(format!("spec.strategy.rollingParams.{key} ({v}) paces OpenShift's deployer; a Deployment has no equivalent, left out"));
                }
            }
            if let Some(v) = int(field("timeoutSeconds")).filter(|v| *v != DEFAULT_TIMEOUT_SECONDS)
            {
                work.notes.push(format!("spec.strategy.rollingParams.timeoutSeconds ({v}) is left out; the nearest is spec.progressDeadlineSeconds, which marks a stuck rollout failed but does not roll it back"));
            }
            // OpenShift's defaulting: neither set is 25% each; one set to 0
            // gives the other 25%; one set to anything else leaves the other 0.
            let (surge, unavailable) = match (field("maxSurge"), field("maxUnavailable")) {
                (None, None) => (json!(DEFAULT_MAX), json!(DEFAULT_MAX)),
                (Some(s), None) if is_zero(s) => (s.clone(), json!(DEFAULT_MAX)),
                (Some(s), None) => (s.clone(), json!(0)),
                (None, Some(u)) if is_zero(u) => (json!(DEFAULT_MAX), u.clone()),
                (None, Some(u)) => (json!(0), u.clone()),
                (Some(s), Some(u)) => (s.clone(), u.clone()),
            };
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}})
        }
        "Recreate" => {
            if let Some(v) = int(s
                .get("recreateParams")
                .and_then(|p| p.get("timeoutSeconds")))
            .filter(|v| *v != DEFAULT_TIMEOUT_SECONDS)
            {
                work.notes.push(format!("spec.strategy.recreateParams.timeoutSeconds ({v}) has no Deployment equivalent, left out"));
            }
            json!({"type": "Recreate"})
        }
        "Custom" => {
            work.refuse("spec.strategy.type Custom (a deployer image of your own) has no Deployment equivalent; forced, the Deployment rolls out with RollingUpdate 25%/25%".into());
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": DEFAULT_MAX, "maxUnavailable": DEFAULT_MAX}})
        }
        other => {
            work.fatal(format!(
                "spec.strategy.type {other:?} is not Rolling, Recreate or Custom"
            ));
            Value::Null
        }
    }
}

/// The annotation's entries for `spec.triggers`, in order: one per
/// container name of each ImageChange trigger.
fn triggers(
    triggers: Option<&Value>,
    template: &Value,
    namespace: Option<&str>,
    work: &mut Work,
) -> Vec<Value> {
    let list = match triggers {
        // OpenShift's default when the field is absent: ConfigChange only.
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Array(list)) => list,
        Some(_) => {
            work.fatal("spec.triggers is not a list".into());
            return Vec::new();
        }
    };
    let containers = names_in(template, "containers");
    let init = names_in(template, "initContainers");
    let mut entries = Vec::new();
    let mut followed: Vec<String> = Vec::new();
    let mut config_change = false;
    for (i, t) in list.iter().enumerate() {
        let at = format!("spec.triggers[{i}]");
        match t.get("type").and_then(Value::as_str) {
            Some("ConfigChange") => config_change = true,
            Some("ImageChange") => {
                let Some(params) = t.get("imageChangeParams").filter(|p| p.is_object()) else {
                    work.refuse(format!(
                        "{at} (ImageChange) has no imageChangeParams; it follows nothing"
                    ));
                    continue;
                };
                image_change(
                    &at,
                    params,
                    &containers,
                    &init,
                    namespace,
                    &mut followed,
                    &mut entries,
                    work,
                );
            }
            other => work.refuse(format!(
                "{at} has type {}, which is not ConfigChange or ImageChange",
                other.map_or_else(|| "<none>".to_owned(), |o| format!("{o:?}"))
            )),
        }
    }
    if !config_change {
        work.notes.push("spec.triggers has no ConfigChange trigger, but a Deployment rolls out on every template change (spec.paused: true stops that, and image-change rollouts with it)".into());
    }
    entries
}

fn names_in(template: &Value, list: &str) -> Vec<String> {
    template
        .pointer(&format!("/spec/{list}"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("name").and_then(Value::as_str))
        .map(str::to_owned)
        .collect()
}

#[allow(
    clippy::too_many_arguments,
    reason = "one trigger's context, passed down once"
)]
fn image_change(
    at: &str,
    params: &Value,
    containers: &[String],
    init: &[String],
    namespace: Option<&str>,
    followed: &mut Vec<String>,
    entries: &mut Vec<Value>,
    work: &mut Work,
) {
    let from = params.get("from");
    let kind = from
        .and_then(|f| f.get("kind"))
        .and_then(Value::as_str)
        .unwrap_or("ImageStreamTag");
    let name = from
        .and_then(|f| f.get("name"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let from_ns = from
        .and_then(|f| f.get("namespace"))
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .or(namespace);
    let shown = match from_ns {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_owned(),
    };
    if kind != "ImageStreamTag" {
        work.refuse(format!(
            "{at} follows a {kind}; only an ImageStreamTag can be followed"
        ));
        return;
    }
    let valid_name = matches!(name.rsplit_once(':'), Some((s, t)) if !s.is_empty() && !t.is_empty() && !s.contains('/'));
    if !valid_name {
        work.refuse(format!("{at} follows {name:?}, which is not STREAM:TAG"));
        return;
    }
    let names: Vec<&str> = params
        .get("containerNames")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if names.is_empty() {
        work.refuse(format!(
            "{at} (ImageChange from {shown}) names no container in containerNames"
        ));
        return;
    }
    let automatic = params.get("automatic").and_then(Value::as_bool) == Some(true);
    for c in names {
        let list = if containers.iter().any(|n| n == c) {
            "containers"
        } else if init.iter().any(|n| n == c) {
            "initContainers"
        } else {
            let all: Vec<&str> = containers.iter().chain(init).map(String::as_str).collect();
            work.refuse(format!(
                "{at} (ImageChange from {shown}) names container {c:?}, which the template does not have (its containers: {}); name one of those in containerNames, or rename the container",
                if all.is_empty() { "none".to_owned() } else { all.join(", ") }
            ));
            continue;
        };
        if followed.iter().any(|f| f == c) {
            work.refuse(format!(
                "{at} (ImageChange from {shown}) names container {c:?}, which an earlier trigger follows already"
            ));
            continue;
        }
        followed.push(c.to_owned());
        let mut from = Map::new();
        from.insert("kind".into(), json!("ImageStreamTag"));
        from.insert("name".into(), json!(name));
        if let Some(ns) = from_ns {
            from.insert("namespace".into(), json!(ns));
        }
        let mut entry = Map::new();
        entry.insert("from".into(), Value::Object(from));
        entry.insert(
            "fieldPath".into(),
            json!(format!(
                "spec.template.spec.{list}[?(@.name==\"{c}\")].image"
            )),
        );
        if !automatic {
            entry.insert("paused".into(), json!(true));
        }
        entries.push(Value::Object(entry));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A DeploymentConfig as `oc get dc -o yaml` prints it (defaulted), with `spec` changed by `edit`.
    fn dc(edit: impl FnOnce(&mut Value)) -> Value {
        let mut v: Value = crate::manifest::yaml_values(
            r#"
apiVersion: apps.openshift.io/v1
kind: DeploymentConfig
metadata:
  name: marsview
  namespace: myproj
  labels: {app: marsview}
  annotations: {openshift.io/generated-by: OpenShiftNewApp}
  uid: 0b6c2f3e-1111-2222-3333-444455556666
  resourceVersion: "123"
  generation: 4
spec:
  replicas: 2
  revisionHistoryLimit: 10
  minReadySeconds: 5
  selector: {app: marsview, deploymentconfig: marsview}
  strategy:
    activeDeadlineSeconds: 21600
    resources: {}
    rollingParams: {intervalSeconds: 1, maxSurge: 25%, maxUnavailable: 25%, timeoutSeconds: 600, updatePeriodSeconds: 1}
    type: Rolling
  template:
    metadata: {labels: {app: marsview, deploymentconfig: marsview}}
    spec:
      initContainers:
      - {name: migrate, image: "toolbox:stable"}
      containers:
      - {name: web, image: "image-registry.openshift-image-registry.svc:5000/myproj/marsview@sha256:aaa"}
      - {name: sidecar, image: "proxy:1"}
  test: false
  triggers:
  - type: ConfigChange
  - type: ImageChange
    imageChangeParams:
      automatic: true
      containerNames: [web]
      from: {kind: ImageStreamTag, name: "marsview:prod", namespace: myproj}
      lastTriggeredImage: "image-registry.openshift-image-registry.svc:5000/myproj/marsview@sha256:aaa"
status: {latestVersion: 3}
"#,
            1,
        )
        .expect("fixture parses")
        .remove(0);
        edit(v.get_mut("spec").expect("spec"));
        v
    }

    type SpecEdit<'a> = Box<dyn Fn(&mut Value) + 'a>;

    fn ok(v: &Value) -> Converted {
        convert(v, false).unwrap_or_else(|p| panic!("refused: {p:?}"))
    }

    fn refused(v: &Value) -> Vec<Problem> {
        convert(v, false).expect_err("refused")
    }

    fn annotation(c: &Converted) -> Value {
        let raw = c.deployment["metadata"]["annotations"][TRIGGERS_ANNOTATION]
            .as_str()
            .expect("annotation");
        serde_json::from_str(raw).expect("JSON")
    }

    #[test]
    fn an_exported_deploymentconfig_becomes_its_deployment() {
        let c = ok(&dc(|_| {}));
        assert_eq!(c.notes, Vec::<String>::new());
        assert_eq!(c.left_out, Vec::<String>::new());
        let want: Value = crate::manifest::yaml_values(
            r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: marsview
  namespace: myproj
  labels: {app: marsview}
  annotations:
    openshift.io/generated-by: OpenShiftNewApp
    image.openshift.io/triggers: '[{"from":{"kind":"ImageStreamTag","name":"marsview:prod","namespace":"myproj"},"fieldPath":"spec.template.spec.containers[?(@.name==\"web\")].image"}]'
spec:
  replicas: 2
  selector:
    matchLabels: {app: marsview, deploymentconfig: marsview}
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 25%, maxUnavailable: 25%}}
  minReadySeconds: 5
  revisionHistoryLimit: 10
  template:
    metadata: {labels: {app: marsview, deploymentconfig: marsview}}
    spec:
      initContainers:
      - {name: migrate, image: "toolbox:stable"}
      containers:
      - {name: web, image: "image-registry.openshift-image-registry.svc:5000/myproj/marsview@sha256:aaa"}
      - {name: sidecar, image: "proxy:1"}
"#,
            1,
        )
        .expect("parses")
        .remove(0);
        assert_eq!(c.deployment, want);
        // The key order a reader expects, too.
        let keys: Vec<&String> = c.deployment["spec"].as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "replicas",
                "selector",
                "strategy",
                "minReadySeconds",
                "revisionHistoryLimit",
                "template"
            ]
        );
    }

    #[test]
    fn strategies() {
        let rolling = |params: Value| {
            ok(&dc(|s| {
                s["strategy"] = json!({"type": "Rolling", "rollingParams": params});
            }))
            .deployment["spec"]["strategy"]
                .clone()
        };
        let ru = |surge: Value, unavailable: Value| json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}});
        let table = [
            (json!({}), ru(json!("25%"), json!("25%"))),
            (
                json!({"maxSurge": 3, "maxUnavailable": "10%"}),
                ru(json!(3), json!("10%")),
            ),
            (json!({"maxSurge": 0}), ru(json!(0), json!("25%"))),
            (
                json!({"maxUnavailable": "0%"}),
                ru(json!("25%"), json!("0%")),
            ),
            // One set to something else: OpenShift reads the other as 0.
            (json!({"maxSurge": "50%"}), ru(json!("50%"), json!(0))),
            (json!({"maxUnavailable": 1}), ru(json!(0), json!(1))),
        ];
        for (params, want) in table {
            assert_eq!(rolling(params.clone()), want, "{params}");
        }
        // No strategy at all is Rolling with the defaults.
        let c = ok(&dc(|s| {
            s.as_object_mut().unwrap().remove("strategy");
        }));
        assert_eq!(
            c.deployment["spec"]["strategy"],
            ru(json!("25%"), json!("25%"))
        );
        let c = ok(&dc(|s| {
            s["strategy"] = json!({"type": "Recreate", "recreateParams": {"timeoutSeconds": 600}});
        }));
        assert_eq!(
            c.deployment["spec"]["strategy"],
            json!({"type": "Recreate"})
        );
        assert!(c.notes.is_empty(), "{:?}", c.notes);
    }

    #[test]
    fn tuning_without_an_equivalent_is_named_when_not_the_default() {
        let c = ok(&dc(|s| {
            s["strategy"] = json!({"type": "Rolling", "activeDeadlineSeconds": 100,
                "resources": {"limits": {"cpu": "1"}},
                "rollingParams": {"intervalSeconds": 2, "updatePeriodSeconds": 3, "timeoutSeconds": 900}});
        }));
        let notes = c.notes.join("\n");
        for want in [
            "activeDeadlineSeconds (100)",
            "spec.strategy.resources",
            "intervalSeconds (2)",
            "updatePeriodSeconds (3)",
            "timeoutSeconds (900) is left out; the nearest is spec.progressDeadlineSeconds",
        ] {
            assert!(notes.contains(want), "{want}: {notes}");
        }
        assert!(
            c.deployment["spec"]
                .get("progressDeadlineSeconds")
                .is_none()
        );
    }

    #[test]
    fn trigger_forms() {
        let with = |triggers: Value| ok(&dc(|s| s["triggers"] = triggers));
        // Several containers, an init container, automatic: false, no namespace.
        let c = with(json!([
            {"type": "ConfigChange"},
            {"type": "ImageChange", "imageChangeParams": {"automatic": true, "containerNames": ["web", "migrate"],
                "from": {"kind": "ImageStreamTag", "name": "marsview:prod", "namespace": "shared"}}},
            {"type": "ImageChange", "imageChangeParams": {"automatic": false, "containerNames": ["sidecar"],
                "from": {"name": "proxy:1"}}},
        ]));
        assert_eq!(
            annotation(&c),
            json!([
                {"from": {"kind": "ImageStreamTag", "name": "marsview:prod", "namespace": "shared"},
                 "fieldPath": "spec.template.spec.containers[?(@.name==\"web\")].image"},
                {"from": {"kind": "ImageStreamTag", "name": "marsview:prod", "namespace": "shared"},
                 "fieldPath": "spec.template.spec.initContainers[?(@.name==\"migrate\")].image"},
                {"from": {"kind": "ImageStreamTag", "name": "proxy:1", "namespace": "myproj"},
                 "fieldPath": "spec.template.spec.containers[?(@.name==\"sidecar\")].image",
                 "paused": true},
            ])
        );
        // automatic absent is false, as in OpenShift's API.
        let c = with(json!([{"type": "ConfigChange"}, {"type": "ImageChange",
            "imageChangeParams": {"containerNames": ["web"], "from": {"name": "marsview:prod"}}}]));
        assert_eq!(annotation(&c)[0]["paused"], json!(true));
        // ConfigChange only (and triggers absent): no annotation, nothing to say.
        for triggers in [json!([{"type": "ConfigChange"}]), Value::Null] {
            let c = with(triggers);
            assert!(
                c.deployment["metadata"]["annotations"]
                    .get(TRIGGERS_ANNOTATION)
                    .is_none()
            );
            assert!(c.notes.is_empty(), "{:?}", c.notes);
        }
        // Without ConfigChange the difference is said.
        let c = with(json!([]));
        assert!(
            c.notes[0].contains("no ConfigChange trigger"),
            "{:?}",
            c.notes
        );
        // A DeploymentConfig without a namespace: the trigger follows its own.
        let mut v = dc(|s| {
            s["triggers"] = json!([{"type": "ImageChange", "imageChangeParams":
            {"automatic": true, "containerNames": ["web"], "from": {"name": "marsview:prod"}}}])
        });
        v["metadata"].as_object_mut().unwrap().remove("namespace");
        let c = ok(&v);
        assert_eq!(
            annotation(&c)[0]["from"],
            json!({"kind": "ImageStreamTag", "name": "marsview:prod"})
        );
        assert!(c.deployment["metadata"].get("namespace").is_none());
    }

    #[test]
    fn refusals_name_what_and_force_leaves_it_out() {
        let ic = |names: Value, from: Value| {
            json!([{"type": "ConfigChange"}, {"type": "ImageChange",
                "imageChangeParams": {"automatic": true, "containerNames": names, "from": from}}])
        };
        let table: Vec<(SpecEdit, &str)> = vec![
            (
                Box::new(|s| {
                    s["triggers"] = ic(json!(["marsview"]), json!({"name": "marsview:latest"}))
                }),
                "spec.triggers[1] (ImageChange from myproj/marsview:latest) names container \"marsview\", which the template does not have (its containers: web, sidecar, migrate)",
            ),
            (
                Box::new(|s| s["triggers"] = ic(json!([]), json!({"name": "marsview:latest"}))),
                "names no container",
            ),
            (
                Box::new(|s| {
                    s["triggers"] = ic(
                        json!(["web"]),
                        json!({"kind": "DockerImage", "name": "quay.io/a/b:1"}),
                    )
                }),
                "follows a DockerImage",
            ),
            (
                Box::new(|s| s["triggers"] = ic(json!(["web"]), json!({"name": "marsview"}))),
                "not STREAM:TAG",
            ),
            (
                Box::new(|s| s["triggers"] = json!([{"type": "Webhook"}])),
                "type \"Webhook\", which is not ConfigChange or ImageChange",
            ),
            (
                Box::new(
                    |s| s["strategy"]["rollingParams"]["pre"] = json!({"failurePolicy": "Abort", "execNewPod": {"command": ["migrate"], "containerName": "web"}}),
                ),
                "lifecycle hook spec.strategy.rollingParams.pre",
            ),
            (
                Box::new(
                    |s| s["strategy"] = json!({"type": "Recreate", "recreateParams": {"mid": {"failurePolicy": "Ignore"}}}),
                ),
                "lifecycle hook spec.strategy.recreateParams.mid",
            ),
            (
                Box::new(|s| {
                    s["strategy"] =
                        json!({"type": "Custom", "customParams": {"image": "deployer:1"}})
                }),
                "spec.strategy.type Custom",
            ),
            (Box::new(|s| s["test"] = json!(true)), "spec.test: true"),
        ];
        for (edit, want) in table {
            let v = dc(|s| edit(s));
            let problems = refused(&v);
            let text: Vec<&str> = problems.iter().map(|p| p.text.as_str()).collect();
            assert!(text.iter().any(|t| t.contains(want)), "{want}: {text:?}");
            assert!(problems.iter().all(|p| p.forceable), "{text:?}");
            let forced = convert(&v, true).expect("forced");
            assert!(
                forced.left_out.iter().any(|t| t.contains(want)),
                "{want}: {:?}",
                forced.left_out
            );
            assert_eq!(forced.deployment["kind"], "Deployment");
        }
        // Forced, a missing container drops only its own entry.
        let v = dc(|s| {
            s["triggers"] = ic(
                json!(["marsview", "web"]),
                json!({"name": "marsview:latest"}),
            )
        });
        let forced = convert(&v, true).expect("forced");
        let entries = annotation(&forced);
        assert_eq!(entries.as_array().unwrap().len(), 1);
        assert!(
            entries[0]["fieldPath"]
                .as_str()
                .unwrap()
                .contains("\"web\"")
        );
        // Two triggers on one container: the second is refused.
        let v = dc(|s| {
            s["triggers"] = json!([
                {"type": "ImageChange", "imageChangeParams": {"automatic": true, "containerNames": ["web"], "from": {"name": "a:1"}}},
                {"type": "ImageChange", "imageChangeParams": {"automatic": true, "containerNames": ["web"], "from": {"name": "b:1"}}},
            ])
        });
        assert!(
            refused(&v)[0]
                .text
                .contains("an earlier trigger follows already")
        );
    }

    #[test]
    fn what_no_deployment_can_be_made_of_is_refused_even_forced() {
        let table: Vec<(Value, &str)> = vec![
            (
                dc(|s| {
                    s.as_object_mut().unwrap().remove("template");
                }),
                "spec.template is missing",
            ),
            (
                dc(|s| s["selector"] = json!({"app": "other"})),
                "spec.selector (app=other) does not match",
            ),
            (
                dc(|s| {
                    s["selector"] = json!({});
                    s["template"]["metadata"] = json!({});
                }),
                "spec.selector is empty",
            ),
            (
                dc(|s| s["strategy"]["type"] = json!("Blue")),
                "\"Blue\" is not Rolling",
            ),
            (
                dc(|s| s["triggers"] = json!("ConfigChange")),
                "spec.triggers is not a list",
            ),
            (
                json!({"apiVersion": "apps.openshift.io/v1", "kind": "DeploymentConfig", "metadata": {"name": "x"}}),
                "spec is missing",
            ),
            (
                json!({"apiVersion": "apps.openshift.io/v1", "kind": "DeploymentConfig", "spec": {}}),
                "metadata.name is missing",
            ),
        ];
        for (v, want) in table {
            let problems = convert(&v, true).expect_err(want);
            assert!(
                problems
                    .iter()
                    .any(|p| !p.forceable && p.text.contains(want)),
                "{want}: {problems:?}"
            );
        }
        // An empty selector defaults to the template's labels, as in OpenShift.
        let c = ok(&dc(|s| s["selector"] = json!({})));
        assert_eq!(
            c.deployment["spec"]["selector"],
            json!({"matchLabels": {"app": "marsview", "deploymentconfig": "marsview"}})
        );
    }

    #[test]
    fn replicas_absent_is_zero_as_openshift_reads_it() {
        let c = ok(&dc(|s| {
            s.as_object_mut().unwrap().remove("replicas");
        }));
        assert_eq!(c.deployment["spec"]["replicas"], json!(0));
        assert!(c.notes[0].contains("reads as 0"), "{:?}", c.notes);
        let c = ok(&dc(|s| s["paused"] = json!(true)));
        assert_eq!(c.deployment["spec"]["paused"], json!(true));
    }
}
