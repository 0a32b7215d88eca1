//! `oc set image-lookup`: a stream's `spec.lookupPolicy.local`, or the
//! `alpha.image.policy.openshift.io/resolve-names: "*"` annotation on a
//! workload's pod template (on a pod's own metadata), which makes admission
//! resolve every short name of that workload as a stream of its namespace.

use serde_json::{Value, json};

use crate::admission::wire::RESOLVE_NAMES_ANNOTATION;
use crate::admission::workload::Kind;
use crate::stream::{ImageLookupPolicy, ImageStreamSpec};

/// Sets `lookupPolicy.local`; whether anything changed.
pub fn set_stream(spec: &mut ImageStreamSpec, enabled: bool) -> bool {
    let now = spec
        .lookup_policy
        .as_ref()
        .and_then(|p| p.local)
        .unwrap_or(false);
    let written = spec.lookup_policy.as_ref().and_then(|p| p.local).is_some();
    if now == enabled && (written || !enabled) {
        return false;
    }
    spec.lookup_policy = Some(ImageLookupPolicy {
        local: Some(enabled),
    });
    true
}

/// Where oc writes the annotation: the pod template's metadata, a pod's own.
fn template_metadata(kind: Kind) -> &'static str {
    match kind {
        Kind::Pod => "/metadata",
        Kind::CronJob => "/spec/jobTemplate/spec/template/metadata",
        _ => "/spec/template/metadata",
    }
}

/// Every level admission reads the annotation from.
fn levels(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Pod => &["/metadata"],
        Kind::CronJob => &[
            "/metadata",
            "/spec/jobTemplate/metadata",
            "/spec/jobTemplate/spec/template/metadata",
        ],
        _ => &["/metadata", "/spec/template/metadata"],
    }
}

/// Whether admission resolves the workload's short names whatever the streams say.
pub fn enabled(object: &Value, kind: Kind) -> bool {
    levels(kind).iter().any(|l| {
        object
            .pointer(&format!("{l}/annotations"))
            .and_then(|a| a.get(RESOLVE_NAMES_ANNOTATION))
            .and_then(Value::as_str)
            == Some("*")
    })
}

/// The workload with the annotation set on its template (enabled), or
/// removed from every level admission reads it from (disabled: oc removes
/// it from the template only, which would leave one on the object in force).
pub fn set_workload(object: &Value, kind: Kind, enabled: bool) -> Result<Value, String> {
    let mut out = object.clone();
    if enabled {
        let at = template_metadata(kind);
        if out.pointer(at).is_none() {
            ensure(&mut out, at)?;
        }
        let meta = out
            .pointer_mut(at)
            .and_then(Value::as_object_mut)
            .ok_or_else(|| {
                format!(
                    "{} is not a mapping",
                    at.trim_start_matches('/').replace('/', ".")
                )
            })?;
        let annotations = meta.entry("annotations").or_insert_with(|| json!({}));
        if !annotations.is_object() {
            *annotations = json!({});
        }
        if let Some(a) = annotations.as_object_mut() {
            a.insert(RESOLVE_NAMES_ANNOTATION.into(), json!("*"));
        }
    } else {
        for l in levels(kind) {
            let Some(meta) = out.pointer_mut(l).and_then(Value::as_object_mut) else {
                continue;
            };
            if let Some(Value::Object(a)) = meta.get_mut("annotations") {
                a.remove(RESOLVE_NAMES_ANNOTATION);
                if a.is_empty() {
                    meta.remove("annotations");
                }
            }
        }
    }
    Ok(out)
}

/// Creates the mappings along `pointer` (a pod template without metadata).
fn ensure(object: &mut Value, pointer: &str) -> Result<(), String> {
    let mut at = object;
    for key in pointer.trim_start_matches('/').split('/') {
        let map = at
            .as_object_mut()
            .ok_or_else(|| format!("the workload has no mapping at {pointer}"))?;
        at = map.entry(key).or_insert_with(|| json!({}));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams() {
        let mut spec = ImageStreamSpec::default();
        assert!(set_stream(&mut spec, true));
        assert_eq!(
            spec.lookup_policy,
            Some(ImageLookupPolicy { local: Some(true) })
        );
        assert!(!set_stream(&mut spec, true));
        assert!(set_stream(&mut spec, false));
        assert_eq!(
            spec.lookup_policy,
            Some(ImageLookupPolicy { local: Some(false) })
        );
        assert!(!set_stream(&mut spec, false));
        // Absent already reads as false: nothing to write.
        assert!(!set_stream(&mut ImageStreamSpec::default(), false));
    }

    #[test]
    fn workloads() {
        let d = json!({"kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"template": {"spec": {"containers": [{"name": "w", "image": "app"}]}}}});
        assert!(!enabled(&d, Kind::Deployment));
        let on = set_workload(&d, Kind::Deployment, true).unwrap();
        assert_eq!(
            on["spec"]["template"]["metadata"]["annotations"][RESOLVE_NAMES_ANNOTATION],
            "*"
        );
        assert!(enabled(&on, Kind::Deployment));
        assert_eq!(
            set_workload(&on, Kind::Deployment, false).unwrap()["spec"]["template"]["metadata"],
            json!({})
        );
        // Off removes it from the object's own metadata too.
        let mut both = on.clone();
        both["metadata"]["annotations"] = json!({RESOLVE_NAMES_ANNOTATION: "*", "other": "x"});
        let off = set_workload(&both, Kind::Deployment, false).unwrap();
        assert!(!enabled(&off, Kind::Deployment));
        assert_eq!(off["metadata"]["annotations"], json!({"other": "x"}));

        let cj = json!({"kind": "CronJob", "metadata": {"name": "n"}, "spec": {"jobTemplate": {"spec": {"template": {}}}}});
        let on = set_workload(&cj, Kind::CronJob, true).unwrap();
        assert_eq!(
            on.pointer("/spec/jobTemplate/spec/template/metadata/annotations")
                .unwrap(),
            &json!({RESOLVE_NAMES_ANNOTATION: "*"})
        );
        let pod = json!({"kind": "Pod", "metadata": {"name": "p"}, "spec": {}});
        let on = set_workload(&pod, Kind::Pod, true).unwrap();
        assert_eq!(on["metadata"]["annotations"][RESOLVE_NAMES_ANNOTATION], "*");
        // A value other than "*" does not count.
        let mut other = pod.clone();
        other["metadata"]["annotations"] = json!({RESOLVE_NAMES_ANNOTATION: "true"});
        assert!(!enabled(&other, Kind::Pod));
        assert!(
            set_workload(
                &json!({"kind": "Deployment", "spec": []}),
                Kind::Deployment,
                true
            )
            .is_err()
        );
    }
}
