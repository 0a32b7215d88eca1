//! Where the pod spec lives in each kind this webhook handles, and which of its
//! fields name images the kubelet pulls: the image of every container, and
//! the reference of every image volume.

use std::collections::HashMap;

use crate::admission::wire::{Metadata, Object, PodSpec};

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

/// What names an image in a pod spec: a container of one of the three
/// lists, or an image volume (`volumes[].image.reference`, which the kubelet
/// pulls like a container's image; on by default since Kubernetes 1.35).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Holder {
    Container(ContainerList),
    Volume,
}

impl Holder {
    /// How messages and audit records call it.
    pub fn noun(self) -> &'static str {
        match self {
            Holder::Container(_) => "container",
            Holder::Volume => "volume",
        }
    }

    /// The pod spec field of its list.
    pub fn field(self) -> &'static str {
        match self {
            Holder::Container(list) => list.field(),
            Holder::Volume => "volumes",
        }
    }

    /// The image's place inside one item of the list.
    pub fn image_field(self) -> &'static str {
        match self {
            Holder::Container(_) => "image",
            Holder::Volume => "image/reference",
        }
    }
}

/// One image a pod spec names, where it names it.
#[derive(Debug, Clone, Copy)]
pub struct PodImage<'o> {
    pub holder: Holder,
    /// Position in its list.
    pub index: usize,
    /// The container's or the volume's name.
    pub name: &'o str,
    /// `None` when the field is absent (left to the API server's defaulting).
    pub image: Option<&'o str>,
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

    /// Calls `f` with every image, in document order: containers,
    /// initContainers, ephemeralContainers, then image volumes (volumes of
    /// other types are not images and are left out, so `index` may skip).
    /// Plain loops: this runs for every image of every request.
    pub fn for_each_image(&self, mut f: impl FnMut(PodImage<'o>)) {
        let Some(spec) = self.spec else { return };
        for (list, containers) in [
            (ContainerList::Containers, &spec.containers),
            (ContainerList::InitContainers, &spec.init_containers),
            (
                ContainerList::EphemeralContainers,
                &spec.ephemeral_containers,
            ),
        ] {
            for (index, c) in containers.as_deref().unwrap_or_default().iter().enumerate() {
                f(PodImage {
                    holder: Holder::Container(list),
                    index,
                    name: c.name.as_str(),
                    image: c.image.as_deref(),
                });
            }
        }
        for (index, v) in spec
            .volumes
            .as_deref()
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            if let Some(image) = &v.image {
                f(PodImage {
                    holder: Holder::Volume,
                    index,
                    name: v.name.as_str(),
                    image: image.reference.as_deref(),
                });
            }
        }
    }

    /// Every image, as `for_each_image` finds them.
    pub fn images(&self) -> Vec<PodImage<'o>> {
        let mut out = Vec::with_capacity(self.capacity());
        self.for_each_image(|img| out.push(img));
        out
    }

    /// How many images there can be: the containers and the volumes.
    pub fn capacity(&self) -> usize {
        self.spec.map_or(0, |s| {
            [&s.containers, &s.init_containers, &s.ephemeral_containers]
                .iter()
                .map(|l| l.as_ref().map_or(0, Vec::len))
                .sum::<usize>()
                + s.volumes.as_ref().map_or(0, Vec::len)
        })
    }

    /// An index of the images by holder and name, for the UPDATE rule: built
    /// once, so matching every image of the new object costs one lookup each
    /// (a scan per image made a 40,000-container UPDATE take seconds).
    pub fn index(&self) -> ImageIndex<'o> {
        let mut by_name = HashMap::with_capacity(self.capacity());
        self.for_each_image(|img| {
            // The first of a duplicated name counts, as the scan did (the
            // API server's validation refuses duplicates anyway).
            by_name.entry((img.holder, img.name)).or_insert(img.image);
        });
        ImageIndex { by_name }
    }
}

/// The images of an old object by holder and name.
pub struct ImageIndex<'o> {
    by_name: HashMap<(Holder, &'o str), Option<&'o str>>,
}

impl<'o> ImageIndex<'o> {
    /// The image of the container (of that list) or image volume called `name`.
    pub fn image_of(&self, holder: Holder, name: &'o str) -> Option<&'o str> {
        self.by_name.get(&(holder, name)).copied().flatten()
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

    fn names(view: &PodView<'_, '_>) -> Vec<(&'static str, usize, String, Option<String>)> {
        view.images()
            .into_iter()
            .map(|i| {
                (
                    i.holder.field(),
                    i.index,
                    i.name.to_owned(),
                    i.image.map(str::to_owned),
                )
            })
            .collect()
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
        assert_eq!(
            names(&view),
            vec![
                ("containers", 0, "a".to_owned(), Some("x".to_owned())),
                ("initContainers", 0, "i".to_owned(), Some("y".to_owned()))
            ]
        );
        let index = view.index();
        let init = Holder::Container(ContainerList::InitContainers);
        assert_eq!(index.image_of(init, "i"), Some("y"));
        assert_eq!(
            index.image_of(Holder::Container(ContainerList::Containers), "i"),
            None
        );

        // A Pod's own spec is not a template: a Deployment-shaped body read as a Pod has no containers.
        assert_eq!(PodView::of(Kind::Pod, &dep).images().len(), 0);
    }

    #[test]
    fn image_volumes_are_images_and_other_volumes_are_not() {
        let pod = object(
            r#"{"spec":{"containers":[{"name":"main","image":"x"}],"volumes":[
            {"name":"config","configMap":{"name":"c"}},
            {"name":"models","image":{"reference":"models:v1","pullPolicy":"IfNotPresent"}},
            {"name":"unset","image":{}},
            {"name":"nulled","image":null}]}}"#,
        );
        let view = PodView::of(Kind::Pod, &pod);
        assert_eq!(
            names(&view),
            vec![
                ("containers", 0, "main".to_owned(), Some("x".to_owned())),
                (
                    "volumes",
                    1,
                    "models".to_owned(),
                    Some("models:v1".to_owned())
                ),
                ("volumes", 2, "unset".to_owned(), None),
            ]
        );
        let index = view.index();
        assert_eq!(index.image_of(Holder::Volume, "models"), Some("models:v1"));
        // A volume and a container of the same name are different things.
        assert_eq!(index.image_of(Holder::Volume, "main"), None);
        assert_eq!(index.image_of(Holder::Volume, "config"), None);
    }

    /// The index answers what a scan by name answered: the first of a
    /// duplicated name, nothing for a missing one, nothing for an item
    /// without an image (even when a later duplicate has one).
    #[test]
    fn the_index_matches_a_scan_by_name() {
        let old = object(
            r#"{"spec":{"containers":[{"name":"a","image":"one"},{"name":"a","image":"two"},
            {"name":"b"},{"name":"b","image":"three"},{"image":"nameless"}],
            "initContainers":[{"name":"a","image":"init"}],
            "volumes":[{"name":"v","image":{"reference":"first"}},{"name":"v","image":{"reference":"second"}}]}}"#,
        );
        let view = PodView::of(Kind::Pod, &old);
        let index = view.index();
        let scan = |holder: Holder, name: &str| {
            view.images()
                .into_iter()
                .find(|i| i.holder == holder && i.name == name)
                .and_then(|i| i.image)
        };
        let containers = Holder::Container(ContainerList::Containers);
        let init = Holder::Container(ContainerList::InitContainers);
        for (holder, name, want) in [
            (containers, "a", Some("one")),
            (containers, "b", None),
            (containers, "", Some("nameless")),
            (containers, "missing", None),
            (init, "a", Some("init")),
            (init, "b", None),
            (Holder::Volume, "v", Some("first")),
            (Holder::Volume, "a", None),
        ] {
            assert_eq!(index.image_of(holder, name), want, "{holder:?} {name}");
            assert_eq!(scan(holder, name), want, "{holder:?} {name}");
        }
    }

    #[test]
    fn cronjob_levels() {
        let cj = object(
            r#"{"metadata":{"annotations":{"alpha.image.policy.openshift.io/resolve-names":"*"}},
            "spec":{"jobTemplate":{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"x"}]}}}}}}"#,
        );
        let view = PodView::of(Kind::CronJob, &cj);
        assert!(view.resolve_names);
        assert_eq!(view.images().len(), 1);
        assert_eq!(view.service_account(), "default");
    }
}
