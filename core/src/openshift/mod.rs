//! What OpenShift users bring with them, carried over: DeploymentConfigs
//! converted to Deployments with the triggers annotation (`convert`), `oc
//! tag`'s SOURCE and DEST grammar and the spec tag it writes (`tag_source`),
//! `oc set triggers`' edits of the triggers annotation (`trigger_edit`),
//! `oc set image-lookup`'s edits of streams and pod templates
//! (`image_lookup`), and the `TYPE/NAME` arguments of workloads
//! (`resource`). Every function takes values and returns values.

pub mod convert;
pub mod image_lookup;
pub mod resource;
pub mod tag_source;
pub mod trigger_edit;

use serde_json::Value;

/// The OpenShift kinds a manifest may hold that plain Kubernetes lacks and
/// that this product speaks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenShiftKind {
    /// `apps.openshift.io/v1` (or the legacy `v1`) DeploymentConfig: `convert` makes it a Deployment.
    DeploymentConfig,
    /// `build.openshift.io/v1` (or the legacy `v1`) BuildConfig or Build: no counterpart here.
    Build(&'static str),
}

impl OpenShiftKind {
    /// The kind of `doc`, when it is one of these.
    pub fn of(doc: &Value) -> Option<OpenShiftKind> {
        let api_version = doc.get("apiVersion").and_then(Value::as_str)?;
        let kind = doc.get("kind").and_then(Value::as_str)?;
        match (api_version, kind) {
            ("apps.openshift.io/v1" | "v1", "DeploymentConfig") => {
                Some(OpenShiftKind::DeploymentConfig)
            }
            ("build.openshift.io/v1" | "v1", "BuildConfig") => {
                Some(OpenShiftKind::Build("BuildConfig"))
            }
            ("build.openshift.io/v1" | "v1", "Build") => Some(OpenShiftKind::Build("Build")),
            _ => None,
        }
    }

    /// Why there is nothing to convert a Build or BuildConfig into.
    pub const BUILD_UNSUPPORTED: &'static str = "not supported: this product has no builds (no build controller, no registry to push to); build the image in CI and push it to a registry, then follow it with `import-image --scheduled` or `tag` (see the README, Coming from OpenShift)";
}

/// `Kind NS/NAME` (or `Kind NAME` without a namespace), for messages.
pub fn object_id(doc: &Value) -> String {
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("object");
    let name = doc
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("<no name>");
    match doc
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kinds_by_api_version() {
        let of = |v: &str, k: &str| OpenShiftKind::of(&json!({"apiVersion": v, "kind": k}));
        assert_eq!(
            of("apps.openshift.io/v1", "DeploymentConfig"),
            Some(OpenShiftKind::DeploymentConfig)
        );
        assert_eq!(
            of("v1", "DeploymentConfig"),
            Some(OpenShiftKind::DeploymentConfig)
        );
        assert_eq!(
            of("build.openshift.io/v1", "BuildConfig"),
            Some(OpenShiftKind::Build("BuildConfig"))
        );
        assert_eq!(of("apps/v1", "Deployment"), None);
        assert_eq!(of("apps/v1", "DeploymentConfig"), None);
        assert_eq!(
            object_id(
                &json!({"kind": "DeploymentConfig", "metadata": {"name": "a", "namespace": "n"}})
            ),
            "DeploymentConfig n/a"
        );
        assert_eq!(
            object_id(&json!({"kind": "BuildConfig", "metadata": {"name": "a"}})),
            "BuildConfig a"
        );
    }
}
