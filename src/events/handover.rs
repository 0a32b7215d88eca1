//! Cluster mode with several replicas: any replica may receive an event,
//! only the Lease holder imports. A replica that does not lead hands the
//! pushed tags over through the API: it adds them to the ConfigMap
//! `imagestream-webhook-pushed` in its own namespace, and the leader takes
//! them from there (it reads the ConfigMap every second) into its own
//! pending set. Writes carry the `resourceVersion` they were computed from,
//! so two writers never overwrite each other.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{ObjectMeta, PostParams};

use imagestream_core::events::Hint;

/// The ConfigMap's name, and the key that holds the tags, one per line.
pub const CONFIG_MAP: &str = "imagestream-webhook-pushed";
const KEY: &str = "pushed";

/// How often the leader looks for handed-over tags.
pub const POLL: Duration = Duration::from_secs(1);

/// The most tags the ConfigMap holds (far below its 1 MiB); more are left
/// to the schedule.
const MAX_HANDED: usize = 2000;

/// Tries of a write that met a concurrent one.
const TRIES: usize = 5;

pub struct Handover {
    api: Api<ConfigMap>,
}

impl Handover {
    pub fn new(client: kube::Client, namespace: &str) -> Handover {
        Handover {
            api: Api::namespaced(client, namespace),
        }
    }

    /// Adds `hints` to the ConfigMap (made when missing).
    pub async fn give(&self, hints: &[Hint]) -> Result<(), String> {
        for _ in 0..TRIES {
            let current = self
                .api
                .get_opt(CONFIG_MAP)
                .await
                .map_err(|e| self.error(e))?;
            let mut lines: Vec<String> = current
                .as_ref()
                .map(|cm| read(cm).into_iter().map(|h| h.to_string()).collect())
                .unwrap_or_default();
            for h in hints {
                let text = h.to_string();
                if !lines.contains(&text) && lines.len() < MAX_HANDED {
                    lines.push(text);
                }
            }
            let written = match current {
                Some(mut cm) => {
                    cm.data = Some(data(&lines));
                    self.api
                        .replace(CONFIG_MAP, &PostParams::default(), &cm)
                        .await
                }
                None => {
                    let cm = ConfigMap {
                        metadata: ObjectMeta {
                            name: Some(CONFIG_MAP.to_owned()),
                            ..ObjectMeta::default()
                        },
                        data: Some(data(&lines)),
                        ..ConfigMap::default()
                    };
                    self.api.create(&PostParams::default(), &cm).await
                }
            };
            match written {
                Ok(_) => return Ok(()),
                Err(e) if conflict(&e) => continue,
                Err(e) => return Err(self.error(e)),
            }
        }
        Err(format!(
            "configmap {CONFIG_MAP} kept changing; gave up after {TRIES} tries"
        ))
    }

    /// Takes every handed-over tag out of the ConfigMap.
    pub async fn take(&self) -> Result<Vec<Hint>, String> {
        for _ in 0..TRIES {
            let Some(mut cm) = self
                .api
                .get_opt(CONFIG_MAP)
                .await
                .map_err(|e| self.error(e))?
            else {
                return Ok(Vec::new());
            };
            let hints = read(&cm);
            if hints.is_empty() && cm.data.as_ref().is_none_or(BTreeMap::is_empty) {
                return Ok(Vec::new());
            }
            cm.data = None;
            match self
                .api
                .replace(CONFIG_MAP, &PostParams::default(), &cm)
                .await
            {
                Ok(_) => return Ok(hints),
                Err(e) if conflict(&e) => continue,
                Err(e) => return Err(self.error(e)),
            }
        }
        Err(format!(
            "configmap {CONFIG_MAP} kept changing; gave up after {TRIES} tries"
        ))
    }

    fn error(&self, e: kube::Error) -> String {
        format!("cannot hand pushed tags over through configmap {CONFIG_MAP}: {e}")
    }
}

/// The tags a ConfigMap holds; a line that is not `HOST/REPOSITORY:TAG`
/// (the ConfigMap is writable by more than this process) is dropped.
fn read(cm: &ConfigMap) -> Vec<Hint> {
    let Some(text) = cm.data.as_ref().and_then(|d| d.get(KEY)) else {
        return Vec::new();
    };
    text.lines()
        .filter(|l| !l.is_empty())
        .take(MAX_HANDED)
        .filter_map(|l| Hint::parse(l).ok())
        .collect()
}

fn data(lines: &[String]) -> BTreeMap<String, String> {
    BTreeMap::from([(KEY.to_owned(), lines.join("\n"))])
}

fn conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409 || s.code == 422)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hints_are_read_back() {
        let cm = ConfigMap {
            data: Some(BTreeMap::from([(
                KEY.to_owned(),
                "r.io/a/b:1\nnot a hint\n\nr.io/a/b@sha256:00\nR.io:5000/c:2\n".to_owned(),
            )])),
            ..ConfigMap::default()
        };
        let got: Vec<String> = read(&cm).iter().map(Hint::to_string).collect();
        assert_eq!(got, ["r.io/a/b:1", "R.io:5000/c:2"]);
        assert!(read(&ConfigMap::default()).is_empty());
    }
}
