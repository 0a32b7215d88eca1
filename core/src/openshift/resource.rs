//! `TYPE/NAME` arguments naming workloads, in kubectl's and oc's spellings
//! (`deploy/web`, `deployment.apps/web`, `cronjobs/nightly`), and how
//! messages name them back.

use crate::admission::workload::Kind;
use crate::openshift::tag_source::check_stream;

/// A workload named on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadRef {
    pub kind: Kind,
    pub name: String,
}

/// The resource (plural) of a kind, as in the API's paths.
pub fn plural(kind: Kind) -> &'static str {
    match kind {
        Kind::Pod => "pods",
        Kind::ReplicationController => "replicationcontrollers",
        Kind::Deployment => "deployments",
        Kind::ReplicaSet => "replicasets",
        Kind::StatefulSet => "statefulsets",
        Kind::DaemonSet => "daemonsets",
        Kind::Job => "jobs",
        Kind::CronJob => "cronjobs",
    }
}

/// `deployment.apps/web`, as kubectl and oc name an object in their messages.
pub fn shown(kind: Kind, name: &str) -> String {
    let lower = kind.as_str().to_ascii_lowercase();
    match kind.group() {
        "" => format!("{lower}/{name}"),
        group => format!("{lower}.{group}/{name}"),
    }
}

/// The kind a `TYPE` spelling names.
fn kind_of(kind: &str) -> Option<Kind> {
    let (resource, group) = match kind.split_once('.') {
        Some((r, g)) => (r, Some(g)),
        None => (kind, None),
    };
    let k = match resource.to_ascii_lowercase().as_str() {
        "po" | "pod" | "pods" => Kind::Pod,
        "rc" | "replicationcontroller" | "replicationcontrollers" => Kind::ReplicationController,
        "deploy" | "deployment" | "deployments" => Kind::Deployment,
        "rs" | "replicaset" | "replicasets" => Kind::ReplicaSet,
        "sts" | "statefulset" | "statefulsets" => Kind::StatefulSet,
        "ds" | "daemonset" | "daemonsets" => Kind::DaemonSet,
        "job" | "jobs" => Kind::Job,
        "cj" | "cronjob" | "cronjobs" => Kind::CronJob,
        _ => return None,
    };
    match group {
        Some(g) if g != k.group() => None,
        _ => Some(k),
    }
}

/// Reads `TYPE/NAME` for one of the `allowed` kinds.
pub fn parse(arg: &str, allowed: &[Kind]) -> Result<WorkloadRef, String> {
    let names: Vec<String> = allowed.iter().map(|k| plural(*k).to_owned()).collect();
    let Some((kind, name)) = arg.split_once('/') else {
        return Err(format!(
            "{arg:?} is not TYPE/NAME (TYPE one of {})",
            names.join(", ")
        ));
    };
    let kind = kind_of(kind)
        .filter(|k| allowed.contains(k))
        .ok_or_else(|| format!("{arg:?}: TYPE must be one of {}", names.join(", ")))?;
    check_stream(name).map_err(|_| format!("{arg:?}: {name:?} is not a Kubernetes name"))?;
    Ok(WorkloadRef {
        kind,
        name: name.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings() {
        let four = [
            Kind::Deployment,
            Kind::StatefulSet,
            Kind::DaemonSet,
            Kind::CronJob,
        ];
        for (arg, kind) in [
            ("deploy/web", Kind::Deployment),
            ("deployments/web", Kind::Deployment),
            ("deployment.apps/web", Kind::Deployment),
            ("sts/web", Kind::StatefulSet),
            ("ds/web", Kind::DaemonSet),
            ("cronjob/web", Kind::CronJob),
            ("cronjobs.batch/web", Kind::CronJob),
        ] {
            assert_eq!(
                parse(arg, &four),
                Ok(WorkloadRef {
                    kind,
                    name: "web".into()
                }),
                "{arg}"
            );
        }
        for (arg, want) in [
            ("web", "is not TYPE/NAME"),
            (
                "pod/web",
                "TYPE must be one of deployments, statefulsets, daemonsets, cronjobs",
            ),
            ("deployment.batch/web", "TYPE must be one of"),
            ("deploy/Web", "is not a Kubernetes name"),
            ("deploy/", "is not a Kubernetes name"),
        ] {
            let err = parse(arg, &four).expect_err(arg);
            assert!(err.contains(want), "{arg}: {err}");
        }
        assert_eq!(parse("po/p", &Kind::ALL).map(|r| r.kind), Ok(Kind::Pod));
        assert_eq!(shown(Kind::Deployment, "web"), "deployment.apps/web");
        assert_eq!(shown(Kind::Pod, "p"), "pod/p");
        assert_eq!(shown(Kind::CronJob, "n"), "cronjob.batch/n");
    }
}
