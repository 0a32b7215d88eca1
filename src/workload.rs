//! Where the pod spec lives in each kind this webhook handles, and which of its
//! containers carry images.

use crate::wire::{Container, Metadata, Object, PodSpec};

/// The kinds whose pod specs carry images the webhook resolves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Pod,
    ReplicationController,
    Deployment,
    ReplicaSet,
    StatefulSet,
    DaemonSet,
    Job,
    CronJob,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::Pod,
        Kind::ReplicationController,
        Kind::Deployment,
        Kind::ReplicaSet,
        Kind::StatefulSet,
        Kind::DaemonSet,
        Kind::Job,
        Kind::CronJob,
    ];

    /// The kind for an API group and kind name; `None` for kinds left untouched.
    pub fn from_group_kind(group: &str, kind: &str) -> Option<Kind> {
        let k = match (group, kind) {
            ("", "Pod") => Kind::Pod,
            ("", "ReplicationController") => Kind::ReplicationController,
            ("apps", "Deployment") => Kind::Deployment,
            ("apps", "ReplicaSet") => Kind::ReplicaSet,
            ("apps", "StatefulSet") => Kind::StatefulSet,
            ("apps", "DaemonSet") => Kind::DaemonSet,
            ("batch", "Job") => Kind::Job,
            ("batch", "CronJob") => Kind::CronJob,
            _ => return None,
        };
        Some(k)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Pod => "Pod",
            Kind::ReplicationController => "ReplicationController",
            Kind::Deployment => "Deployment",
            Kind::ReplicaSet => "ReplicaSet",
            Kind::StatefulSet => "StatefulSet",
            Kind::DaemonSet => "DaemonSet",
            Kind::Job => "Job",
            Kind::CronJob => "CronJob",
        }
    }

    pub fn api_version(self) -> &'static str {
        match self {
            Kind::Pod | Kind::ReplicationController => "v1",
            Kind::Deployment | Kind::ReplicaSet | Kind::StatefulSet | Kind::DaemonSet => "apps/v1",
            Kind::Job | Kind::CronJob => "batch/v1",
        }
    }

    pub fn group(self) -> &'static str {
        match self.api_version().split_once('/') {
            Some((group, _)) => group,
            None => "",
        }
    }

    /// JSON pointer of the pod spec inside an object of this kind.
    pub fn pod_spec_pointer(self) -> &'static str {
        match self {
            Kind::Pod => "/spec",
            Kind::CronJob => "/spec/jobTemplate/spec/template/spec",
            _ => "/spec/template/spec",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The container lists of a pod spec, by their JSON field names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContainerList {
    Containers,
    InitContainers,
    EphemeralContainers,
}

impl ContainerList {
    pub fn field(self) -> &'static str {
        match self {
            ContainerList::Containers => "containers",
            ContainerList::InitContainers => "initContainers",
            ContainerList::EphemeralContainers => "ephemeralContainers",
        }
    }
}

/// One object's pod spec with the metadata levels that may carry the
/// resolve-names annotation (the object, a CronJob's job template, the pod template).
pub struct PodView<'o, 'a> {
    pub spec: Option<&'o PodSpec<'a>>,
    /// `alpha.image.policy.openshift.io/resolve-names: "*"` on any level.
    pub resolve_names: bool,
}

impl<'o, 'a> PodView<'o, 'a> {
    pub fn of(kind: Kind, obj: &'o Object<'a>) -> PodView<'o, 'a> {
        let mut levels: [Option<&'o Metadata<'a>>; 3] = [Some(&obj.metadata), None, None];
        let spec = match kind {
            Kind::Pod => obj.spec.as_ref(),
            Kind::CronJob => {
                let job = obj.spec.as_ref().and_then(|s| s.job_template.as_deref());
                levels[1] = job.map(|j| &j.metadata);
                let template = job
                    .and_then(|j| j.spec.as_ref())
                    .and_then(|s| s.template.as_deref());
                levels[2] = template.map(|t| &t.metadata);
                template.and_then(|t| t.spec.as_ref())
            }
            _ => {
                let template = obj.spec.as_ref().and_then(|s| s.template.as_deref());
                levels[1] = template.map(|t| &t.metadata);
                template.and_then(|t| t.spec.as_ref())
            }
        };
        let resolve_names = levels.iter().flatten().any(|m| m.annotations.resolve_names);
        PodView {
            spec,
            resolve_names,
        }
    }

    pub fn service_account(&self) -> &'o str {
        self.spec.map_or("default", |s| s.service_account())
    }

    /// Every container, in document order: containers, initContainers, ephemeralContainers.
    pub fn containers(&self) -> impl Iterator<Item = (ContainerList, usize, &'o Container<'a>)> {
        let spec = self.spec;
        [
            (
                ContainerList::Containers,
                spec.and_then(|s| s.containers.as_deref()),
            ),
            (
                ContainerList::InitContainers,
                spec.and_then(|s| s.init_containers.as_deref()),
            ),
            (
                ContainerList::EphemeralContainers,
                spec.and_then(|s| s.ephemeral_containers.as_deref()),
            ),
        ]
        .into_iter()
        .flat_map(|(list, cs)| {
            cs.unwrap_or_default()
                .iter()
                .enumerate()
                .map(move |(i, c)| (list, i, c))
        })
    }

    /// The image of the container of that list and name, for the UPDATE rule.
    pub fn image_of(&self, list: ContainerList, name: &str) -> Option<&'o str> {
        self.containers()
            .find(|(l, _, c)| *l == list && c.name.as_str() == name)
            .and_then(|(_, _, c)| c.image.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(json: &str) -> Object<'_> {
        serde_json::from_str(json).expect("test object parses")
    }

    #[test]
    fn kinds_by_group() {
        assert_eq!(
            Kind::from_group_kind("apps", "Deployment"),
            Some(Kind::Deployment)
        );
        assert_eq!(Kind::from_group_kind("", "Deployment"), None);
        assert_eq!(
            Kind::from_group_kind("batch", "CronJob"),
            Some(Kind::CronJob)
        );
        assert_eq!(Kind::from_group_kind("", "Service"), None);
        for k in Kind::ALL {
            assert_eq!(Kind::from_group_kind(k.group(), k.as_str()), Some(k));
        }
    }

    #[test]
    fn pod_view_finds_each_level() {
        let dep = object(
            r#"{"metadata":{},"spec":{"template":{"metadata":{"annotations":
            {"alpha.image.policy.openshift.io/resolve-names":"*"}},"spec":{"serviceAccountName":"sa",
            "containers":[{"name":"a","image":"x"}],"initContainers":[{"name":"i","image":"y"}]}}}}"#,
        );
        let view = PodView::of(Kind::Deployment, &dep);
        assert!(view.resolve_names);
        assert_eq!(view.service_account(), "sa");
        let found: Vec<_> = view
            .containers()
            .map(|(l, i, c)| (l.field(), i, c.name.as_str().to_owned()))
            .collect();
        assert_eq!(
            found,
            vec![
                ("containers", 0, "a".to_owned()),
                ("initContainers", 0, "i".to_owned())
            ]
        );
        assert_eq!(view.image_of(ContainerList::InitContainers, "i"), Some("y"));
        assert_eq!(view.image_of(ContainerList::Containers, "i"), None);

        // A Pod's own spec is not a template: a Deployment-shaped body read as a Pod has no containers.
        assert_eq!(PodView::of(Kind::Pod, &dep).containers().count(), 0);
    }

    #[test]
    fn cronjob_levels() {
        let cj = object(
            r#"{"metadata":{"annotations":{"alpha.image.policy.openshift.io/resolve-names":"*"}},
            "spec":{"jobTemplate":{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"x"}]}}}}}}"#,
        );
        let view = PodView::of(Kind::CronJob, &cj);
        assert!(view.resolve_names);
        assert_eq!(view.containers().count(), 1);
        assert_eq!(view.service_account(), "default");
    }
}
