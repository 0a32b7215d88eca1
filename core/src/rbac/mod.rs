//! Kubernetes RBAC evaluated locally, for directory mode: Role, ClusterRole,
//! RoleBinding and ClusterRoleBinding objects read from files answer the same
//! questions the API server's RBAC authorizer would answer about them.
//!
//! The semantics are those of Kubernetes' `plugin/pkg/auth/authorizer/rbac`,
//! `pkg/registry/rbac/validation` and the ClusterRole aggregation controller:
//!
//! - A ClusterRoleBinding grants in every namespace and for cluster-scoped
//!   requests; a RoleBinding grants only for requests in its own namespace.
//!   A RoleBinding's `roleRef` may name a Role (looked up in the binding's
//!   namespace only) or a ClusterRole. A ClusterRoleBinding can only use a
//!   ClusterRole. A `roleRef` that resolves to nothing grants nothing.
//! - Subjects: `User` matches the user name exactly, `Group` one of the
//!   groups exactly, `ServiceAccount` the user name
//!   `system:serviceaccount:NS:NAME`. A ServiceAccount subject without a
//!   namespace means the binding's namespace in a RoleBinding (Kubernetes'
//!   authorizer defaults it that way too, although API validation would
//!   reject such an object) and matches nothing in a ClusterRoleBinding.
//!   A subject's `apiGroup` and a `roleRef`'s `apiGroup` are not looked at,
//!   as in Kubernetes.
//! - Rules: `*` matches every verb, API group and resource; `""` is the core
//!   group; a subresource request is matched against `resource/subresource`
//!   exactly, or `*/subresource`. Kubernetes deliberately has no
//!   `resource/*` form (kubernetes/kubernetes#78936, kubernetes/enhancements#4961:
//!   it would grant subresources added later), so `imagestreams/*` matches
//!   only a subresource literally named `*`, and plain `imagestreams` never
//!   matches `imagestreams/layers`. Non-empty `resourceNames` must list the
//!   requested name. `nonResourceURLs` rules never match resource requests.
//! - Aggregation: a ClusterRole with an `aggregationRule` has exactly the
//!   rules the aggregation controller writes into it in a cluster: those of
//!   every other ClusterRole whose labels match one of its selectors
//!   (`matchLabels` and `matchExpressions`). Its own hand-written `rules`
//!   never count, since the controller replaces them. A matched role that is itself
//!   aggregated contributes its aggregate, followed transitively, so
//!   hand-written chains such as admin → edit → view behave as in a cluster;
//!   a role matching its own selectors is skipped, as the controller skips
//!   it, and roles that select each other hold only what some non-aggregated
//!   role brings in (the state the controller reaches from roles created
//!   without rules). An aggregation rule the API server would refuse (no
//!   selectors; an unknown operator, `In`/`NotIn` without values,
//!   `Exists`/`DoesNotExist` with values) gives the role no rules at all:
//!   such a role cannot exist in a cluster. An empty selector matches every
//!   ClusterRole, as in Kubernetes. Objects exported from a cluster keep
//!   their meaning only with the roles they aggregate exported too.
//! - When several objects share a kind and name (and namespace), the last one
//!   given wins, as if they had been applied in that order.

mod aggregate;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef,
    Subject as BindingSubject,
};

use aggregate::aggregate;

const SERVICE_ACCOUNT_USER_PREFIX: &str = "system:serviceaccount:";
const SERVICE_ACCOUNTS_GROUP: &str = "system:serviceaccounts";
const AUTHENTICATED_GROUP: &str = "system:authenticated";

/// Who asks: a user name and its groups, as the authorizer sees them.
///
/// `G` is the element type of `groups`; it is `&str` unless the subject comes
/// from [`ServiceAccountSubject::subject`], which lends its own `String`s.
#[derive(Debug)]
pub struct Subject<'a, G = &'a str> {
    /// The user name, e.g. `system:serviceaccount:toms-project:default`.
    pub user: &'a str,
    /// Every group the user is in; RBAC does not imply any.
    pub groups: &'a [G],
}

// Written out because a derive would demand `G: Copy`, which `String` is not,
// although only a reference to the groups is copied.
impl<G> Clone for Subject<'_, G> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<G> Copy for Subject<'_, G> {}

impl<'a> Subject<'a> {
    /// The subject a pod running as service account `namespace/name` presents:
    /// user `system:serviceaccount:NS:NAME` in groups `system:serviceaccounts`,
    /// `system:serviceaccounts:NS` and `system:authenticated`.
    pub fn service_account(namespace: &str, name: &str) -> ServiceAccountSubject {
        ServiceAccountSubject {
            user: service_account_user(namespace, name),
            groups: [
                SERVICE_ACCOUNTS_GROUP.to_owned(),
                format!("{SERVICE_ACCOUNTS_GROUP}:{namespace}"),
                AUTHENTICATED_GROUP.to_owned(),
            ],
        }
    }
}

/// A service account's user name and groups, owned so that
/// [`Subject::service_account`] can hand them out; borrow them with
/// [`ServiceAccountSubject::subject`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccountSubject {
    user: String,
    groups: [String; 3],
}

impl ServiceAccountSubject {
    /// The subject to pass to [`RbacIndex::authorize`].
    pub fn subject(&self) -> Subject<'_, String> {
        Subject {
            user: &self.user,
            groups: &self.groups,
        }
    }

    /// The user name, `system:serviceaccount:NS:NAME`.
    pub fn user(&self) -> &str {
        &self.user
    }
}

/// What is asked: Kubernetes' resource attributes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Attributes<'a> {
    /// The API verb, e.g. `get`.
    pub verb: &'a str,
    /// The API group; `""` is the core group.
    pub api_group: &'a str,
    /// The resource, e.g. `imagestreams`.
    pub resource: &'a str,
    /// The subresource, e.g. `layers`, or `""`.
    pub subresource: &'a str,
    /// The namespace, or `""` for a cluster-scoped request (only
    /// ClusterRoleBindings can grant those).
    pub namespace: &'a str,
    /// The object's name, or `""` when the request names none.
    pub name: &'a str,
}

impl fmt::Display for Attributes<'_> {
    /// `get on imagestreams/layers (image.openshift.io) named "base"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} on {}", self.verb, self.resource)?;
        if !self.subresource.is_empty() {
            write!(f, "/{}", self.subresource)?;
        }
        if self.api_group.is_empty() {
            f.write_str(" (core)")?;
        } else {
            write!(f, " ({})", self.api_group)?;
        }
        if !self.name.is_empty() {
            write!(f, " named {:?}", self.name)?;
        }
        Ok(())
    }
}

/// The answer to one question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authorization {
    /// The binding and role that grant it, e.g. `RoleBinding
    /// shared-images/pullers -> ClusterRole system:image-puller` or
    /// `ClusterRoleBinding x -> ClusterRole y`.
    Allowed { via: String },
    /// Nothing grants it; `reason` says what was looked for, and names the
    /// bindings that apply to the subject but refer to a role that does not
    /// exist.
    Denied { reason: String },
}

impl Authorization {
    /// Whether access is granted.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Authorization::Allowed { .. })
    }
}

/// An immutable index of RBAC objects, built once per directory reload.
///
/// Role references are resolved and aggregation is computed when it is built,
/// and bindings are indexed by the users and groups they name, so
/// [`RbacIndex::authorize`] only looks at the bindings that name the subject.
#[derive(Debug, Clone, Default)]
pub struct RbacIndex {
    /// Effective rules of each Role and ClusterRole, shared by the bindings
    /// that refer to them.
    rule_sets: Vec<Vec<PolicyRule>>,
    /// Every binding, ClusterRoleBindings by name, then RoleBindings by
    /// namespace and name: an index's position is its precedence.
    bindings: Vec<Binding>,
    /// Which ClusterRoleBindings name a user or group.
    cluster: SubjectIndex,
    /// Which RoleBindings name a user or group, by the bindings' namespace.
    namespaced: HashMap<String, SubjectIndex>,
    objects: usize,
}

#[derive(Debug, Clone)]
struct Binding {
    /// `RoleBinding ns/name` or `ClusterRoleBinding name`.
    source: String,
    grant: Grant,
}

#[derive(Debug, Clone)]
enum Grant {
    /// The role (`ClusterRole name` or `Role ns/name`) and its rule set.
    Role { role: String, rules: usize },
    /// Why the `roleRef` resolves to nothing, as the end of a sentence about
    /// the binding.
    Unresolved(String),
}

/// Binding positions by the user name or group name a binding names, each
/// list ascending and free of duplicates.
#[derive(Debug, Clone, Default)]
struct SubjectIndex {
    users: HashMap<String, Vec<usize>>,
    groups: HashMap<String, Vec<usize>>,
}

impl SubjectIndex {
    fn add_user(&mut self, user: String, binding: usize) {
        push_once(self.users.entry(user).or_default(), binding);
    }

    fn add_group(&mut self, group: String, binding: usize) {
        push_once(self.groups.entry(group).or_default(), binding);
    }

    fn collect<G: AsRef<str>>(&self, subject: &Subject<'_, G>, into: &mut Vec<usize>) {
        if let Some(ids) = self.users.get(subject.user) {
            into.extend_from_slice(ids);
        }
        for group in subject.groups {
            if let Some(ids) = self.groups.get(group.as_ref()) {
                into.extend_from_slice(ids);
            }
        }
    }
}

// Bindings are added in ascending position, so checking the last entry is
// enough to keep a binding that names the subject twice from appearing twice.
fn push_once(ids: &mut Vec<usize>, id: usize) {
    if ids.last() != Some(&id) {
        ids.push(id);
    }
}

/// Sorts ClusterRoleBindings before RoleBindings (the order Kubernetes visits
/// them in, and alphabetical by kind), then by namespace and name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum BindingKind {
    ClusterRoleBinding,
    RoleBinding,
}

struct BindingSource<'o> {
    role_ref: &'o RoleRef,
    subjects: &'o [BindingSubject],
}

impl RbacIndex {
    /// Indexes the given objects; see the module documentation for what
    /// they mean. Never fails: objects that refer to nothing grant nothing.
    pub fn build<'o>(
        roles: impl IntoIterator<Item = &'o Role>,
        cluster_roles: impl IntoIterator<Item = &'o ClusterRole>,
        role_bindings: impl IntoIterator<Item = &'o RoleBinding>,
        cluster_role_bindings: impl IntoIterator<Item = &'o ClusterRoleBinding>,
    ) -> RbacIndex {
        let mut objects = 0;

        // BTreeMaps give last-wins for duplicates and a deterministic order.
        let mut role_objects: BTreeMap<(&str, &str), &Role> = BTreeMap::new();
        for role in roles {
            objects += 1;
            role_objects.insert(
                (namespace_of(&role.metadata), name_of(&role.metadata)),
                role,
            );
        }
        let mut cluster_role_objects: BTreeMap<&str, &ClusterRole> = BTreeMap::new();
        for cluster_role in cluster_roles {
            objects += 1;
            cluster_role_objects.insert(name_of(&cluster_role.metadata), cluster_role);
        }
        let mut binding_objects: BTreeMap<(BindingKind, &str, &str), BindingSource<'_>> =
            BTreeMap::new();
        for binding in cluster_role_bindings {
            objects += 1;
            binding_objects.insert(
                (
                    BindingKind::ClusterRoleBinding,
                    "",
                    name_of(&binding.metadata),
                ),
                BindingSource {
                    role_ref: &binding.role_ref,
                    subjects: binding.subjects.as_deref().unwrap_or_default(),
                },
            );
        }
        for binding in role_bindings {
            objects += 1;
            binding_objects.insert(
                (
                    BindingKind::RoleBinding,
                    namespace_of(&binding.metadata),
                    name_of(&binding.metadata),
                ),
                BindingSource {
                    role_ref: &binding.role_ref,
                    subjects: binding.subjects.as_deref().unwrap_or_default(),
                },
            );
        }

        let mut rule_sets = Vec::new();
        let mut role_rules: HashMap<(&str, &str), usize> = HashMap::new();
        let mut role_namespaces: HashMap<&str, BTreeSet<&str>> = HashMap::new();
        for (&(namespace, name), role) in &role_objects {
            role_rules.insert((namespace, name), rule_sets.len());
            rule_sets.push(role.rules.clone().unwrap_or_default());
            role_namespaces.entry(name).or_default().insert(namespace);
        }
        let mut cluster_role_rules: HashMap<&str, usize> = HashMap::new();
        for (name, rules) in aggregate(&cluster_role_objects) {
            cluster_role_rules.insert(name, rule_sets.len());
            rule_sets.push(rules);
        }

        let mut bindings = Vec::with_capacity(binding_objects.len());
        let mut cluster = SubjectIndex::default();
        let mut namespaced: HashMap<String, SubjectIndex> = HashMap::new();
        for ((kind, namespace, name), source) in binding_objects {
            let id = bindings.len();
            let role_ref = source.role_ref;
            let (source_name, index, default_namespace) = match kind {
                BindingKind::ClusterRoleBinding => {
                    (format!("ClusterRoleBinding {name}"), &mut cluster, None)
                }
                BindingKind::RoleBinding => (
                    format!("RoleBinding {namespace}/{name}"),
                    namespaced.entry(namespace.to_owned()).or_default(),
                    Some(namespace).filter(|ns| !ns.is_empty()),
                ),
            };
            let grant = match (kind, role_ref.kind.as_str()) {
                (_, "ClusterRole") => match cluster_role_rules.get(role_ref.name.as_str()) {
                    Some(&rules) => Grant::Role {
                        role: format!("ClusterRole {}", role_ref.name),
                        rules,
                    },
                    None => Grant::Unresolved(format!(
                        "its ClusterRole {:?} does not exist",
                        role_ref.name
                    )),
                },
                (BindingKind::RoleBinding, "Role") => {
                    match role_rules.get(&(namespace, role_ref.name.as_str())) {
                        Some(&rules) => Grant::Role {
                            role: format!("Role {namespace}/{}", role_ref.name),
                            rules,
                        },
                        None => Grant::Unresolved(missing_role(
                            namespace,
                            &role_ref.name,
                            role_namespaces.get(role_ref.name.as_str()),
                        )),
                    }
                }
                (BindingKind::ClusterRoleBinding, "Role") => Grant::Unresolved(format!(
                    "it refers to Role {:?}, and a ClusterRoleBinding can only refer to a ClusterRole",
                    role_ref.name
                )),
                (_, other) => Grant::Unresolved(format!(
                    "its roleRef kind {other:?} is neither Role nor ClusterRole"
                )),
            };
            for subject in source.subjects {
                match subject.kind.as_str() {
                    "User" => index.add_user(subject.name.clone(), id),
                    "Group" => index.add_group(subject.name.clone(), id),
                    "ServiceAccount" => {
                        let sa_namespace = subject
                            .namespace
                            .as_deref()
                            .filter(|ns| !ns.is_empty())
                            .or(default_namespace);
                        if let Some(sa_namespace) = sa_namespace {
                            index.add_user(service_account_user(sa_namespace, &subject.name), id);
                        }
                    }
                    // Kubernetes knows no other subject kinds; they match nobody.
                    _ => {}
                }
            }
            bindings.push(Binding {
                source: source_name,
                grant,
            });
        }

        RbacIndex {
            rule_sets,
            bindings,
            cluster,
            namespaced,
            objects,
        }
    }

    /// Whether `subject` may do what `attrs` describe: allowed by the first
    /// binding, in the index's order, whose role has a matching rule.
    pub fn authorize<G: AsRef<str>>(
        &self,
        subject: &Subject<'_, G>,
        attrs: &Attributes<'_>,
    ) -> Authorization {
        let mut unresolved = Vec::new();
        for id in self.candidates(subject, attrs.namespace) {
            let binding = &self.bindings[id];
            match &binding.grant {
                Grant::Role { role, rules } => {
                    if self.rule_sets[*rules]
                        .iter()
                        .any(|rule| rule_allows(rule, attrs))
                    {
                        return Authorization::Allowed {
                            via: format!("{} -> {role}", binding.source),
                        };
                    }
                }
                Grant::Unresolved(why) => unresolved.push(format!(
                    "{} applies to {} but {why}",
                    binding.source, subject.user
                )),
            }
        }
        let mut reason = if attrs.namespace.is_empty() {
            String::from("no ClusterRoleBinding")
        } else {
            format!(
                "no RoleBinding in namespace {:?} or ClusterRoleBinding",
                attrs.namespace
            )
        };
        reason.push_str(&format!(" grants {attrs} to {}", subject.user));
        for note in unresolved {
            reason.push_str("; ");
            reason.push_str(&note);
        }
        Authorization::Denied { reason }
    }

    /// True when the index was built from no objects at all.
    pub fn is_empty(&self) -> bool {
        self.objects == 0
    }

    /// Positions of the bindings that name the subject and can grant in
    /// `namespace`, in precedence order.
    fn candidates<G: AsRef<str>>(&self, subject: &Subject<'_, G>, namespace: &str) -> Vec<usize> {
        let mut ids = Vec::new();
        self.cluster.collect(subject, &mut ids);
        // A cluster-scoped request is never granted by a RoleBinding.
        if !namespace.is_empty()
            && let Some(index) = self.namespaced.get(namespace)
        {
            index.collect(subject, &mut ids);
        }
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

fn namespace_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> &str {
    meta.namespace.as_deref().unwrap_or_default()
}

fn name_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> &str {
    meta.name.as_deref().unwrap_or_default()
}

fn service_account_user(namespace: &str, name: &str) -> String {
    format!("{SERVICE_ACCOUNT_USER_PREFIX}{namespace}:{name}")
}

// A Role of the right name in another namespace is the usual cause, so say so.
fn missing_role(namespace: &str, name: &str, elsewhere: Option<&BTreeSet<&str>>) -> String {
    let mut text = format!("its Role {name:?} does not exist in namespace {namespace:?}");
    if let Some(elsewhere) = elsewhere.filter(|set| !set.is_empty()) {
        let list: Vec<String> = elsewhere.iter().map(|ns| format!("{ns:?}")).collect();
        text.push_str(&format!(
            " (a Role of that name exists in namespace {}, but a RoleBinding can only use a Role of its own namespace)",
            list.join(", ")
        ));
    }
    text
}

/// Kubernetes' `RuleAllows` for a resource request.
fn rule_allows(rule: &PolicyRule, attrs: &Attributes<'_>) -> bool {
    rule.verbs.iter().any(|v| v == "*" || v == attrs.verb)
        && rule
            .api_groups
            .iter()
            .flatten()
            .any(|g| g == "*" || g == attrs.api_group)
        && rule
            .resources
            .iter()
            .flatten()
            .any(|r| resource_matches(r, attrs.resource, attrs.subresource))
        && rule
            .resource_names
            .as_ref()
            .is_none_or(|names| names.is_empty() || names.iter().any(|n| n == attrs.name))
}

/// One entry of a rule's `resources` against `resource[/subresource]`.
fn resource_matches(rule_resource: &str, resource: &str, subresource: &str) -> bool {
    if rule_resource == "*" {
        return true;
    }
    if subresource.is_empty() {
        return rule_resource == resource;
    }
    let combined = rule_resource
        .strip_prefix(resource)
        .and_then(|rest| rest.strip_prefix('/'));
    combined == Some(subresource) || rule_resource.strip_prefix("*/") == Some(subresource)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// Objects parsed from a YAML list; `apiVersion` may be left out.
    #[derive(Default)]
    struct Objects {
        roles: Vec<Role>,
        cluster_roles: Vec<ClusterRole>,
        role_bindings: Vec<RoleBinding>,
        cluster_role_bindings: Vec<ClusterRoleBinding>,
    }

    impl Objects {
        fn parse(yaml: &str) -> Objects {
            let docs: Vec<Value> = serde_saphyr::from_str(yaml).expect("fixture YAML");
            let mut objects = Objects::default();
            for mut doc in docs {
                doc["apiVersion"] = "rbac.authorization.k8s.io/v1".into();
                let kind = doc["kind"].as_str().expect("kind").to_owned();
                match kind.as_str() {
                    "Role" => objects
                        .roles
                        .push(serde_json::from_value(doc).expect("Role")),
                    "ClusterRole" => objects
                        .cluster_roles
                        .push(serde_json::from_value(doc).expect("ClusterRole")),
                    "RoleBinding" => objects
                        .role_bindings
                        .push(serde_json::from_value(doc).expect("RoleBinding")),
                    "ClusterRoleBinding" => objects
                        .cluster_role_bindings
                        .push(serde_json::from_value(doc).expect("ClusterRoleBinding")),
                    other => panic!("unexpected kind {other}"),
                }
            }
            objects
        }

        fn index(&self) -> RbacIndex {
            RbacIndex::build(
                &self.roles,
                &self.cluster_roles,
                &self.role_bindings,
                &self.cluster_role_bindings,
            )
        }
    }

    /// Each scenario has a namespace of its own so that they cannot grant
    /// each other's cases.
    const FIXTURE: &str = r#"
# OpenShift's role for pulling from image streams.
- kind: ClusterRole
  metadata: {name: system:image-puller}
  rules:
  - apiGroups: ["", image.openshift.io]
    resources: [imagestreams/layers]
    verbs: [get]

- kind: RoleBinding
  metadata: {name: pullers, namespace: shared-images}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:image-puller}
  subjects:
  - {kind: ServiceAccount, name: default, namespace: toms-project}

- kind: RoleBinding
  metadata: {name: team-b, namespace: team-b-images}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:image-puller}
  subjects:
  - {kind: Group, apiGroup: rbac.authorization.k8s.io, name: "system:serviceaccounts:team-b"}

- kind: RoleBinding
  metadata: {name: all-service-accounts, namespace: public-images}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:image-puller}
  subjects:
  - {kind: Group, apiGroup: rbac.authorization.k8s.io, name: system:serviceaccounts}

- kind: RoleBinding
  metadata: {name: everyone, namespace: open-images}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:image-puller}
  subjects:
  - {kind: Group, apiGroup: rbac.authorization.k8s.io, name: system:authenticated}

- kind: RoleBinding
  metadata: {name: deployer-as-user, namespace: user-images}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:image-puller}
  subjects:
  - {kind: User, apiGroup: rbac.authorization.k8s.io, name: "system:serviceaccount:toms-project:deployer"}

# resourceNames
- kind: ClusterRole
  metadata: {name: base-puller}
  rules:
  - apiGroups: [image.openshift.io]
    resources: [imagestreams/layers]
    resourceNames: [base]
    verbs: [get]
- kind: RoleBinding
  metadata: {name: base-only, namespace: named-images}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: base-puller}
  subjects:
  - {kind: ServiceAccount, name: default, namespace: toms-project}

# Wildcards, one per namespace.
- kind: ClusterRole
  metadata: {name: any-verb}
  rules: [{apiGroups: [image.openshift.io], resources: [imagestreams/layers], verbs: ["*"]}]
- kind: ClusterRole
  metadata: {name: any-group}
  rules: [{apiGroups: ["*"], resources: [imagestreams/layers], verbs: [get]}]
- kind: ClusterRole
  metadata: {name: any-resource}
  rules: [{apiGroups: [image.openshift.io], resources: ["*"], verbs: [get]}]
- kind: ClusterRole
  metadata: {name: layers-of-anything}
  rules: [{apiGroups: [image.openshift.io], resources: ["*/layers"], verbs: [get]}]
- kind: ClusterRole
  metadata: {name: imagestream-subresources}
  rules: [{apiGroups: [image.openshift.io], resources: ["imagestreams/*"], verbs: [get]}]
- kind: ClusterRole
  metadata: {name: stream-reader}
  rules: [{apiGroups: [image.openshift.io], resources: [imagestreams], verbs: [get]}]
- kind: ClusterRole
  metadata: {name: all-urls}
  rules: [{nonResourceURLs: ["*"], verbs: ["*"]}]
- kind: RoleBinding
  metadata: {name: b, namespace: wild-verbs}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: any-verb}
  subjects: [{kind: ServiceAccount, name: default, namespace: toms-project}]
- kind: RoleBinding
  metadata: {name: b, namespace: wild-groups}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: any-group}
  subjects: [{kind: ServiceAccount, name: default, namespace: toms-project}]
- kind: RoleBinding
  metadata: {name: b, namespace: wild-resources}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: any-resource}
  subjects: [{kind: ServiceAccount, name: default, namespace: toms-project}]
- kind: RoleBinding
  metadata: {name: b, namespace: star-layers}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: layers-of-anything}
  subjects: [{kind: ServiceAccount, name: default, namespace: toms-project}]
- kind: RoleBinding
  metadata: {name: b, namespace: streams-star}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: imagestream-subresources}
  subjects: [{kind: ServiceAccount, name: default, namespace: toms-project}]
- kind: RoleBinding
  metadata: {name: b, namespace: plain-streams}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: stream-reader}
  subjects: [{kind: ServiceAccount, name: default, namespace: toms-project}]
- kind: RoleBinding
  metadata: {name: b, namespace: urls-only}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: all-urls}
  subjects: [{kind: ServiceAccount, name: default, namespace: toms-project}]

# Cluster-wide grants.
- kind: ClusterRoleBinding
  metadata: {name: ci-pulls-everywhere}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:image-puller}
  subjects: [{kind: ServiceAccount, name: robot, namespace: ci}]
- kind: ClusterRoleBinding
  metadata: {name: sa-without-namespace}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:image-puller}
  subjects: [{kind: ServiceAccount, name: orphan}]
- kind: ClusterRoleBinding
  metadata: {name: cluster-binding-to-role}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: layer-reader}
  subjects: [{kind: ServiceAccount, name: misbound, namespace: ci}]

# Roles.
- kind: Role
  metadata: {name: layer-reader, namespace: role-local}
  rules: [{apiGroups: [image.openshift.io], resources: [imagestreams/layers], verbs: [get]}]
- kind: RoleBinding
  metadata: {name: readers, namespace: role-local}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: layer-reader}
  subjects: [{kind: ServiceAccount, name: default, namespace: toms-project}]
- kind: RoleBinding
  metadata: {name: readers, namespace: role-remote}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: layer-reader}
  subjects: [{kind: ServiceAccount, name: default, namespace: toms-project}]

# A typo in roleRef.
- kind: RoleBinding
  metadata: {name: pullers, namespace: typo-images}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:image-pullr}
  subjects: [{kind: ServiceAccount, name: default, namespace: toms-project}]

# A ServiceAccount subject without namespace in a RoleBinding.
- kind: RoleBinding
  metadata: {name: local-builder, namespace: implicit-ns}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:image-puller}
  subjects: [{kind: ServiceAccount, name: builder}]

# Two grants: the first in order names the result.
- kind: RoleBinding
  metadata: {name: z-last, namespace: two-grants}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: any-verb}
  subjects: [{kind: ServiceAccount, name: default, namespace: toms-project}]
- kind: RoleBinding
  metadata: {name: a-first, namespace: two-grants}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:image-puller}
  subjects: [{kind: ServiceAccount, name: default, namespace: toms-project}]

# Aggregation by matchLabels.
- kind: ClusterRole
  metadata: {name: stream-aggregate}
  aggregationRule:
    clusterRoleSelectors:
    - matchLabels: {example.com/aggregate-to-streams: "true"}
- kind: ClusterRole
  metadata:
    name: stream-layers-part
    labels: {example.com/aggregate-to-streams: "true"}
  rules: [{apiGroups: [image.openshift.io], resources: [imagestreams/layers], verbs: [get]}]
- kind: RoleBinding
  metadata: {name: agg, namespace: agg-labels}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: stream-aggregate}
  subjects: [{kind: ServiceAccount, name: default, namespace: toms-project}]

# Aggregation by matchExpressions: each part grants its own verb.
- kind: ClusterRole
  metadata: {name: part-silver, labels: {family: agg-test, tier: silver}}
  rules: [{apiGroups: [image.openshift.io], resources: [imagestreams/layers], verbs: [get]}]
- kind: ClusterRole
  metadata: {name: part-bronze, labels: {family: agg-test, tier: bronze}}
  rules: [{apiGroups: [image.openshift.io], resources: [imagestreams/layers], verbs: [list]}]
- kind: ClusterRole
  metadata: {name: part-untiered, labels: {family: agg-test}}
  rules: [{apiGroups: [image.openshift.io], resources: [imagestreams/layers], verbs: [watch]}]
- kind: ClusterRole
  metadata: {name: agg-in}
  aggregationRule:
    clusterRoleSelectors:
    - matchExpressions: [{key: tier, operator: In, values: [gold, silver]}]
- kind: ClusterRole
  metadata: {name: agg-notin}
  aggregationRule:
    clusterRoleSelectors:
    - matchLabels: {family: agg-test}
      matchExpressions: [{key: tier, operator: NotIn, values: [silver]}]
- kind: ClusterRole
  metadata: {name: agg-exists}
  aggregationRule:
    clusterRoleSelectors:
    - matchLabels: {family: agg-test}
      matchExpressions: [{key: tier, operator: Exists}]
- kind: ClusterRole
  metadata: {name: agg-doesnotexist}
  aggregationRule:
    clusterRoleSelectors:
    - matchLabels: {family: agg-test}
      matchExpressions: [{key: tier, operator: DoesNotExist}]
- kind: ClusterRole
  metadata: {name: agg-invalid}
  aggregationRule:
    clusterRoleSelectors:
    - matchExpressions: [{key: tier, operator: In, values: []}]
- kind: RoleBinding
  metadata: {name: b, namespace: agg-in}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: agg-in}
  subjects: [{kind: ServiceAccount, name: default, namespace: toms-project}]
- kind: RoleBinding
  metadata: {name: b, namespace: agg-notin}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: agg-notin}
  subjects: [{kind: ServiceAccount, name: default, namespace: toms-project}]
- kind: RoleBinding
  metadata: {name: b, namespace: agg-exists}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: agg-exists}
  subjects: [{kind: ServiceAccount, name: default, namespace: toms-project}]
- kind: RoleBinding
  metadata: {name: b, namespace: agg-doesnotexist}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: agg-doesnotexist}
  subjects: [{kind: ServiceAccount, name: default, namespace: toms-project}]
- kind: RoleBinding
  metadata: {name: b, namespace: agg-invalid}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: agg-invalid}
  subjects: [{kind: ServiceAccount, name: default, namespace: toms-project}]

# Aggregated roles selecting each other, and a chain like admin -> edit -> view.
- kind: ClusterRole
  metadata: {name: loop-a, labels: {loop: a}}
  aggregationRule: {clusterRoleSelectors: [{matchLabels: {loop: b}}]}
  rules: [{apiGroups: [image.openshift.io], resources: [imagestreams/layers], verbs: [get]}]
- kind: ClusterRole
  metadata: {name: loop-b, labels: {loop: b}}
  aggregationRule: {clusterRoleSelectors: [{matchLabels: {loop: a}}]}
  rules: [{apiGroups: [image.openshift.io], resources: [imagestreams/layers], verbs: [list]}]
- kind: ClusterRole
  metadata: {name: chain-top}
  aggregationRule: {clusterRoleSelectors: [{matchLabels: {chain: mid}}]}
- kind: ClusterRole
  metadata: {name: chain-mid, labels: {chain: mid}}
  aggregationRule: {clusterRoleSelectors: [{matchLabels: {chain: leaf}}]}
- kind: ClusterRole
  metadata: {name: chain-leaf, labels: {chain: leaf}}
  rules: [{apiGroups: [image.openshift.io], resources: [imagestreams/layers], verbs: [get]}]
- kind: RoleBinding
  metadata: {name: b, namespace: agg-loop}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: loop-a}
  subjects: [{kind: ServiceAccount, name: default, namespace: toms-project}]
- kind: RoleBinding
  metadata: {name: b, namespace: agg-chain}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: chain-top}
  subjects: [{kind: ServiceAccount, name: default, namespace: toms-project}]

# Hand-written rules of aggregated roles: the controller replaces them.
- kind: ClusterRole
  metadata: {name: own-rules-no-match}
  aggregationRule: {clusterRoleSelectors: [{matchLabels: {nothing: here}}]}
  rules: [{apiGroups: [image.openshift.io], resources: [imagestreams/layers], verbs: [get]}]
- kind: ClusterRole
  metadata: {name: own-rules-and-part}
  aggregationRule: {clusterRoleSelectors: [{matchLabels: {own-part: "yes"}}]}
  rules: [{apiGroups: [image.openshift.io], resources: [imagestreams/layers], verbs: [get]}]
- kind: ClusterRole
  metadata: {name: own-part, labels: {own-part: "yes"}}
  rules: [{apiGroups: [image.openshift.io], resources: [imagestreams/layers], verbs: [list]}]
- kind: ClusterRole
  metadata: {name: own-rules-self, labels: {selects: self}}
  aggregationRule: {clusterRoleSelectors: [{matchLabels: {selects: self}}]}
  rules: [{apiGroups: [image.openshift.io], resources: [imagestreams/layers], verbs: [get]}]
- kind: ClusterRole
  metadata: {name: own-rules-invalid}
  aggregationRule:
    clusterRoleSelectors:
    - matchExpressions: [{key: tier, operator: Exists, values: [gold]}]
  rules: [{apiGroups: [image.openshift.io], resources: [imagestreams/layers], verbs: [get]}]
- kind: ClusterRole
  metadata: {name: own-rules-no-selectors}
  aggregationRule: {}
  rules: [{apiGroups: [image.openshift.io], resources: [imagestreams/layers], verbs: [get]}]
- kind: ClusterRole
  metadata: {name: own-rules-top}
  aggregationRule: {clusterRoleSelectors: [{matchLabels: {own-rules: mid}}]}
- kind: ClusterRole
  metadata: {name: own-rules-mid, labels: {own-rules: mid}}
  aggregationRule: {clusterRoleSelectors: [{matchLabels: {own-part: "yes"}}]}
  rules: [{apiGroups: [image.openshift.io], resources: [imagestreams/layers], verbs: [get]}]
- kind: RoleBinding
  metadata: {name: b, namespace: own-no-match}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: own-rules-no-match}
  subjects: [{kind: ServiceAccount, name: default, namespace: toms-project}]
- kind: RoleBinding
  metadata: {name: b, namespace: own-and-part}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: own-rules-and-part}
  subjects: [{kind: ServiceAccount, name: default, namespace: toms-project}]
- kind: RoleBinding
  metadata: {name: b, namespace: own-self}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: own-rules-self}
  subjects: [{kind: ServiceAccount, name: default, namespace: toms-project}]
- kind: RoleBinding
  metadata: {name: b, namespace: own-invalid}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: own-rules-invalid}
  subjects: [{kind: ServiceAccount, name: default, namespace: toms-project}]
- kind: RoleBinding
  metadata: {name: b, namespace: own-no-selectors}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: own-rules-no-selectors}
  subjects: [{kind: ServiceAccount, name: default, namespace: toms-project}]
- kind: RoleBinding
  metadata: {name: b, namespace: own-chain}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: own-rules-top}
  subjects: [{kind: ServiceAccount, name: default, namespace: toms-project}]
"#;

    enum Who {
        Sa(&'static str, &'static str),
        User(&'static str, &'static [&'static str]),
    }

    enum Expect {
        /// The expected `via`.
        Allowed(&'static str),
        /// Text the reason must contain.
        Denied(&'static [&'static str]),
    }

    struct Case {
        what: &'static str,
        who: Who,
        verb: &'static str,
        group: &'static str,
        resource: &'static str,
        namespace: &'static str,
        name: &'static str,
        expect: Expect,
    }

    /// A layer pull by toms-project/default of stream `base` in `namespace`.
    fn pull(what: &'static str, namespace: &'static str, expect: Expect) -> Case {
        Case {
            what,
            who: Who::Sa("toms-project", "default"),
            verb: "get",
            group: "image.openshift.io",
            resource: "imagestreams/layers",
            namespace,
            name: "base",
            expect,
        }
    }

    fn check(index: &RbacIndex, case: &Case) {
        let (resource, subresource) = case.resource.split_once('/').unwrap_or((case.resource, ""));
        let attrs = Attributes {
            verb: case.verb,
            api_group: case.group,
            resource,
            subresource,
            namespace: case.namespace,
            name: case.name,
        };
        let got = match case.who {
            Who::Sa(namespace, name) => {
                let sa = Subject::service_account(namespace, name);
                index.authorize(&sa.subject(), &attrs)
            }
            Who::User(user, groups) => index.authorize(&Subject { user, groups }, &attrs),
        };
        match (&case.expect, &got) {
            (Expect::Allowed(want), Authorization::Allowed { via }) => {
                assert_eq!(via, want, "{}", case.what)
            }
            (Expect::Denied(parts), Authorization::Denied { reason }) => {
                for part in *parts {
                    assert!(
                        reason.contains(part),
                        "{}: {reason:?} lacks {part:?}",
                        case.what
                    );
                }
            }
            _ => panic!("{}: got {got:?}", case.what),
        }
    }

    const PULLER_IN_SHARED: &str =
        "RoleBinding shared-images/pullers -> ClusterRole system:image-puller";

    #[test]
    fn table() {
        use Expect::{Allowed, Denied};
        let index = Objects::parse(FIXTURE).index();
        let cases = [
            pull(
                "SA of another namespace bound to system:image-puller",
                "shared-images",
                Allowed(PULLER_IN_SHARED),
            ),
            Case {
                group: "",
                ..pull(
                    "core group is listed in system:image-puller",
                    "shared-images",
                    Allowed(PULLER_IN_SHARED),
                )
            },
            pull(
                "a RoleBinding does not grant in another namespace",
                "other-images",
                Denied(&[
                    r#"no RoleBinding in namespace "other-images" or ClusterRoleBinding grants get on imagestreams/layers (image.openshift.io) named "base" to system:serviceaccount:toms-project:default"#,
                ]),
            ),
            Case {
                who: Who::Sa("toms-project", "builder"),
                ..pull(
                    "another SA of the same namespace",
                    "shared-images",
                    Denied(&["system:serviceaccount:toms-project:builder"]),
                )
            },
            Case {
                who: Who::Sa("other-project", "default"),
                ..pull(
                    "same SA name in another namespace",
                    "shared-images",
                    Denied(&["other-project:default"]),
                )
            },
            Case {
                verb: "update",
                ..pull(
                    "wrong verb",
                    "shared-images",
                    Denied(&["update on imagestreams/layers"]),
                )
            },
            Case {
                group: "apps",
                ..pull("wrong group", "shared-images", Denied(&["(apps)"]))
            },
            Case {
                resource: "imagestreams",
                ..pull(
                    "layers does not cover the stream itself",
                    "shared-images",
                    Denied(&["get on imagestreams (image.openshift.io)"]),
                )
            },
            Case {
                who: Who::Sa("team-b", "builder"),
                ..pull(
                    "group system:serviceaccounts:NS",
                    "team-b-images",
                    Allowed("RoleBinding team-b-images/team-b -> ClusterRole system:image-puller"),
                )
            },
            Case {
                who: Who::Sa("team-c", "builder"),
                ..pull("group of another namespace", "team-b-images", Denied(&[]))
            },
            Case {
                who: Who::Sa("anyone", "x"),
                ..pull(
                    "group system:serviceaccounts",
                    "public-images",
                    Allowed(
                        "RoleBinding public-images/all-service-accounts -> ClusterRole system:image-puller",
                    ),
                )
            },
            Case {
                who: Who::User("alice", &[]),
                ..pull(
                    "a user outside system:serviceaccounts",
                    "public-images",
                    Denied(&["to alice"]),
                )
            },
            Case {
                who: Who::User("alice", &["system:authenticated"]),
                ..pull(
                    "group system:authenticated",
                    "open-images",
                    Allowed("RoleBinding open-images/everyone -> ClusterRole system:image-puller"),
                )
            },
            Case {
                who: Who::Sa("toms-project", "deployer"),
                ..pull(
                    "User subject naming a service account",
                    "user-images",
                    Allowed(
                        "RoleBinding user-images/deployer-as-user -> ClusterRole system:image-puller",
                    ),
                )
            },
            Case {
                who: Who::User("system:serviceaccount:toms-project:default", &[]),
                ..pull(
                    "ServiceAccount subject matched by user name alone",
                    "shared-images",
                    Allowed(PULLER_IN_SHARED),
                )
            },
            pull(
                "resourceNames lists the stream",
                "named-images",
                Allowed("RoleBinding named-images/base-only -> ClusterRole base-puller"),
            ),
            Case {
                name: "other",
                ..pull(
                    "resourceNames lacks the stream",
                    "named-images",
                    Denied(&[r#"named "other""#]),
                )
            },
            Case {
                verb: "delete",
                ..pull(
                    "verb *",
                    "wild-verbs",
                    Allowed("RoleBinding wild-verbs/b -> ClusterRole any-verb"),
                )
            },
            Case {
                group: "example.com",
                ..pull(
                    "apiGroup *",
                    "wild-groups",
                    Allowed("RoleBinding wild-groups/b -> ClusterRole any-group"),
                )
            },
            Case {
                resource: "secrets",
                ..pull(
                    "resource * covers resources",
                    "wild-resources",
                    Allowed("RoleBinding wild-resources/b -> ClusterRole any-resource"),
                )
            },
            pull(
                "resource * covers subresources",
                "wild-resources",
                Allowed("RoleBinding wild-resources/b -> ClusterRole any-resource"),
            ),
            pull(
                "*/layers",
                "star-layers",
                Allowed("RoleBinding star-layers/b -> ClusterRole layers-of-anything"),
            ),
            Case {
                resource: "images/layers",
                ..pull(
                    "*/layers covers any resource's layers",
                    "star-layers",
                    Allowed("RoleBinding star-layers/b -> ClusterRole layers-of-anything"),
                )
            },
            Case {
                resource: "imagestreams/secrets",
                ..pull("*/layers is only layers", "star-layers", Denied(&[]))
            },
            pull(
                "imagestreams/* is not a wildcard in Kubernetes RBAC",
                "streams-star",
                Denied(&[]),
            ),
            Case {
                resource: "imagestreams/*",
                ..pull(
                    "imagestreams/* matches only the literal subresource",
                    "streams-star",
                    Allowed("RoleBinding streams-star/b -> ClusterRole imagestream-subresources"),
                )
            },
            pull(
                "imagestreams does not cover imagestreams/layers",
                "plain-streams",
                Denied(&[]),
            ),
            Case {
                resource: "imagestreams",
                ..pull(
                    "imagestreams covers imagestreams",
                    "plain-streams",
                    Allowed("RoleBinding plain-streams/b -> ClusterRole stream-reader"),
                )
            },
            pull(
                "nonResourceURLs rules never match resources",
                "urls-only",
                Denied(&[]),
            ),
            Case {
                who: Who::Sa("ci", "robot"),
                ..pull(
                    "ClusterRoleBinding grants in any namespace",
                    "anywhere",
                    Allowed(
                        "ClusterRoleBinding ci-pulls-everywhere -> ClusterRole system:image-puller",
                    ),
                )
            },
            Case {
                who: Who::Sa("ci", "robot"),
                ..pull(
                    "ClusterRoleBinding grants cluster-scoped",
                    "",
                    Allowed(
                        "ClusterRoleBinding ci-pulls-everywhere -> ClusterRole system:image-puller",
                    ),
                )
            },
            pull(
                "a RoleBinding never grants a cluster-scoped request",
                "",
                Denied(&["no ClusterRoleBinding grants get"]),
            ),
            Case {
                who: Who::Sa("", "orphan"),
                ..pull(
                    "ClusterRoleBinding SA subject without namespace matches nothing",
                    "anywhere",
                    Denied(&[]),
                )
            },
            Case {
                who: Who::Sa("ci", "misbound"),
                ..pull(
                    "ClusterRoleBinding to a Role",
                    "anywhere",
                    Denied(&[
                        r#"ClusterRoleBinding cluster-binding-to-role applies to system:serviceaccount:ci:misbound but it refers to Role "layer-reader""#,
                    ]),
                )
            },
            pull(
                "RoleBinding to a Role in its namespace",
                "role-local",
                Allowed("RoleBinding role-local/readers -> Role role-local/layer-reader"),
            ),
            pull(
                "RoleBinding to a Role of another namespace",
                "role-remote",
                Denied(&[
                    r#"RoleBinding role-remote/readers applies to system:serviceaccount:toms-project:default but its Role "layer-reader" does not exist in namespace "role-remote""#,
                    r#"exists in namespace "role-local""#,
                ]),
            ),
            pull(
                "binding to a missing ClusterRole",
                "typo-images",
                Denied(&[
                    r#"RoleBinding typo-images/pullers applies to system:serviceaccount:toms-project:default but its ClusterRole "system:image-pullr" does not exist"#,
                ]),
            ),
            Case {
                who: Who::Sa("implicit-ns", "builder"),
                ..pull(
                    "RoleBinding SA subject defaults to the binding's namespace",
                    "implicit-ns",
                    Allowed(
                        "RoleBinding implicit-ns/local-builder -> ClusterRole system:image-puller",
                    ),
                )
            },
            Case {
                who: Who::Sa("toms-project", "builder"),
                ..pull(
                    "defaulted SA namespace is not the requester's",
                    "implicit-ns",
                    Denied(&[]),
                )
            },
            pull(
                "first binding by name wins",
                "two-grants",
                Allowed("RoleBinding two-grants/a-first -> ClusterRole system:image-puller"),
            ),
            Case {
                verb: "delete",
                ..pull(
                    "later binding grants what the first does not",
                    "two-grants",
                    Allowed("RoleBinding two-grants/z-last -> ClusterRole any-verb"),
                )
            },
            pull(
                "aggregation by matchLabels",
                "agg-labels",
                Allowed("RoleBinding agg-labels/agg -> ClusterRole stream-aggregate"),
            ),
            pull(
                "matchExpressions In selects silver",
                "agg-in",
                Allowed("RoleBinding agg-in/b -> ClusterRole agg-in"),
            ),
            Case {
                verb: "list",
                ..pull("matchExpressions In skips bronze", "agg-in", Denied(&[]))
            },
            Case {
                verb: "list",
                ..pull(
                    "matchExpressions NotIn selects bronze",
                    "agg-notin",
                    Allowed("RoleBinding agg-notin/b -> ClusterRole agg-notin"),
                )
            },
            Case {
                verb: "watch",
                ..pull(
                    "matchExpressions NotIn selects roles without the label",
                    "agg-notin",
                    Allowed("RoleBinding agg-notin/b -> ClusterRole agg-notin"),
                )
            },
            pull(
                "matchExpressions NotIn skips silver",
                "agg-notin",
                Denied(&[]),
            ),
            Case {
                verb: "list",
                ..pull(
                    "matchExpressions Exists",
                    "agg-exists",
                    Allowed("RoleBinding agg-exists/b -> ClusterRole agg-exists"),
                )
            },
            Case {
                verb: "watch",
                ..pull(
                    "matchExpressions Exists skips unlabeled",
                    "agg-exists",
                    Denied(&[]),
                )
            },
            Case {
                verb: "watch",
                ..pull(
                    "matchExpressions DoesNotExist",
                    "agg-doesnotexist",
                    Allowed("RoleBinding agg-doesnotexist/b -> ClusterRole agg-doesnotexist"),
                )
            },
            pull(
                "matchExpressions DoesNotExist skips labeled",
                "agg-doesnotexist",
                Denied(&[]),
            ),
            pull(
                "invalid selector aggregates nothing",
                "agg-invalid",
                Denied(&[]),
            ),
            // Neither brings a non-aggregated role in: their own rules are
            // what the controller would overwrite.
            Case {
                verb: "list",
                ..pull(
                    "aggregated roles selecting only each other hold nothing",
                    "agg-loop",
                    Denied(&[]),
                )
            },
            pull(
                "aggregated roles selecting only each other, own rules",
                "agg-loop",
                Denied(&[]),
            ),
            pull(
                "aggregation follows a selected aggregated role",
                "agg-chain",
                Allowed("RoleBinding agg-chain/b -> ClusterRole chain-top"),
            ),
            pull(
                "own rules of an aggregated role matching nothing",
                "own-no-match",
                Denied(&[]),
            ),
            pull(
                "own rules of an aggregated role beside a matched part",
                "own-and-part",
                Denied(&[]),
            ),
            Case {
                verb: "list",
                ..pull(
                    "the matched part of an aggregated role with own rules",
                    "own-and-part",
                    Allowed("RoleBinding own-and-part/b -> ClusterRole own-rules-and-part"),
                )
            },
            pull(
                "an aggregated role matching itself skips itself",
                "own-self",
                Denied(&[]),
            ),
            pull(
                "own rules of a role with an invalid selector",
                "own-invalid",
                Denied(&[]),
            ),
            pull(
                "own rules of a role with no selectors",
                "own-no-selectors",
                Denied(&[]),
            ),
            pull(
                "own rules of a selected aggregated role do not pass on",
                "own-chain",
                Denied(&[]),
            ),
            Case {
                verb: "list",
                ..pull(
                    "what a selected aggregated role aggregates passes on",
                    "own-chain",
                    Allowed("RoleBinding own-chain/b -> ClusterRole own-rules-top"),
                )
            },
        ];
        for case in &cases {
            check(&index, case);
        }
    }

    #[test]
    fn empty_index_denies() {
        let index = RbacIndex::default();
        assert!(index.is_empty());
        let built = RbacIndex::build([], [], [], []);
        assert!(built.is_empty());
        check(
            &built,
            &pull(
                "empty index",
                "shared-images",
                Expect::Denied(&["no RoleBinding"]),
            ),
        );
        assert!(!Objects::parse(FIXTURE).index().is_empty());
    }

    #[test]
    fn service_account_subject() {
        let sa = Subject::service_account("toms-project", "default");
        let subject = sa.subject();
        assert_eq!(subject.user, "system:serviceaccount:toms-project:default");
        assert_eq!(
            subject.groups,
            [
                "system:serviceaccounts",
                "system:serviceaccounts:toms-project",
                "system:authenticated"
            ]
        );
    }

    #[test]
    fn later_duplicate_replaces_earlier() {
        let objects = Objects::parse(
            r#"
- kind: ClusterRole
  metadata: {name: puller}
  rules: [{apiGroups: [image.openshift.io], resources: [imagestreams/layers], verbs: [get]}]
- kind: ClusterRole
  metadata: {name: puller}
  rules: [{apiGroups: [image.openshift.io], resources: [imagestreams/layers], verbs: [list]}]
- kind: RoleBinding
  metadata: {name: b, namespace: shared-images}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: puller}
  subjects: [{kind: ServiceAccount, name: default, namespace: toms-project}]
"#,
        );
        let index = objects.index();
        check(
            &index,
            &pull("replaced rule", "shared-images", Expect::Denied(&[])),
        );
        check(
            &index,
            &Case {
                verb: "list",
                ..pull(
                    "replacing rule",
                    "shared-images",
                    Expect::Allowed("RoleBinding shared-images/b -> ClusterRole puller"),
                )
            },
        );
    }

    #[test]
    fn lookup_is_by_subject() {
        let mut objects = Objects::parse(FIXTURE);
        let template = objects.role_bindings[0].clone();
        for i in 0..10_000 {
            let mut binding = template.clone();
            binding.metadata.name = Some(format!("unrelated-{i:05}"));
            // Same namespace as the real grant, so only the subject index
            // keeps them out of the way.
            binding.subjects = Some(vec![BindingSubject {
                kind: "ServiceAccount".into(),
                name: format!("sa-{i}"),
                namespace: Some(format!("team-{i}")),
                ..Default::default()
            }]);
            objects.role_bindings.push(binding);
        }
        let index = objects.index();
        let sa = Subject::service_account("toms-project", "default");
        let attrs = Attributes {
            verb: "get",
            api_group: "image.openshift.io",
            resource: "imagestreams",
            subresource: "layers",
            namespace: "shared-images",
            name: "base",
        };
        assert_eq!(
            index.authorize(&sa.subject(), &attrs),
            Authorization::Allowed {
                via: PULLER_IN_SHARED.into()
            }
        );
        assert_eq!(index.candidates(&sa.subject(), "shared-images").len(), 1);
        // Each unrelated binding is found for its own subject only.
        let other = Subject::service_account("team-77", "sa-77");
        assert_eq!(index.candidates(&other.subject(), "shared-images").len(), 1);
        assert_eq!(
            index.authorize(&other.subject(), &attrs),
            Authorization::Allowed {
                via: "RoleBinding shared-images/unrelated-00077 -> ClusterRole system:image-puller"
                    .into()
            }
        );
        let stranger = Subject::service_account("team-77", "sa-78");
        assert!(
            index
                .candidates(&stranger.subject(), "shared-images")
                .is_empty()
        );
        assert_eq!(
            index.authorize(&stranger.subject(), &attrs),
            Authorization::Denied {
                reason: r#"no RoleBinding in namespace "shared-images" or ClusterRoleBinding grants get on imagestreams/layers (image.openshift.io) named "base" to system:serviceaccount:team-77:sa-78"#.into()
            }
        );
    }
}
