//! The deployment manifests (`manifests/`, the `manifests/cert-manager`
//! overlay), the Containerfile, and the scripts that install them
//! (`hack/deploy.sh`, `hack/undeploy.sh`).
//!
//! Needs `kubectl` (for `kubectl kustomize`) and `kubernetes-validate`
//! (`pip install kubernetes-validate`) on PATH: a test that needs one fails,
//! saying how to install it, when it is missing.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{ErrorKind, Read as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::Engine as _;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, RuleWithOperations, ValidatingWebhookConfiguration,
    WebhookClientConfig,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::common::{BIN, repo_path};

const NS: &str = "imagestream-system";
const NAME: &str = "imagestream-webhook";
const TLS_SECRET: &str = "imagestream-webhook-tls";
const BASE_IMAGE: &str = "ghcr.io/imagestream-webhook/imagestream-webhook";

const INSTALL_KUBECTL: &str = "kubectl not found on PATH: these tests render the manifests with \
     `kubectl kustomize`; install kubectl (1.27 or later; `make test` installs it: hack/test-deps.sh)";
const INSTALL_VALIDATE: &str = "kubernetes-validate not found on PATH: install the PyPI package \
     with `pip install kubernetes-validate` (`make test` installs it: hack/test-deps.sh)";

// ---- documents -----------------------------------------------------------------

/// One YAML document of a manifest file.
struct Doc {
    /// `FILE#N`, for messages.
    origin: String,
    text: String,
    raw: Value,
}

impl Doc {
    fn kind(&self) -> &str {
        self.raw["kind"].as_str().unwrap_or("")
    }

    fn api_version(&self) -> &str {
        self.raw["apiVersion"].as_str().unwrap_or("")
    }

    fn name(&self) -> &str {
        self.raw["metadata"]["name"].as_str().unwrap_or("")
    }
}

/// The `*.yaml` files directly in `dir` (repo-relative), but kustomization.yaml.
fn manifest_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo_path(dir))
        .unwrap_or_else(|e| panic!("read {dir}: {e}"))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "yaml")
                && p.file_name().is_some_and(|n| n != "kustomization.yaml")
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no manifests in {dir}");
    files
}

/// Splits a multi-document YAML text at its `---` lines, leaving out
/// documents that hold only comments.
fn split_documents(text: &str) -> Vec<String> {
    let mut docs = vec![String::new()];
    for line in text.lines() {
        if line == "---" || line.starts_with("--- ") {
            docs.push(String::new());
        } else {
            let doc = docs.last_mut().expect("one document");
            doc.push_str(line);
            doc.push('\n');
        }
    }
    docs.retain(|d| {
        d.lines()
            .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
    });
    docs
}

fn read_docs(files: &[PathBuf]) -> Vec<Doc> {
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{file:?}: {e}"));
        let shown = file
            .strip_prefix(repo_path(""))
            .unwrap_or(file)
            .display()
            .to_string();
        for (i, doc) in split_documents(&text).into_iter().enumerate() {
            let origin = format!("{shown}#{}", i + 1);
            let raw: Value =
                serde_saphyr::from_str(&doc).unwrap_or_else(|e| panic!("{origin}: not YAML: {e}"));
            assert!(raw.is_object(), "{origin}: not a mapping");
            out.push(Doc {
                origin,
                text: doc,
                raw,
            });
        }
    }
    out
}

/// Every document of the base's files and of the cert-manager overlay's.
fn source_docs() -> Vec<Doc> {
    let mut files = manifest_files("manifests");
    files.extend(manifest_files("manifests/cert-manager"));
    read_docs(&files)
}

fn base_docs() -> Vec<Doc> {
    read_docs(&manifest_files("manifests"))
}

/// The one document of that kind and name, as its k8s-openapi type.
fn find<T: DeserializeOwned>(docs: &[Doc], kind: &str, name: &str) -> T {
    let found: Vec<&Doc> = docs
        .iter()
        .filter(|d| d.kind() == kind && d.name() == name)
        .collect();
    assert_eq!(found.len(), 1, "expected one {kind} {name}");
    serde_json::from_value(found[0].raw.clone())
        .unwrap_or_else(|e| panic!("{}: {e}", found[0].origin))
}

/// The first place where `a` and `b` differ, as a path.
fn first_difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                let p = format!("{path}.{k}");
                match y.get(k) {
                    None => return Some(format!("{p} is not a field of this kind")),
                    Some(w) => {
                        if let Some(d) = first_difference(v, w, &p) {
                            return Some(d);
                        }
                    }
                }
            }
            y.keys()
                .find(|k| !x.contains_key(*k))
                .map(|k| format!("{path}.{k} appeared"))
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (v, w))| first_difference(v, w, &format!("{path}[{i}]"))),
        _ if a == b => None,
        _ => Some(format!("{path}: {a} became {b}")),
    }
}

/// Parses the document into `T` and back: k8s-openapi ignores fields it does
/// not know, so a misspelt field only shows as a difference.
fn check_typed<T: DeserializeOwned + Serialize>(doc: &Doc) {
    let typed: T = serde_saphyr::from_str(&doc.text).unwrap_or_else(|e| {
        panic!(
            "{}: not a valid {} {}: {e}",
            doc.origin,
            doc.api_version(),
            doc.kind()
        )
    });
    let back = serde_json::to_value(&typed).expect("serialize");
    if let Some(d) = first_difference(&doc.raw, &back, "") {
        panic!("{}: {d} (misspelt or misplaced?)", doc.origin);
    }
}

fn keys_within(origin: &str, what: &str, v: &Value, allowed: &[&str]) {
    let map = v
        .as_object()
        .unwrap_or_else(|| panic!("{origin}: {what} is not a mapping"));
    for k in map.keys() {
        assert!(
            allowed.contains(&k.as_str()),
            "{origin}: {what}.{k} is not a field cert-manager knows"
        );
    }
}

fn check_metadata(doc: &Doc) {
    keys_within(
        &doc.origin,
        "",
        &doc.raw,
        &["apiVersion", "kind", "metadata", "spec"],
    );
    keys_within(
        &doc.origin,
        "metadata",
        &doc.raw["metadata"],
        &["name", "namespace", "labels", "annotations"],
    );
    assert!(!doc.name().is_empty(), "{}: no metadata.name", doc.origin);
}

/// cert-manager's Issuer has no k8s-openapi type: its fields are checked by name.
fn check_issuer(doc: &Doc) {
    check_metadata(doc);
    let spec = &doc.raw["spec"];
    keys_within(&doc.origin, "spec", spec, &["selfSigned", "ca"]);
    assert_eq!(
        spec.as_object().map(|m| m.len()),
        Some(1),
        "{}: an Issuer is exactly one of selfSigned, ca",
        doc.origin
    );
    if let Some(ss) = spec.get("selfSigned") {
        keys_within(&doc.origin, "spec.selfSigned", ss, &[]);
    }
    if let Some(ca) = spec.get("ca") {
        keys_within(&doc.origin, "spec.ca", ca, &["secretName"]);
        assert!(
            ca["secretName"].is_string(),
            "{}: spec.ca.secretName",
            doc.origin
        );
    }
}

/// Go duration in hours (`2160h`), as cert-manager takes it.
fn hours(origin: &str, v: &Value) -> u64 {
    v.as_str()
        .and_then(|s| s.strip_suffix('h'))
        .and_then(|h| h.parse().ok())
        .unwrap_or_else(|| panic!("{origin}: {v} is not a duration in hours"))
}

/// cert-manager's Certificate has no k8s-openapi type: its fields are checked by name.
fn check_certificate(doc: &Doc) {
    check_metadata(doc);
    let o = &doc.origin;
    let spec = &doc.raw["spec"];
    keys_within(
        o,
        "spec",
        spec,
        &[
            "secretName",
            "secretTemplate",
            "commonName",
            "dnsNames",
            "duration",
            "renewBefore",
            "privateKey",
            "usages",
            "issuerRef",
            "isCA",
        ],
    );
    assert!(spec["secretName"].is_string(), "{o}: spec.secretName");
    if let Some(t) = spec.get("secretTemplate") {
        keys_within(o, "spec.secretTemplate", t, &["labels", "annotations"]);
    }
    if let Some(names) = spec.get("dnsNames") {
        assert!(
            names
                .as_array()
                .is_some_and(|a| a.iter().all(Value::is_string)),
            "{o}: spec.dnsNames is a list of names"
        );
    }
    assert!(
        hours(o, &spec["renewBefore"]) < hours(o, &spec["duration"]),
        "{o}: renewBefore must be shorter than duration"
    );
    let key = &spec["privateKey"];
    keys_within(
        o,
        "spec.privateKey",
        key,
        &["algorithm", "size", "rotationPolicy", "encoding"],
    );
    assert!(
        ["RSA", "ECDSA", "Ed25519"].contains(&key["algorithm"].as_str().unwrap_or("")),
        "{o}: spec.privateKey.algorithm"
    );
    assert!(
        ["Never", "Always"].contains(&key["rotationPolicy"].as_str().unwrap_or("")),
        "{o}: spec.privateKey.rotationPolicy"
    );
    if let Some(usages) = spec.get("usages") {
        for u in usages.as_array().expect("usages is a list") {
            assert!(
                [
                    "server auth",
                    "client auth",
                    "digital signature",
                    "key encipherment",
                    "cert sign",
                ]
                .contains(&u.as_str().unwrap_or("")),
                "{o}: unknown usage {u}"
            );
        }
    }
    keys_within(
        o,
        "spec.issuerRef",
        &spec["issuerRef"],
        &["group", "kind", "name"],
    );
    assert!(spec["issuerRef"]["name"].is_string(), "{o}: issuerRef.name");
}

/// Checks one document against the type of its kind; unknown kinds fail.
fn check_document(doc: &Doc) {
    match (doc.api_version(), doc.kind()) {
        ("v1", "Namespace") => check_typed::<Namespace>(doc),
        ("v1", "ServiceAccount") => check_typed::<ServiceAccount>(doc),
        ("v1", "ConfigMap") => check_typed::<ConfigMap>(doc),
        ("v1", "Service") => check_typed::<Service>(doc),
        ("apps/v1", "Deployment") => check_typed::<Deployment>(doc),
        ("policy/v1", "PodDisruptionBudget") => check_typed::<PodDisruptionBudget>(doc),
        ("rbac.authorization.k8s.io/v1", "ClusterRole") => check_typed::<ClusterRole>(doc),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
            check_typed::<ClusterRoleBinding>(doc);
        }
        ("rbac.authorization.k8s.io/v1", "Role") => check_typed::<Role>(doc),
        ("rbac.authorization.k8s.io/v1", "RoleBinding") => check_typed::<RoleBinding>(doc),
        ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration") => {
            check_typed::<MutatingWebhookConfiguration>(doc);
        }
        ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration") => {
            check_typed::<ValidatingWebhookConfiguration>(doc);
        }
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition") => {
            check_typed::<CustomResourceDefinition>(doc);
        }
        ("cert-manager.io/v1", "Issuer") => check_issuer(doc),
        ("cert-manager.io/v1", "Certificate") => check_certificate(doc),
        (api_version, kind) => panic!(
            "{}: no check for {api_version} {kind}: add its type to check_document",
            doc.origin
        ),
    }
}

#[test]
fn every_manifest_parses_into_its_type() {
    let docs = source_docs();
    for doc in &docs {
        check_document(doc);
    }
    let kinds: BTreeSet<&str> = docs.iter().map(Doc::kind).collect();
    for kind in [
        "CustomResourceDefinition",
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "ConfigMap",
        "Deployment",
        "PodDisruptionBudget",
        "Service",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "Issuer",
        "Certificate",
    ] {
        assert!(kinds.contains(kind), "no {kind} in the manifests");
    }
}

#[test]
fn the_document_checks_catch_mistakes() {
    let doc = |text: &str| {
        let raw = serde_saphyr::from_str(text).expect("yaml");
        Doc {
            origin: "test".into(),
            text: text.into(),
            raw,
        }
    };
    let misspelt = doc("apiVersion: policy/v1\nkind: PodDisruptionBudget\n\
         metadata: {name: x}\nspec: {minAvailabel: 1}\n");
    assert!(std::panic::catch_unwind(|| check_document(&misspelt)).is_err());
    let unknown = doc("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: x}\n");
    assert!(std::panic::catch_unwind(|| check_document(&unknown)).is_err());
    let bad_issuer = doc(
        "apiVersion: cert-manager.io/v1\nkind: Issuer\nmetadata: {name: x}\nspec: {selfsigned: {}}\n",
    );
    assert!(std::panic::catch_unwind(|| check_document(&bad_issuer)).is_err());
    assert_eq!(
        split_documents("# only a comment\n---\na: 1\n---\n\n--- \nb: 2\n").len(),
        2
    );
}

// ---- what users rely on --------------------------------------------------------

/// The parts of a mutating and a validating webhook that are checked alike.
struct Webhook<'a> {
    name: &'a str,
    client_config: &'a WebhookClientConfig,
    rules: &'a [RuleWithOperations],
    failure_policy: Option<&'a str>,
    match_policy: Option<&'a str>,
    namespace_selector: Option<&'a LabelSelector>,
    object_selector: Option<&'a LabelSelector>,
    side_effects: &'a str,
    timeout_seconds: Option<i32>,
    admission_review_versions: &'a [String],
}

fn mutating(c: &MutatingWebhookConfiguration) -> Vec<Webhook<'_>> {
    c.webhooks
        .iter()
        .flatten()
        .map(|w| Webhook {
            name: &w.name,
            client_config: &w.client_config,
            rules: w.rules.as_deref().unwrap_or_default(),
            failure_policy: w.failure_policy.as_deref(),
            match_policy: w.match_policy.as_deref(),
            namespace_selector: w.namespace_selector.as_ref(),
            object_selector: w.object_selector.as_ref(),
            side_effects: &w.side_effects,
            timeout_seconds: w.timeout_seconds,
            admission_review_versions: &w.admission_review_versions,
        })
        .collect()
}

fn validating(c: &ValidatingWebhookConfiguration) -> Vec<Webhook<'_>> {
    c.webhooks
        .iter()
        .flatten()
        .map(|w| Webhook {
            name: &w.name,
            client_config: &w.client_config,
            rules: w.rules.as_deref().unwrap_or_default(),
            failure_policy: w.failure_policy.as_deref(),
            match_policy: w.match_policy.as_deref(),
            namespace_selector: w.namespace_selector.as_ref(),
            object_selector: w.object_selector.as_ref(),
            side_effects: &w.side_effects,
            timeout_seconds: w.timeout_seconds,
            admission_review_versions: &w.admission_review_versions,
        })
        .collect()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

/// The namespaces the selector leaves out (its one NotIn expression on the
/// namespace name).
fn excluded_namespaces(sel: Option<&LabelSelector>) -> BTreeSet<String> {
    let sel = sel.expect("a namespaceSelector");
    assert!(
        sel.match_labels.as_ref().is_none_or(BTreeMap::is_empty),
        "no matchLabels expected"
    );
    let exprs = sel.match_expressions.as_deref().unwrap_or_default();
    assert_eq!(exprs.len(), 1, "one expression expected");
    assert_eq!(exprs[0].key, "kubernetes.io/metadata.name");
    assert_eq!(exprs[0].operator, "NotIn");
    exprs[0].values.iter().flatten().cloned().collect()
}

fn check_webhook(w: &Webhook<'_>, path: &str) {
    let n = w.name;
    assert_eq!(w.failure_policy, Some("Fail"), "{n}: failurePolicy");
    assert_eq!(w.side_effects, "None", "{n}: sideEffects");
    assert_eq!(w.timeout_seconds, Some(5), "{n}: timeoutSeconds");
    assert_eq!(w.admission_review_versions, ["v1"], "{n}");
    assert_eq!(w.match_policy, Some("Equivalent"), "{n}: matchPolicy");
    assert!(w.object_selector.is_none(), "{n}: no objectSelector");

    let service = w.client_config.service.as_ref().expect("service");
    assert_eq!(service.name, NAME, "{n}");
    assert_eq!(service.namespace, NS, "{n}");
    assert_eq!(service.port, Some(443), "{n}");
    assert_eq!(service.path.as_deref(), Some(path), "{n}");
    assert!(w.client_config.url.is_none(), "{n}: no url");

    let mut resources = BTreeSet::new();
    for rule in w.rules {
        let ops: BTreeSet<&str> = rule
            .operations
            .iter()
            .flatten()
            .map(String::as_str)
            .collect();
        assert_eq!(ops, BTreeSet::from(["CREATE", "UPDATE"]), "{n}: operations");
        assert_eq!(
            rule.api_versions,
            Some(strings(&["v1"])),
            "{n}: apiVersions"
        );
        assert_eq!(rule.scope.as_deref(), Some("Namespaced"), "{n}: scope");
        for group in rule.api_groups.iter().flatten() {
            for resource in rule.resources.iter().flatten() {
                assert!(
                    resources.insert((group.as_str(), resource.as_str())),
                    "{n}: {group}/{resource} twice"
                );
            }
        }
    }
    let expected = BTreeSet::from([
        ("", "pods"),
        ("", "pods/ephemeralcontainers"),
        ("", "replicationcontrollers"),
        ("apps", "deployments"),
        ("apps", "replicasets"),
        ("apps", "statefulsets"),
        ("apps", "daemonsets"),
        ("batch", "jobs"),
        ("batch", "cronjobs"),
    ]);
    assert_eq!(resources, expected, "{n}: the nine workload resources");

    let excluded = excluded_namespaces(w.namespace_selector);
    for ns in ["kube-system", NS] {
        assert!(excluded.contains(ns), "{n}: must leave out {ns}");
    }
}

#[test]
fn webhook_configurations_fail_closed_on_the_workload_resources() {
    let docs = base_docs();
    let m: MutatingWebhookConfiguration = find(&docs, "MutatingWebhookConfiguration", NAME);
    let v: ValidatingWebhookConfiguration = find(&docs, "ValidatingWebhookConfiguration", NAME);
    // hack/deploy.sh and the cert-manager overlay patch /webhooks/0.
    let (mw, vw) = (mutating(&m), validating(&v));
    assert_eq!(mw.len(), 1, "one mutating webhook");
    assert_eq!(vw.len(), 1, "one validating webhook");
    assert_eq!(mw[0].name, "mutate.imagestream-webhook.io");
    assert_eq!(vw[0].name, "validate.imagestream-webhook.io");
    check_webhook(&mw[0], "/mutate");
    check_webhook(&vw[0], "/validate");
    for w in mw.iter().chain(&vw) {
        assert_eq!(
            excluded_namespaces(w.namespace_selector),
            BTreeSet::from(["kube-system".to_owned(), NS.to_owned()])
        );
        // Empty in the base: filled in at install time.
        assert_eq!(
            w.client_config.ca_bundle.as_ref().map(|b| b.0.len()),
            Some(0),
            "{}: caBundle",
            w.name
        );
    }
    let hooks = m.webhooks.as_deref().unwrap_or_default();
    assert_eq!(hooks[0].reinvocation_policy.as_deref(), Some("IfNeeded"));
}

#[test]
fn deployment_is_redundant_probed_and_locked_down() {
    let docs = base_docs();
    let d: Deployment = find(&docs, "Deployment", NAME);
    let spec = d.spec.as_ref().expect("spec");
    assert_eq!(spec.replicas, Some(2));
    let strategy = spec.strategy.as_ref().expect("strategy");
    assert_eq!(strategy.type_.as_deref(), Some("RollingUpdate"));
    let rolling = strategy.rolling_update.as_ref().expect("rollingUpdate");
    assert_eq!(rolling.max_unavailable, Some(IntOrString::Int(0)));
    assert_eq!(rolling.max_surge, Some(IntOrString::Int(1)));

    let labels = spec.selector.match_labels.clone().unwrap_or_default();
    assert_eq!(
        labels.get("app.kubernetes.io/name").map(String::as_str),
        Some(NAME)
    );
    let meta = spec.template.metadata.as_ref().expect("template metadata");
    let pod_labels = meta.labels.clone().unwrap_or_default();
    for (k, v) in &labels {
        assert_eq!(pod_labels.get(k), Some(v), "the selector matches the pods");
    }

    let pod = spec.template.spec.as_ref().expect("pod spec");
    assert_eq!(pod.service_account_name.as_deref(), Some(NAME));
    assert_eq!(pod.automount_service_account_token, Some(true));
    assert_eq!(
        pod.priority_class_name.as_deref(),
        Some("system-cluster-critical")
    );
    assert_eq!(pod.termination_grace_period_seconds, Some(30));
    let anti = pod
        .affinity
        .as_ref()
        .and_then(|a| a.pod_anti_affinity.as_ref())
        .and_then(|a| {
            a.preferred_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .expect("preferred pod anti-affinity");
    assert!(
        anti.iter()
            .any(|t| t.pod_affinity_term.topology_key == "kubernetes.io/hostname")
    );
    let spread = pod
        .topology_spread_constraints
        .as_deref()
        .unwrap_or_default();
    assert!(
        spread
            .iter()
            .any(|c| c.topology_key == "kubernetes.io/hostname")
    );

    let containers = &pod.containers;
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    assert!(
        c.image
            .as_deref()
            .is_some_and(|i| i.starts_with(&format!("{BASE_IMAGE}:"))),
        "image"
    );
    let args = c.args.clone().unwrap_or_default();
    assert_eq!(args.first().map(String::as_str), Some("serve"));
    for arg in [
        "--listen=0.0.0.0:8443",
        "--admin-listen=0.0.0.0:9090",
        "--tls-cert=/etc/imagestream-webhook/tls/tls.crt",
        "--tls-key=/etc/imagestream-webhook/tls/tls.key",
        "--config=/etc/imagestream-webhook/config/config.yaml",
        "--audit-log=-",
        "--shutdown-delay-seconds=5",
        "--log-format=json",
    ] {
        assert!(args.iter().any(|a| a == arg), "missing {arg}");
    }
    assert!(
        !args.iter().any(|a| a.starts_with("--streams-dir")),
        "cluster mode"
    );
    let ports: BTreeSet<i32> = c.ports.iter().flatten().map(|p| p.container_port).collect();
    assert_eq!(ports, BTreeSet::from([8443, 9090]));

    for (probe, path) in [
        (c.readiness_probe.as_ref(), "/readyz"),
        (c.liveness_probe.as_ref(), "/healthz"),
    ] {
        let get = probe
            .and_then(|p| p.http_get.as_ref())
            .unwrap_or_else(|| panic!("{path} probe"));
        assert_eq!(get.path.as_deref(), Some(path));
        assert_eq!(get.port, IntOrString::Int(9090), "{path} on the admin port");
    }
    assert_eq!(
        c.readiness_probe.as_ref().and_then(|p| p.period_seconds),
        Some(5)
    );

    let env: BTreeMap<&str, &k8s_openapi::api::core::v1::EnvVar> = c
        .env
        .iter()
        .flatten()
        .map(|e| (e.name.as_str(), e))
        .collect();
    for (var, field) in [
        ("POD_NAME", "metadata.name"),
        ("POD_NAMESPACE", "metadata.namespace"),
    ] {
        let from = env
            .get(var)
            .and_then(|e| e.value_from.as_ref())
            .and_then(|f| f.field_ref.as_ref())
            .unwrap_or_else(|| panic!("{var} from the downward API"));
        assert_eq!(from.field_path, field);
    }
    assert_eq!(
        env.get("RUST_LOG").and_then(|e| e.value.as_deref()),
        Some("info")
    );

    let resources = c.resources.as_ref().expect("resources");
    let requests = resources.requests.clone().unwrap_or_default();
    let limits = resources.limits.clone().unwrap_or_default();
    assert_eq!(requests.get("cpu").map(|q| q.0.as_str()), Some("100m"));
    assert_eq!(requests.get("memory").map(|q| q.0.as_str()), Some("64Mi"));
    assert_eq!(limits.get("memory").map(|q| q.0.as_str()), Some("256Mi"));

    let sc = c
        .security_context
        .as_ref()
        .expect("container securityContext");
    assert_eq!(sc.run_as_non_root, Some(true));
    assert_eq!(sc.run_as_user, Some(65532));
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    assert_eq!(
        sc.capabilities.as_ref().and_then(|c| c.drop.clone()),
        Some(strings(&["ALL"]))
    );
    assert!(
        sc.capabilities
            .as_ref()
            .is_none_or(|c| c.add.as_ref().is_none_or(Vec::is_empty))
    );
    assert_eq!(
        sc.seccomp_profile.as_ref().map(|p| p.type_.as_str()),
        Some("RuntimeDefault")
    );

    // The TLS Secret and the ConfigMap, mounted where the arguments look.
    let volumes = pod.volumes.as_deref().unwrap_or_default();
    let tls = volumes
        .iter()
        .find_map(|v| v.secret.as_ref().map(|s| (v.name.as_str(), s)))
        .expect("a Secret volume");
    assert_eq!(tls.1.secret_name.as_deref(), Some(TLS_SECRET));
    let config = volumes
        .iter()
        .find_map(|v| v.config_map.as_ref().map(|s| (v.name.as_str(), s)))
        .expect("a ConfigMap volume");
    assert_eq!(config.1.name, "imagestream-webhook-config");
    let mounts = c.volume_mounts.as_deref().unwrap_or_default();
    for (volume, dir) in [
        (tls.0, "/etc/imagestream-webhook/tls"),
        (config.0, "/etc/imagestream-webhook/config"),
    ] {
        let m = mounts
            .iter()
            .find(|m| m.name == volume)
            .unwrap_or_else(|| panic!("volume {volume} mounted"));
        assert_eq!(m.mount_path, dir);
        assert_eq!(m.read_only, Some(true));
    }
}

#[test]
fn service_and_disruption_budget_select_the_pods() {
    let docs = base_docs();
    let d: Deployment = find(&docs, "Deployment", NAME);
    let pod_labels = d
        .spec
        .and_then(|s| s.template.metadata)
        .and_then(|m| m.labels)
        .unwrap_or_default();

    let svc: Service = find(&docs, "Service", NAME);
    let spec = svc.spec.expect("service spec");
    let selector = spec.selector.unwrap_or_default();
    assert!(!selector.is_empty());
    for (k, v) in &selector {
        assert_eq!(pod_labels.get(k), Some(v), "the Service selects the pods");
    }
    let ports: BTreeMap<String, (i32, Option<IntOrString>)> = spec
        .ports
        .unwrap_or_default()
        .into_iter()
        .map(|p| (p.name.unwrap_or_default(), (p.port, p.target_port)))
        .collect();
    assert_eq!(
        ports.get("https"),
        Some(&(443, Some(IntOrString::Int(8443))))
    );
    assert_eq!(
        ports.get("metrics"),
        Some(&(9090, Some(IntOrString::Int(9090))))
    );

    let pdb: PodDisruptionBudget = find(&docs, "PodDisruptionBudget", NAME);
    let spec = pdb.spec.expect("pdb spec");
    assert_eq!(spec.min_available, Some(IntOrString::Int(1)));
    assert!(spec.max_unavailable.is_none());
    let selector = spec
        .selector
        .and_then(|s| s.match_labels)
        .unwrap_or_default();
    assert!(!selector.is_empty());
    for (k, v) in &selector {
        assert_eq!(pod_labels.get(k), Some(v), "the PDB selects the pods");
    }
}

/// Each (group, resource, verb) a rule grants, with its resourceNames.
fn grants(rules: &[PolicyRule]) -> BTreeSet<(String, String, String, Vec<String>)> {
    let mut out = BTreeSet::new();
    for rule in rules {
        assert!(
            rule.non_resource_urls.is_none(),
            "no non-resource URLs: {rule:?}"
        );
        let names = rule.resource_names.clone().unwrap_or_default();
        for group in rule.api_groups.iter().flatten() {
            for resource in rule.resources.iter().flatten() {
                for verb in &rule.verbs {
                    out.insert((group.clone(), resource.clone(), verb.clone(), names.clone()));
                }
            }
        }
    }
    out
}

fn no_wildcards(what: &str, rules: &[PolicyRule]) {
    let text = serde_json::to_string(rules).expect("json");
    assert!(!text.contains('*'), "{what} has a wildcard: {text}");
}

fn expected_grants(
    list: &[(&str, &[&str], &[&str])],
) -> BTreeSet<(String, String, String, Vec<String>)> {
    let mut out = BTreeSet::new();
    for (group, resources, verbs) in list {
        for resource in *resources {
            for verb in *verbs {
                out.insert((
                    (*group).to_owned(),
                    (*resource).to_owned(),
                    (*verb).to_owned(),
                    Vec::new(),
                ));
            }
        }
    }
    out
}

#[test]
fn rbac_grants_exactly_what_the_binary_needs() {
    let docs = base_docs();
    let role: ClusterRole = find(&docs, "ClusterRole", NAME);
    let rules = role.rules.unwrap_or_default();
    no_wildcards("ClusterRole imagestream-webhook", &rules);
    let expected = expected_grants(&[
        (
            "image.openshift.io",
            &["imagestreams"],
            &["get", "list", "watch"],
        ),
        ("image.openshift.io", &["imagestreams/status"], &["patch"]),
        ("image.openshift.io", &["images"], &["get", "create"]),
        (
            "authorization.k8s.io",
            &["subjectaccessreviews"],
            &["create"],
        ),
        ("", &["secrets"], &["get", "list"]),
        (
            "apps",
            &["deployments", "statefulsets", "daemonsets"],
            &["get", "list", "watch", "patch"],
        ),
        ("batch", &["cronjobs"], &["get", "list", "watch", "patch"]),
        ("", &["events"], &["create", "patch"]),
        ("events.k8s.io", &["events"], &["create", "patch"]),
    ]);
    assert_eq!(grants(&rules), expected);

    let binding: ClusterRoleBinding = find(&docs, "ClusterRoleBinding", NAME);
    assert_eq!(binding.role_ref.kind, "ClusterRole");
    assert_eq!(binding.role_ref.name, NAME);
    let subjects = binding.subjects.unwrap_or_default();
    assert_eq!(subjects.len(), 1);
    assert_eq!(
        (
            subjects[0].kind.as_str(),
            subjects[0].name.as_str(),
            subjects[0].namespace.as_deref()
        ),
        ("ServiceAccount", NAME, Some(NS))
    );

    // Leader election: only in its own namespace, get and update only on its Lease.
    let role: Role = find(&docs, "Role", "imagestream-webhook-leader-election");
    assert_eq!(role.metadata.namespace.as_deref(), Some(NS));
    let rules = role.rules.unwrap_or_default();
    no_wildcards("Role imagestream-webhook-leader-election", &rules);
    let lease = |verb: &str, names: &[&str]| {
        (
            "coordination.k8s.io".to_owned(),
            "leases".to_owned(),
            verb.to_owned(),
            strings(names),
        )
    };
    assert_eq!(
        grants(&rules),
        BTreeSet::from([
            lease("create", &[]),
            lease("get", &["imagestream-webhook-importer"]),
            lease("update", &["imagestream-webhook-importer"]),
        ])
    );
    let binding: RoleBinding = find(&docs, "RoleBinding", "imagestream-webhook-leader-election");
    assert_eq!(binding.metadata.namespace.as_deref(), Some(NS));
    assert_eq!(
        (
            binding.role_ref.kind.as_str(),
            binding.role_ref.name.as_str()
        ),
        ("Role", "imagestream-webhook-leader-election")
    );
    let subjects = binding.subjects.unwrap_or_default();
    assert_eq!(subjects.len(), 1);
    assert_eq!(
        (
            subjects[0].kind.as_str(),
            subjects[0].name.as_str(),
            subjects[0].namespace.as_deref()
        ),
        ("ServiceAccount", NAME, Some(NS))
    );

    // OpenShift's system:image-puller, as OpenShift defines it.
    let puller: ClusterRole = find(&docs, "ClusterRole", "system:image-puller");
    let rules = puller.rules.unwrap_or_default();
    no_wildcards("ClusterRole system:image-puller", &rules);
    assert_eq!(
        grants(&rules),
        expected_grants(&[
            ("", &["imagestreams/layers"], &["get"]),
            ("image.openshift.io", &["imagestreams/layers"], &["get"]),
        ])
    );
}

#[test]
fn configmap_holds_a_config_the_binary_accepts() {
    let docs = base_docs();
    let cm: ConfigMap = find(&docs, "ConfigMap", "imagestream-webhook-config");
    let data = cm.data.unwrap_or_default();
    let text = data.get("config.yaml").expect("data key config.yaml");
    let config = imagestream_core::config::Config::parse(text)
        .unwrap_or_else(|e| panic!("the ConfigMap's config.yaml is refused: {e}"));
    // The ConfigMap says it holds the defaults.
    assert_eq!(config, imagestream_core::config::Config::default());
}

#[test]
fn containerfile_runs_the_binary_as_the_deployments_user() {
    let text = std::fs::read_to_string(repo_path("Containerfile")).expect("Containerfile");
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let froms: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].starts_with("FROM "))
        .collect();
    assert_eq!(froms.len(), 2, "a build stage and a runtime stage");
    let last_stage = &lines[froms[1]..];
    assert!(last_stage[0].contains("distroless/cc-debian12:nonroot"));
    assert!(last_stage.contains(&"USER 65532:65532"));
    assert!(last_stage.contains(&r#"ENTRYPOINT ["/imagestream-webhook"]"#));
    assert!(last_stage.contains(&r#"CMD ["serve"]"#));
    assert!(
        text.contains("cargo build --release --locked --bin imagestream-webhook"),
        "builds the binary from Cargo.lock"
    );
    let d: Deployment = find(&base_docs(), "Deployment", NAME);
    let pod = d.spec.and_then(|s| s.template.spec).expect("pod spec");
    let user = pod.containers[0]
        .security_context
        .as_ref()
        .and_then(|s| s.run_as_user);
    assert_eq!(user, Some(65532), "the image's user");
}

// ---- external tools ----------------------------------------------------------

pub(crate) struct Ran {
    pub(crate) status: ExitStatus,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Runs the command with no input, killing its process group after `limit`.
/// A command that cannot be started is returned as the error.
pub(crate) fn run_bounded(cmd: &mut Command, limit: Duration) -> std::io::Result<Ran> {
    let shown = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()?;
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if start.elapsed() > limit {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
            panic!("{shown} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    Ok(Ran {
        status,
        stdout: text(out.join().expect("stdout reader")),
        stderr: text(err.join().expect("stderr reader")),
    })
}

pub(crate) fn find_on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

fn real_kubectl() -> PathBuf {
    find_on_path("kubectl").unwrap_or_else(|| panic!("{INSTALL_KUBECTL}"))
}

/// `kubectl kustomize DIR` (repo-relative).
fn kustomize(dir: &str) -> String {
    let ran = run_bounded(
        Command::new(real_kubectl())
            .arg("kustomize")
            .arg(repo_path(dir)),
        Duration::from_secs(60),
    )
    .unwrap_or_else(|e| panic!("cannot run kubectl: {e}; {INSTALL_KUBECTL}"));
    assert!(
        ran.status.success(),
        "kubectl kustomize {dir} failed: {}",
        ran.stderr
    );
    ran.stdout
}

pub(crate) fn rendered_base() -> &'static str {
    static OUT: OnceLock<String> = OnceLock::new();
    OUT.get_or_init(|| kustomize("manifests"))
}

pub(crate) fn rendered_cert_manager() -> &'static str {
    static OUT: OnceLock<String> = OnceLock::new();
    OUT.get_or_init(|| kustomize("manifests/cert-manager"))
}

pub(crate) fn rendered_events() -> &'static str {
    static OUT: OnceLock<String> = OnceLock::new();
    OUT.get_or_init(|| kustomize("manifests/events"))
}

pub(crate) fn documents(yaml: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(yaml)
        .expect("kustomize output is YAML")
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

fn by_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

fn is_cluster_scoped(kind: &str) -> bool {
    [
        "Namespace",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
    ]
    .contains(&kind)
}

#[test]
fn kustomize_renders_the_base() {
    let rendered = documents(rendered_base());
    let ids = |docs: &[Value]| -> BTreeSet<(String, String)> {
        docs.iter()
            .map(|d| {
                (
                    d["kind"].as_str().unwrap_or("").to_owned(),
                    d["metadata"]["name"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    };
    let sources: Vec<Value> = base_docs().into_iter().map(|d| d.raw).collect();
    assert_eq!(
        ids(&rendered),
        ids(&sources),
        "the base renders every file of manifests/"
    );
    assert!(
        by_kind(&rendered, "Secret").is_empty(),
        "no Secret in the base"
    );
    for doc in &rendered {
        let kind = doc["kind"].as_str().unwrap_or("");
        let ns = doc["metadata"]["namespace"].as_str();
        if is_cluster_scoped(kind) {
            assert_eq!(ns, None, "{kind} is cluster-scoped");
        } else {
            assert_eq!(ns, Some(NS), "{kind} in {NS}");
        }
    }
    let image =
        &by_kind(&rendered, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]["image"];
    assert_eq!(image, &format!("{BASE_IMAGE}:0.1.0"));
}

#[test]
fn kustomize_renders_the_cert_manager_overlay() {
    let docs = documents(rendered_cert_manager());
    for kind in [
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
    ] {
        let configs = by_kind(&docs, kind);
        assert_eq!(configs.len(), 1, "{kind}");
        let c = configs[0];
        assert_eq!(
            c["metadata"]["annotations"]["cert-manager.io/inject-ca-from"],
            "imagestream-system/imagestream-webhook",
            "{kind}: the CA injector's annotation"
        );
        let hook = &c["webhooks"][0];
        assert!(
            hook["clientConfig"].get("caBundle").is_none(),
            "{kind}: caBundle is left to the injector"
        );
        let values: BTreeSet<&str> = hook["namespaceSelector"]["matchExpressions"][0]["values"]
            .as_array()
            .expect("values")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(
            values,
            BTreeSet::from(["kube-system", NS, "cert-manager"]),
            "{kind}: cert-manager must not wait on the webhook"
        );
    }
    // The injector's annotation names the serving Certificate, which fills
    // the Secret the Deployment mounts.
    let certs = by_kind(&docs, "Certificate");
    let serving = certs
        .iter()
        .find(|c| c["metadata"]["name"] == NAME)
        .expect("Certificate imagestream-webhook");
    assert_eq!(serving["metadata"]["namespace"], NS);
    assert_eq!(serving["spec"]["secretName"], TLS_SECRET);
    for kind in ["Issuer", "Certificate"] {
        for doc in by_kind(&docs, kind) {
            assert_eq!(doc["metadata"]["namespace"], NS, "{kind} in {NS}");
        }
    }
}

#[test]
fn cert_manager_issues_the_serving_certificate_from_its_own_ca() {
    let docs = read_docs(&manifest_files("manifests/cert-manager"));
    let issuers: BTreeMap<&str, &Value> = docs
        .iter()
        .filter(|d| d.kind() == "Issuer")
        .map(|d| (d.name(), &d.raw["spec"]))
        .collect();
    let certs: BTreeMap<&str, &Value> = docs
        .iter()
        .filter(|d| d.kind() == "Certificate")
        .map(|d| (d.name(), &d.raw["spec"]))
        .collect();
    let issuer_of = |cert: &Value| {
        let r = &cert["issuerRef"];
        assert_eq!(r["kind"], "Issuer");
        assert_eq!(r["group"], "cert-manager.io");
        let name = r["name"].as_str().expect("issuerRef.name");
        *issuers
            .get(name)
            .unwrap_or_else(|| panic!("no Issuer {name}"))
    };

    let serving = certs.get(NAME).expect("Certificate imagestream-webhook");
    assert_eq!(serving["secretName"], TLS_SECRET);
    let names: BTreeSet<&str> = serving["dnsNames"]
        .as_array()
        .expect("dnsNames")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "imagestream-webhook.imagestream-system.svc",
            "imagestream-webhook.imagestream-system.svc.cluster.local",
        ])
    );
    assert_eq!(serving["privateKey"]["algorithm"], "ECDSA");
    assert_eq!(serving["privateKey"]["size"], 256);
    assert!(serving.get("isCA").is_none_or(|v| v == false));

    // serving <- CA Issuer <- CA Certificate <- self-signed Issuer
    let ca_issuer = issuer_of(serving);
    let ca_secret = ca_issuer["ca"]["secretName"]
        .as_str()
        .expect("the serving Certificate comes from a CA Issuer");
    let ca = certs
        .values()
        .find(|c| c["secretName"] == ca_secret)
        .expect("a Certificate makes the CA Issuer's Secret");
    assert_eq!(ca["isCA"], true);
    assert_eq!(ca["privateKey"]["algorithm"], "ECDSA");
    assert_eq!(ca["privateKey"]["size"], 256);
    // A renewed CA keeps its key, so certificates it signed before stay valid.
    assert_eq!(ca["privateKey"]["rotationPolicy"], "Never");
    assert!(
        issuer_of(ca).get("selfSigned").is_some(),
        "the CA is self-signed"
    );
    assert!(
        hours("CA", &ca["duration"]) > hours("serving", &serving["duration"]),
        "the CA outlives the certificates it signs"
    );
}

/// Kinds that are not part of the Kubernetes API, so kubernetes-validate has
/// no schema for them (it only warns and passes them): cert-manager's own
/// custom resources (checked field by field in check_issuer and
/// check_certificate instead), and the custom resource that manifests/crd.yaml
/// defines (the CRD itself is a Kubernetes kind and is validated).
const NOT_IN_KUBERNETES_SCHEMAS: &[(&str, &str)] = &[
    ("cert-manager.io/v1", "Issuer"),
    ("cert-manager.io/v1", "Certificate"),
    ("image.openshift.io/v1", "ImageStream"),
];

pub(crate) fn kubernetes_validate(what: &str, rendered: &str) {
    let mut kept = Vec::new();
    for doc in documents(rendered) {
        let id = (
            doc["apiVersion"].as_str().unwrap_or(""),
            doc["kind"].as_str().unwrap_or(""),
        );
        if !NOT_IN_KUBERNETES_SCHEMAS.contains(&id) {
            kept.push(doc);
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join(format!("{what}.yaml"));
    let text: Vec<String> = kept
        .iter()
        .map(|d| serde_json::to_string_pretty(d).expect("json"))
        .collect();
    std::fs::write(&file, text.join("\n---\n")).expect("write");
    let args = |cmd: &mut Command| {
        cmd.args(["-k", "1.33.0", "--strict"]).arg(&file);
    };
    let limit = Duration::from_secs(120);
    let mut cmd = Command::new("kubernetes-validate");
    args(&mut cmd);
    let ran = match run_bounded(&mut cmd, limit) {
        Ok(ran) => ran,
        // pip may have put the script where PATH does not look: the module
        // runs all the same.
        Err(e) if e.kind() == ErrorKind::NotFound => {
            let mut cmd = Command::new("python3");
            cmd.args(["-m", "kubernetes_validate"]);
            args(&mut cmd);
            match run_bounded(&mut cmd, limit) {
                Ok(ran) if !ran.stderr.contains("No module named kubernetes_validate") => ran,
                _ => panic!("{INSTALL_VALIDATE}"),
            }
        }
        Err(e) => panic!("cannot run kubernetes-validate: {e}"),
    };
    let report = format!("{}{}", ran.stdout, ran.stderr);
    assert!(ran.status.success(), "{what}: {report}");
    // A kind without a schema only warns: every object must have passed.
    assert!(
        !report
            .lines()
            .any(|l| l.starts_with("WARN") || l.starts_with("ERROR")),
        "{what}: {report}"
    );
    let passed = report
        .lines()
        .filter(|l| l.contains("passed for resource"))
        .count();
    assert_eq!(passed, kept.len(), "{what}: {report}");
}

#[test]
fn kubernetes_validate_accepts_the_base() {
    kubernetes_validate("base", rendered_base());
}

#[test]
fn kubernetes_validate_accepts_the_cert_manager_overlay() {
    kubernetes_validate("cert-manager", rendered_cert_manager());
}

// ---- hack/deploy.sh and hack/undeploy.sh against a stand-in kubectl ------------

/// Records every call, answers `get` from files under $FAKE_STATE/objects
/// (`KIND.NAME` exists; `KIND.NAME.FIELD` holds a jsonpath's answer, FIELD
/// being the jsonpath with every other character than [A-Za-z0-9] made `_`),
/// keeps what each `apply` reads, fails `rollout` when FAKE_ROLLOUT_FAILS is
/// set, and hands `kustomize` and `create --dry-run=client` to the real kubectl.
const FAKE_KUBECTL: &str = r#"#!/usr/bin/env bash
set -euo pipefail
export LC_ALL=C
state=$FAKE_STATE
printf '%s\n' "$*" >>"$state/calls"
args=("$@")
if [[ ${1:-} == -n ]]; then shift 2; fi
case "${1:-}" in
kustomize) exec "$REAL_KUBECTL" "${args[@]}" ;;
create)
    if [[ " $* " != *" --dry-run=client "* ]]; then
        echo "fake kubectl: create without --dry-run=client" >&2
        exit 97
    fi
    exec "$REAL_KUBECTL" "${args[@]}" ;;
config) echo fake-context ;;
apply) cat >"$state/applied-$(printf %04d "$(wc -l <"$state/calls")").yaml" ;;
rollout) if [[ -n ${FAKE_ROLLOUT_FAILS:-} ]]; then exit 1; fi ;;
delete) ;;
get)
    obj="$state/objects/$2.$3"
    [[ -e $obj ]] || exit 0
    if [[ " $* " == *" -o name "* ]]; then
        echo "$2/$3"
        exit 0
    fi
    all="$*"
    field=${all##*jsonpath=}
    field=${field//[^A-Za-z0-9]/_}
    if [[ -e $obj.$field ]]; then cat "$obj.$field"; fi ;;
*)
    echo "fake kubectl: unexpected call: ${args[*]}" >&2
    exit 97 ;;
esac
"#;

struct FakeCluster {
    dir: tempfile::TempDir,
}

impl FakeCluster {
    fn new() -> FakeCluster {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let kubectl = dir.path().join("kubectl");
        std::fs::write(&kubectl, FAKE_KUBECTL).expect("write fake kubectl");
        std::fs::set_permissions(&kubectl, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::fs::create_dir(dir.path().join("objects")).expect("objects");
        std::fs::write(dir.path().join("calls"), "").expect("calls");
        FakeCluster { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Makes `kind/name` exist, answering `jsonpath` with `value`.
    fn set(&self, kind: &str, name: &str, jsonpath: &str, value: &str) {
        let obj = self.path(&format!("objects/{kind}.{name}"));
        std::fs::write(&obj, "").expect("object");
        let field: String = jsonpath
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        std::fs::write(format!("{}.{field}", obj.display()), value).expect("field");
    }

    fn run(&self, script: &str, env: &[(&str, &str)]) -> Ran {
        let mut cmd = Command::new("bash");
        cmd.arg(repo_path(script))
            .current_dir(repo_path(""))
            .env("KUBECTL", self.path("kubectl"))
            .env("FAKE_STATE", self.dir.path())
            .env("REAL_KUBECTL", real_kubectl())
            .env("KUBECONFIG", self.path("no-kubeconfig"));
        for var in [
            "BIN",
            "CERTS_DIR",
            "KUSTOMIZE_DIR",
            "IMAGE",
            "ROTATE_CERTS",
            "ROLLOUT_TIMEOUT",
            "PURGE",
            "FAKE_ROLLOUT_FAILS",
        ] {
            cmd.env_remove(var);
        }
        cmd.envs(env.iter().copied());
        run_bounded(&mut cmd, Duration::from_secs(120))
            .unwrap_or_else(|e| panic!("cannot run bash {script}: {e}"))
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.path("calls"))
            .expect("calls")
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// What each `apply` read, in order, with the number of its call (from 1).
    fn applied(&self) -> Vec<(usize, Vec<Value>)> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .expect("state")
            .map(|e| e.expect("entry").path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("applied-"))
            })
            .collect();
        files.sort();
        files
            .iter()
            .map(|f| {
                let n = f
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .and_then(|s| s.strip_prefix("applied-"))
                    .and_then(|s| s.parse().ok())
                    .expect("call number");
                (n, documents(&std::fs::read_to_string(f).expect("applied")))
            })
            .collect()
    }

    /// The number (from 1) of the first call that contains `needle`.
    fn call_number(&self, needle: &str) -> usize {
        self.calls()
            .iter()
            .position(|c| c.contains(needle))
            .map(|i| i + 1)
            .unwrap_or_else(|| panic!("no call {needle:?} in {:#?}", self.calls()))
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().expect("base64 string"))
        .expect("base64")
}

fn kinds(docs: &[Value]) -> BTreeSet<String> {
    docs.iter()
        .map(|d| d["kind"].as_str().unwrap_or("").to_owned())
        .collect()
}

fn ca_bundles(docs: &[Value]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for kind in [
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
    ] {
        let c = by_kind(docs, kind);
        assert_eq!(c.len(), 1, "{kind} applied");
        out.push(unb64(&c[0]["webhooks"][0]["clientConfig"]["caBundle"]));
    }
    assert_eq!(out[0], out[1], "both webhooks trust the same CAs");
    out
}

fn secret_data(docs: &[Value], key: &str) -> Vec<u8> {
    let s = by_kind(docs, "Secret");
    assert_eq!(s.len(), 1);
    assert_eq!(s[0]["metadata"]["name"], TLS_SECRET);
    assert_eq!(s[0]["metadata"]["namespace"], NS);
    assert_eq!(s[0]["type"], "kubernetes.io/tls");
    unb64(&s[0]["data"][key])
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

const WEBHOOK_KINDS: [&str; 2] = [
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

#[test]
fn deploy_installs_the_secret_then_the_workload_then_the_webhooks() {
    let cluster = FakeCluster::new();
    let certs = cluster.path("certs");
    let ran = cluster.run(
        "hack/deploy.sh",
        &[
            ("BIN", BIN),
            ("CERTS_DIR", certs.to_str().expect("path")),
            ("IMAGE", "registry.example:5000/imagestream-webhook:dev"),
        ],
    );
    assert!(ran.status.success(), "{}", ran.stderr);

    let applied = cluster.applied();
    assert_eq!(applied.len(), 4, "namespace, secret, workload, webhooks");
    assert_eq!(
        kinds(&applied[0].1),
        BTreeSet::from(["Namespace".to_owned()])
    );
    assert_eq!(applied[0].1[0]["metadata"]["name"], NS);
    assert_eq!(
        secret_data(&applied[1].1, "tls.crt"),
        read(&certs.join("tls.crt"))
    );
    assert_eq!(
        secret_data(&applied[1].1, "tls.key"),
        read(&certs.join("tls.key"))
    );
    assert_eq!(
        secret_data(&applied[1].1, "ca.crt"),
        read(&certs.join("ca.crt"))
    );

    // The workload first, without the webhooks ...
    let workload = &applied[2].1;
    let expected: BTreeSet<String> = kinds(&documents(rendered_base()))
        .into_iter()
        .filter(|k| !WEBHOOK_KINDS.contains(&k.as_str()))
        .collect();
    assert_eq!(kinds(workload), expected);
    let deployment = by_kind(workload, "Deployment")[0];
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.example:5000/imagestream-webhook:dev"
    );
    // ... then, once the Deployment is ready, the webhooks, trusting the new CA.
    let rollout = cluster.call_number("rollout status deployment/imagestream-webhook");
    assert!(applied[2].0 < rollout && rollout < applied[3].0);
    for bundle in ca_bundles(&applied[3].1) {
        assert_eq!(bundle, read(&certs.join("ca.crt")));
    }
    assert!(
        !cluster
            .calls()
            .iter()
            .any(|c| c.contains("rollout restart")),
        "no Deployment to restart on a first install"
    );
}

/// `imagestream-webhook certs` into `dir`.
fn make_certs(dir: &Path) {
    let ran = run_bounded(
        Command::new(BIN)
            .args(["certs", "--service", NAME, "--namespace", NS, "--out"])
            .arg(dir),
        Duration::from_secs(30),
    )
    .expect("run certs");
    assert!(ran.status.success(), "{}", ran.stderr);
    let ca = b64(&read(&dir.join("ca.crt")));
    assert_eq!(ran.stdout.trim(), ca, "certs prints the caBundle");
}

/// A cluster where deploy.sh ran before: the Secret (with ca.crt, as
/// deploy.sh writes it, or without, as a hand-made one) and the registered
/// CA. Without ca.crt, the webhooks trust an older CA too (as after a
/// rotation), listed first. Returns the certificates in the Secret.
fn installed_cluster(secret_has_ca: bool) -> (FakeCluster, PathBuf) {
    let cluster = FakeCluster::new();
    let old = cluster.path("old-certs");
    make_certs(&old);
    let ca = read(&old.join("ca.crt"));
    cluster.set(
        "secret",
        TLS_SECRET,
        "{.data.tls\\.crt}",
        &b64(&read(&old.join("tls.crt"))),
    );
    let mut registered = ca.clone();
    if secret_has_ca {
        cluster.set("secret", TLS_SECRET, "{.data.ca\\.crt}", &b64(&ca));
    } else {
        let older = cluster.path("older-certs");
        make_certs(&older);
        registered = read(&older.join("ca.crt"));
        registered.extend(&ca);
    }
    for kind in [
        "mutatingwebhookconfiguration",
        "validatingwebhookconfiguration",
    ] {
        cluster.set(
            kind,
            NAME,
            "{.webhooks[0].clientConfig.caBundle}",
            &b64(&registered),
        );
    }
    cluster.set("deployment", NAME, "{}", "");
    (cluster, old)
}

#[test]
fn deploy_again_keeps_the_certificate() {
    let (cluster, old) = installed_cluster(true);
    // No binary: keeping the certificate must not need one.
    let ran = cluster.run(
        "hack/deploy.sh",
        &[("BIN", "/nonexistent/imagestream-webhook")],
    );
    assert!(ran.status.success(), "{}", ran.stderr);
    let applied = cluster.applied();
    assert_eq!(
        applied.len(),
        2,
        "workload, webhooks: {:#?}",
        cluster.calls()
    );
    assert!(by_kind(&applied[0].1, "Secret").is_empty());
    for bundle in ca_bundles(&applied[1].1) {
        assert_eq!(bundle, read(&old.join("ca.crt")));
    }
    assert!(!cluster.calls().iter().any(|c| c.starts_with("create")
        || c.contains(" create ")
        || c.contains("rollout restart")));
}

#[test]
fn deploy_rotates_the_certificate_with_both_cas_trusted() {
    for secret_has_ca in [true, false] {
        let (cluster, old) = installed_cluster(secret_has_ca);
        let certs = cluster.path("new-certs");
        let ran = cluster.run(
            "hack/deploy.sh",
            &[
                ("BIN", BIN),
                ("CERTS_DIR", certs.to_str().expect("path")),
                ("ROTATE_CERTS", "1"),
            ],
        );
        assert!(ran.status.success(), "{}", ran.stderr);
        let applied = cluster.applied();
        assert_eq!(applied.len(), 3, "workload, webhooks, secret");
        // The webhooks trust the CA of the certificate the pods serve now and
        // the new one, before the Secret changes.
        let mut both = read(&old.join("ca.crt"));
        both.extend(read(&certs.join("ca.crt")));
        for bundle in ca_bundles(&applied[1].1) {
            assert_eq!(
                String::from_utf8_lossy(&bundle),
                String::from_utf8_lossy(&both),
                "secret has ca.crt: {secret_has_ca}"
            );
        }
        assert_eq!(
            secret_data(&applied[2].1, "tls.crt"),
            read(&certs.join("tls.crt"))
        );
        assert_eq!(
            secret_data(&applied[2].1, "ca.crt"),
            read(&certs.join("ca.crt"))
        );
    }
}

#[test]
fn deploy_registers_no_webhook_when_the_deployment_is_not_ready() {
    let cluster = FakeCluster::new();
    let ran = cluster.run(
        "hack/deploy.sh",
        &[
            ("BIN", BIN),
            ("FAKE_ROLLOUT_FAILS", "1"),
            ("ROLLOUT_TIMEOUT", "1s"),
        ],
    );
    assert!(!ran.status.success());
    assert!(
        ran.stderr.contains("did not become ready"),
        "{}",
        ran.stderr
    );
    for (_, docs) in cluster.applied() {
        for kind in WEBHOOK_KINDS {
            assert!(by_kind(&docs, kind).is_empty(), "{kind} applied");
        }
    }
}

#[test]
fn deploy_says_how_to_build_a_missing_binary() {
    let cluster = FakeCluster::new();
    let ran = cluster.run(
        "hack/deploy.sh",
        &[("BIN", "/nonexistent/imagestream-webhook")],
    );
    assert!(!ran.status.success());
    assert!(
        ran.stderr.contains("cargo build --release"),
        "{}",
        ran.stderr
    );
    assert!(cluster.applied().is_empty());
}

#[test]
fn undeploy_removes_the_webhooks_first_and_keeps_the_crd() {
    let cluster = FakeCluster::new();
    let ran = cluster.run("hack/undeploy.sh", &[]);
    assert!(ran.status.success(), "{}", ran.stderr);
    let deletes: Vec<String> = cluster
        .calls()
        .into_iter()
        .filter(|c| c.starts_with("delete "))
        .collect();
    assert!(deletes[0].starts_with("delete mutatingwebhookconfiguration imagestream-webhook"));
    assert!(deletes[1].starts_with("delete validatingwebhookconfiguration imagestream-webhook"));
    for gone in [
        "delete clusterrolebinding imagestream-webhook",
        "delete clusterrole imagestream-webhook",
        "delete namespace imagestream-system",
    ] {
        assert!(
            deletes.iter().any(|d| d.starts_with(gone)),
            "{gone}: {deletes:#?}"
        );
    }
    assert!(
        !deletes
            .iter()
            .any(|d| d.contains("customresourcedefinition"))
    );
    assert!(!deletes.iter().any(|d| d.contains("system:image-puller")));

    let cluster = FakeCluster::new();
    let ran = cluster.run("hack/undeploy.sh", &[("PURGE", "1")]);
    assert!(ran.status.success(), "{}", ran.stderr);
    let calls = cluster.calls();
    let last = calls.last().expect("calls");
    assert!(
        last.starts_with("delete customresourcedefinition imagestreams.image.openshift.io"),
        "{calls:#?}"
    );
}

#[test]
fn kustomize_renders_the_events_overlay() {
    let docs = documents(rendered_events());
    let deployment = by_kind(&docs, "Deployment")[0];
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let args: Vec<&str> = container["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(args.contains(&"--events-listen=0.0.0.0:8444"), "{args:?}");
    assert!(
        args.contains(&"--events-token-file=/etc/imagestream-webhook/events/token"),
        "{args:?}"
    );
    assert!(!args.contains(&"--events-plain-http"), "HTTPS by default");
    let mounted = container["volumeMounts"]
        .as_array()
        .expect("mounts")
        .iter()
        .any(|m| m["mountPath"] == "/etc/imagestream-webhook/events" && m["readOnly"] == true);
    assert!(mounted, "{container}");
    let service = by_kind(&docs, "Service")[0];
    assert!(
        service["spec"]["ports"]
            .as_array()
            .expect("ports")
            .iter()
            .any(|p| p["port"] == 8444 && p["targetPort"] == 8444),
        "{service}"
    );
    // The policy must keep admission and the probes reachable, and admit
    // the event port only from the namespaces it names.
    let policy = by_kind(&docs, "NetworkPolicy")[0];
    assert_eq!(policy["metadata"]["namespace"], NS);
    let rules = policy["spec"]["ingress"].as_array().expect("ingress");
    let open: Vec<&Value> = rules
        .iter()
        .filter(|r| r.get("from").is_none())
        .flat_map(|r| r["ports"].as_array().into_iter().flatten())
        .collect();
    assert!(open.iter().any(|p| p["port"] == 8443), "{policy}");
    assert!(open.iter().any(|p| p["port"] == 9090), "{policy}");
    assert!(!open.iter().any(|p| p["port"] == 8444), "{policy}");
    // The handover between replicas: one ConfigMap, in this namespace.
    let role = by_kind(&docs, "Role")
        .into_iter()
        .find(|r| r["metadata"]["name"] == "imagestream-webhook-events")
        .expect("the events Role");
    assert_eq!(role["metadata"]["namespace"], NS);
    for rule in role["rules"].as_array().expect("rules") {
        assert_eq!(
            rule["resources"],
            serde_json::json!(["configmaps"]),
            "{rule}"
        );
        if rule["verbs"] != serde_json::json!(["create"]) {
            assert_eq!(
                rule["resourceNames"],
                serde_json::json!(["imagestream-webhook-pushed"]),
                "{rule}"
            );
        }
    }
}
