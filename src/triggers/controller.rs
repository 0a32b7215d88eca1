//! The image-change trigger controller (cluster mode, on the lease holder):
//! watches annotated Deployments, StatefulSets, DaemonSets and CronJobs and
//! patches the followed image field when the tag moves. Level-driven: every
//! pass compares each followed field with its tag, so a restart or a missed
//! event converges on the next list.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use imagestream_core::access::{AccessDecision, AccessPort as _, ServiceAccount};
use imagestream_core::admission::audit_record::{AuditImage, AuditRecord};
use imagestream_core::admission::workload::Kind;
use imagestream_core::stream::resolve::StreamName;
use imagestream_core::stream::snapshot::Snapshot;
use imagestream_core::trigger::{self, TRIGGERS_ANNOTATION, Trigger};

use crate::access::AccessChecker;
use crate::metrics::{Metrics, TriggerLabels};
use crate::serving::audit_log::AuditLog;
use crate::store::Store;
use crate::store::cluster::watch::Change;

/// The kinds that may carry triggers.
pub const KINDS: [Kind; 4] = [
    Kind::Deployment,
    Kind::StatefulSet,
    Kind::DaemonSet,
    Kind::CronJob,
];

/// Patches retried after a conflict or a failed `test` (someone else edited the field).
const PATCH_ATTEMPTS: usize = 3;

fn api_resource(kind: Kind) -> ApiResource {
    let (group, version) = match kind.api_version().split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", kind.api_version()),
    };
    ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind.as_str()))
}

type Key = (Kind, String, String);

pub struct TriggerController {
    pub client: kube::Client,
    pub store: Arc<Store>,
    pub access: AccessChecker,
    pub audit: Option<AuditLog>,
    pub metrics: Option<Arc<Metrics>>,
}

/// What one pass decided for a workload.
#[derive(Debug, PartialEq, Eq)]
enum Plan {
    Nothing,
    /// An Event to record (reason, message), nothing patched.
    Problem(&'static str, String),
    /// (pointer, old, new, trigger) for each field to move; problems with
    /// single triggers (forbidden) ride along as events.
    Patch(Vec<FieldMove>, Vec<(&'static str, String)>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct FieldMove {
    pointer: String,
    old: String,
    new: String,
    stream: String,
    tag: String,
    container_path: String,
}

impl TriggerController {
    /// Runs until `shutdown`; reconciles only while this replica leads.
    pub async fn run(
        self: Arc<Self>,
        mut leader: watch::Receiver<bool>,
        shutdown: CancellationToken,
    ) {
        // One list-then-watch per kind, forwarded into one channel.
        let (tx, mut events) = tokio::sync::mpsc::channel::<(Kind, Change<DynamicObject>)>(1024);
        for kind in KINDS {
            let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &api_resource(kind));
            let mut rx = crate::store::cluster::watch::spawn(api, shutdown.clone());
            let tx = tx.clone();
            tokio::spawn(async move {
                while let Some(change) = rx.recv().await {
                    if tx.send((kind, change)).await.is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        let mut workloads: HashMap<Key, Arc<DynamicObject>> = HashMap::new();
        let mut reported: HashMap<Key, String> = HashMap::new();
        let mut changes = self.store.subscribe();
        let mut dirty = true;
        let mut last_pass = Instant::now();
        loop {
            if std::mem::take(&mut dirty) && *leader.borrow() && self.store.is_synced() {
                let snap = self.store.load_full();
                let all: Vec<(Key, Arc<DynamicObject>)> = workloads
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                for (key, obj) in all {
                    // The patched object replaces the cached one at once, so the next pass
                    // does not patch again from a view the watch has not refreshed yet.
                    if let Some(patched) = self.reconcile(&snap, &obj, &mut reported).await {
                        workloads.insert(key, with_types(key_kind(&obj), patched));
                    }
                }
                last_pass = Instant::now();
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                next = events.recv() => {
                    let Some(first) = next else { return };
                    apply(first, &mut workloads);
                    while let Ok(more) = events.try_recv() {
                        apply(more, &mut workloads);
                    }
                    dirty = true;
                }
                r = changes.changed() => { if r.is_err() { return } dirty = true; }
                r = leader.changed() => { if r.is_err() { return } dirty = true; }
                // A periodic pass retries what failed (an API error, a patch conflict).
                _ = tokio::time::sleep(Duration::from_secs(60).saturating_sub(last_pass.elapsed())) => dirty = true,
            }
        }
    }

    /// Acts on one workload; returns the object as patched, when it was.
    async fn reconcile(
        &self,
        snap: &Snapshot,
        obj: &DynamicObject,
        reported: &mut HashMap<Key, String>,
    ) -> Option<DynamicObject> {
        let kind = kind_of(obj)?;
        let ns = obj.metadata.namespace.clone().unwrap_or_default();
        let name = obj.metadata.name.clone().unwrap_or_default();
        let key = (kind, ns.clone(), name.clone());
        let plan = self.plan(snap, kind, obj).await;
        match plan {
            Plan::Nothing => {
                reported.remove(&key);
                None
            }
            Plan::Problem(reason, message) => {
                self.count("failed", reason);
                if reported.get(&key) != Some(&message) {
                    tracing::warn!(kind = kind.as_str(), %ns, %name, %reason, %message, "trigger not applied");
                    self.event(obj, kind, reason, &message).await;
                    reported.insert(key, message);
                }
                None
            }
            Plan::Patch(changes, problems) => {
                for (reason, message) in problems {
                    self.count("failed", reason);
                    if reported.get(&key) != Some(&message) {
                        tracing::warn!(kind = kind.as_str(), %ns, %name, %reason, %message, "trigger not applied");
                        self.event(obj, kind, reason, &message).await;
                        reported.insert(key.clone(), message);
                    }
                }
                if changes.is_empty() {
                    None
                } else {
                    self.patch(snap, kind, obj, changes).await
                }
            }
        }
    }

    /// What the triggers of `obj` ask for now.
    async fn plan(&self, snap: &Snapshot, kind: Kind, obj: &DynamicObject) -> Plan {
        let Some(annotation) = obj
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(TRIGGERS_ANNOTATION))
        else {
            return Plan::Nothing;
        };
        let ns = obj.metadata.namespace.clone().unwrap_or_default();
        let triggers = match trigger::parse(annotation, kind, &ns) {
            Ok(t) => t,
            Err(why) => return Plan::Problem("InvalidTrigger", why),
        };
        let data = &obj.data;
        let sa_name = service_account(kind, data);
        let mut changes = Vec::new();
        let mut problems = Vec::new();
        for t in triggers.iter().filter(|t| !t.paused) {
            let (pointer, current) = match trigger::locate(t, kind, data) {
                Ok(found) => found,
                Err(why) => return Plan::Problem("InvalidTrigger", why),
            };
            // Never-imported tags (and missing streams) are skipped until they have an image.
            let Some(target) = snap
                .stream(&t.namespace, &t.stream)
                .and_then(|s| s.tag(&t.tag))
                .and_then(|tag| tag.current.clone())
            else {
                continue;
            };
            if current == *target {
                continue;
            }
            let sa = ServiceAccount {
                namespace: &ns,
                name: &sa_name,
            };
            let stream = StreamName {
                namespace: &t.namespace,
                name: &t.stream,
            };
            if let AccessDecision::Denied(why) = self.access.check(snap, sa, stream).await {
                problems.push(("TriggerForbidden", why));
                continue;
            }
            changes.push(change(t, pointer, current, target.to_string()));
        }
        if changes.is_empty() && problems.is_empty() {
            Plan::Nothing
        } else {
            Plan::Patch(changes, problems)
        }
    }

    /// A JSON patch that tests each old value before replacing it, so a
    /// concurrent edit is never overwritten; on a failed test the object is
    /// read again and the plan recomputed.
    async fn patch(
        &self,
        snap: &Snapshot,
        kind: Kind,
        obj: &DynamicObject,
        mut changes: Vec<FieldMove>,
    ) -> Option<DynamicObject> {
        let ns = obj.metadata.namespace.clone().unwrap_or_default();
        let name = obj.metadata.name.clone().unwrap_or_default();
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), &ns, &api_resource(kind));
        for attempt in 1..=PATCH_ATTEMPTS {
            let started = Instant::now();
            let ops: Vec<Value> = changes
                .iter()
                .flat_map(|c| {
                    [
                        json!({"op": "test", "path": c.pointer, "value": c.old}),
                        json!({"op": "replace", "path": c.pointer, "value": c.new}),
                    ]
                })
                .collect();
            let patch: json_patch::Patch = match serde_json::from_value(Value::Array(ops)) {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(error = %e, "cannot build the trigger patch");
                    return None;
                }
            };
            match api
                .patch(&name, &PatchParams::default(), &Patch::Json::<()>(patch))
                .await
            {
                Ok(patched) => {
                    self.count("fired", "");
                    tracing::info!(kind = kind.as_str(), %ns, %name, fields = changes.len(), "trigger fired");
                    self.audit(kind, &ns, &name, &changes, started.elapsed());
                    return Some(patched);
                }
                Err(kube::Error::Api(s))
                    if (s.code == 409 || s.code == 422) && attempt < PATCH_ATTEMPTS =>
                {
                    tracing::debug!(%ns, %name, code = s.code, "trigger patch conflicted; re-reading");
                    let fresh = match api.get(&name).await {
                        Ok(f) => f,
                        Err(e) => {
                            tracing::warn!(%ns, %name, error = %e, "cannot re-read after a trigger conflict");
                            self.count("failed", "ApiError");
                            return None;
                        }
                    };
                    match self.plan(snap, kind, &fresh).await {
                        Plan::Patch(c, _) if !c.is_empty() => changes = c,
                        _ => return Some(fresh),
                    }
                }
                Err(e) => {
                    tracing::warn!(kind = kind.as_str(), %ns, %name, error = %e, "trigger patch failed; retried on the next pass");
                    self.count("failed", "ApiError");
                    return None;
                }
            }
        }
        None
    }

    async fn event(&self, obj: &DynamicObject, kind: Kind, reason: &str, message: &str) {
        let ns = obj.metadata.namespace.clone().unwrap_or_default();
        let name = obj.metadata.name.clone().unwrap_or_default();
        let now = Time(jiff::Timestamp::now());
        let event = Event {
            metadata: ObjectMeta {
                generate_name: Some(format!("{name}.")),
                namespace: Some(ns.clone()),
                ..ObjectMeta::default()
            },
            involved_object: ObjectReference {
                api_version: Some(kind.api_version().to_owned()),
                kind: Some(kind.as_str().to_owned()),
                name: Some(name.clone()),
                namespace: Some(ns.clone()),
                uid: obj.metadata.uid.clone(),
                resource_version: obj.metadata.resource_version.clone(),
                ..ObjectReference::default()
            },
            reason: Some(reason.to_owned()),
            message: Some(message.to_owned()),
            type_: Some("Warning".to_owned()),
            source: Some(EventSource {
                component: Some("imagestream-webhook".to_owned()),
                host: None,
            }),
            reporting_component: Some("imagestream-webhook".to_owned()),
            first_timestamp: Some(now.clone()),
            last_timestamp: Some(now),
            count: Some(1),
            ..Event::default()
        };
        let api: Api<Event> = Api::namespaced(self.client.clone(), &ns);
        if let Err(e) = api.create(&PostParams::default(), &event).await {
            tracing::warn!(%ns, %name, error = %e, "cannot record an event");
        }
    }

    fn count(&self, result: &'static str, reason: &'static str) {
        if let Some(m) = &self.metrics {
            m.triggers
                .get_or_create(&TriggerLabels { result, reason })
                .inc();
        }
    }

    fn audit(&self, kind: Kind, ns: &str, name: &str, changes: &[FieldMove], latency: Duration) {
        let Some(log) = &self.audit else { return };
        let images = changes
            .iter()
            .map(|c| AuditImage {
                container: Some(c.container_path.clone()),
                volume: None,
                path: c.pointer.clone(),
                requested: c.old.clone(),
                resolved: Some(c.new.clone()),
                pinned: None,
                stream: Some(c.stream.clone()),
                tag: Some(c.tag.clone()),
                access: "allowed".to_owned(),
                error: None,
            })
            .collect();
        let record = AuditRecord {
            ts: format!("{:.3}", jiff::Timestamp::now()),
            endpoint: "trigger".to_owned(),
            uid: String::new(),
            operation: "PATCH".to_owned(),
            kind: kind.as_str().to_owned(),
            namespace: ns.to_owned(),
            name: name.to_owned(),
            user: "imagestream-webhook".to_owned(),
            service_account: String::new(),
            dry_run: false,
            decision: "trigger".to_owned(),
            images,
            images_omitted: None,
            reason: Some(format!(
                "{} field(s) moved to the tags' current images",
                changes.len()
            )),
            latency_micros: u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
        };
        log.record(&record);
    }
}

fn change(t: &Trigger, pointer: String, old: String, new: String) -> FieldMove {
    FieldMove {
        pointer,
        old,
        new,
        stream: format!("{}/{}", t.namespace, t.stream),
        tag: t.tag.clone(),
        container_path: match &t.selector {
            trigger::Selector::Name(n) => n.clone(),
            trigger::Selector::Index(i) => format!("{}[{i}]", t.list.field()),
        },
    }
}

fn kind_of(obj: &DynamicObject) -> Option<Kind> {
    let types = obj.types.as_ref()?;
    let group = types.api_version.rsplit_once('/').map_or("", |(g, _)| g);
    Kind::from_group_kind(group, &types.kind)
}

/// The pod template's service account: the identity whose access the trigger needs.
fn service_account(kind: Kind, data: &Value) -> String {
    // A DynamicObject's data is the object without metadata: `spec` is at its top, as in the object.
    let spec = data.pointer(kind.pod_spec_pointer());
    ["serviceAccountName", "serviceAccount"]
        .iter()
        .find_map(|k| {
            spec.and_then(|s| s.get(*k))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        })
        .unwrap_or("default")
        .to_owned()
}

/// Watch events carry no apiVersion/kind on a DynamicObject; the watch knows them.
fn with_types(kind: Kind, mut o: DynamicObject) -> Arc<DynamicObject> {
    if o.types.is_none() {
        o.types = Some(kube::api::TypeMeta {
            api_version: kind.api_version().to_owned(),
            kind: kind.as_str().to_owned(),
        });
    }
    Arc::new(o)
}

fn key_kind(obj: &DynamicObject) -> Kind {
    kind_of(obj).unwrap_or(Kind::Deployment)
}

fn apply(
    (kind, change): (Kind, Change<DynamicObject>),
    workloads: &mut HashMap<Key, Arc<DynamicObject>>,
) {
    let key = |o: &DynamicObject| {
        (
            kind,
            o.metadata.namespace.clone().unwrap_or_default(),
            o.metadata.name.clone().unwrap_or_default(),
        )
    };
    // Only annotated workloads are kept: the others have nothing to follow.
    let annotated = |o: &DynamicObject| {
        o.metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(TRIGGERS_ANNOTATION))
    };
    match change {
        Change::Failed(e) => {
            tracing::warn!(kind = kind.as_str(), error = %e, "workload watch failed; retrying with backoff")
        }
        Change::Listed(items) => {
            workloads.retain(|k, _| k.0 != kind);
            for o in items.into_iter().filter(|o| annotated(o)) {
                workloads.insert(key(&o), with_types(kind, o));
            }
        }
        Change::Applied(o) => {
            let k = key(&o);
            if annotated(&o) {
                workloads.insert(k, with_types(kind, o));
            } else {
                workloads.remove(&k);
            }
        }
        Change::Deleted(o) => {
            workloads.remove(&key(&o));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_accounts_of_each_kind() {
        let dep = json!({"spec": {"template": {"spec": {"serviceAccountName": "builder"}}}});
        assert_eq!(service_account(Kind::Deployment, &dep), "builder");
        let cj = json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"serviceAccount": "old"}}}}}});
        assert_eq!(service_account(Kind::CronJob, &cj), "old");
        assert_eq!(service_account(Kind::DaemonSet, &json!({})), "default");
    }
}
