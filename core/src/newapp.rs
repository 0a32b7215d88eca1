//! What `new-app --image-stream NAME[:TAG]` makes, as `oc new-app -i` makes
//! it (openshift/oc `pkg/helpers/newapp`): a Deployment of the tag's image
//! with the image's exposed ports and volumes, the trigger annotation that
//! follows the tag, and a Service when the image exposes a port.
//!
//! One difference on purpose: oc writes `image: " "` and leaves the first
//! rollout to the trigger controller; here the container is pinned to the
//! tag's current image, so the Deployment runs as soon as it is applied and
//! `review` and the webhook admit it unchanged.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::image::DockerConfig;
use crate::trigger::TRIGGERS_ANNOTATION;

/// `openshift.io/generated-by`, on every object and on the pod template.
pub const GENERATED_BY: (&str, &str) = ("openshift.io/generated-by", "OpenShiftNewApp");

/// What the objects are made from.
#[derive(Debug, Clone)]
pub struct Source<'a> {
    /// The stream's namespace and name, and the tag followed.
    pub namespace: &'a str,
    pub stream: &'a str,
    pub tag: &'a str,
    /// The tag's current image, `REPO@sha256:…`.
    pub image: &'a str,
    /// The config of the image (for an index, of the child for the preferred platform).
    pub config: &'a DockerConfig,
}

/// The Deployment, then the Service when the image exposes a port.
/// `name` is `--name`; without it, the stream's name made valid.
pub fn objects(source: &Source<'_>, name: Option<&str>) -> Result<Vec<Value>, String> {
    let name = match name {
        Some(n) => checked_name(n)?,
        None => name_of_stream(source.stream)?,
    };
    let container = container_name(source.stream);
    let labels = json!({
        "app": name,
        "app.kubernetes.io/component": name,
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/name": source.stream,
    });
    let ports = ports(source.config);
    let volumes = volume_paths(source.config);
    let volume_base = get_name(&container, "volume", 63 - digits(volumes.len()) - 1);
    let mut c = json!({"image": source.image, "name": container, "resources": {}});
    if !ports.is_empty() {
        c["ports"] = ports
            .iter()
            .map(|(port, proto)| json!({"containerPort": port, "protocol": proto}))
            .collect();
    }
    let volume_name = |i: usize| format!("{volume_base}-{}", i + 1);
    if !volumes.is_empty() {
        c["volumeMounts"] = volumes
            .iter()
            .enumerate()
            .map(|(i, path)| json!({"mountPath": path, "name": volume_name(i)}))
            .collect();
    }
    let mut pod = json!({"containers": [c]});
    if !volumes.is_empty() {
        pod["volumes"] = (0..volumes.len())
            .map(|i| json!({"emptyDir": {}, "name": volume_name(i)}))
            .collect();
    }
    let deployment = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "annotations": {
                TRIGGERS_ANNOTATION: trigger(source, &container),
                GENERATED_BY.0: GENERATED_BY.1,
            },
            "labels": labels,
            "name": name,
        },
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"deployment": name}},
            "strategy": {},
            "template": {
                "metadata": {
                    "annotations": {GENERATED_BY.0: GENERATED_BY.1},
                    "labels": {"deployment": name},
                },
                "spec": pod,
            },
        },
        "status": {},
    });
    let mut out = vec![deployment];
    if !ports.is_empty() {
        out.push(json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "annotations": {GENERATED_BY.0: GENERATED_BY.1},
                "labels": labels,
                "name": name,
            },
            "spec": {
                "ports": ports.iter().map(|(port, proto)| json!({
                    "name": format!("{port}-{}", proto.to_ascii_lowercase()),
                    "port": port,
                    "protocol": proto,
                    "targetPort": port,
                })).collect::<Vec<_>>(),
                "selector": {"deployment": name},
            },
            "status": {"loadBalancer": {}},
        }));
    }
    Ok(out)
}

/// The trigger annotation, keys in oc's order (from, then fieldPath); the
/// namespace is always written, as oc writes it.
fn trigger(source: &Source<'_>, container: &str) -> String {
    let s = |v: &str| Value::String(v.to_owned()).to_string();
    format!(
        "[{{\"from\":{{\"kind\":\"ImageStreamTag\",\"name\":{},\"namespace\":{}}},\"fieldPath\":{}}}]",
        s(&format!("{}:{}", source.stream, source.tag)),
        s(source.namespace),
        s(&format!(
            "spec.template.spec.containers[?(@.name==\"{container}\")].image"
        )),
    )
}

/// The image's exposed ports as (port, `TCP`|`UDP`), by port then
/// protocol, each once. A key may hold several ports separated by spaces;
/// no protocol is tcp; anything else (`sctp`, not a port) is left out, as oc
/// leaves it out.
pub fn ports(config: &DockerConfig) -> Vec<(u16, &'static str)> {
    let mut out = BTreeSet::new();
    for key in config.exposed_ports.iter().flat_map(|p| p.keys()) {
        for one in key.split_whitespace() {
            let (port, proto) = one.split_once('/').unwrap_or((one, "tcp"));
            let proto = match proto.to_ascii_lowercase().as_str() {
                "tcp" => "TCP",
                "udp" => "UDP",
                _ => continue,
            };
            if let Ok(port) = port.parse::<u16>()
                && port > 0
            {
                out.insert((port, proto));
            }
        }
    }
    out.into_iter().collect()
}

/// The image's volumes, sorted (oc follows Go's map order, which is random).
fn volume_paths(config: &DockerConfig) -> Vec<&str> {
    config
        .volumes
        .iter()
        .flat_map(|v| v.keys())
        .map(String::as_str)
        .filter(|p| !p.is_empty())
        .collect()
}

fn digits(n: usize) -> usize {
    n.to_string().len()
}

const NAME_RULE: &str = "Must be an a lower case alphanumeric (a-z, and 0-9) string with a maximum length of 58 characters, where the first character is a letter (a-z), and the '-' character is allowed anywhere except the first or last character.";

/// `--name`, checked as oc checks it (a DNS-1035 label of at most 58 characters).
fn checked_name(name: &str) -> Result<String, String> {
    let b = name.as_bytes();
    let valid = !b.is_empty()
        && b.len() <= 58
        && b[0].is_ascii_lowercase()
        && b[b.len() - 1] != b'-'
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-');
    if valid {
        Ok(name.to_owned())
    } else {
        Err(format!("invalid name: {name}. {NAME_RULE}"))
    }
}

/// The stream's name made a name, as oc does: lowercased, characters other
/// than `[-a-z0-9]` dropped, leading `-` trimmed. It is also a label value,
/// so it must fit 63 characters.
fn name_of_stream(stream: &str) -> Result<String, String> {
    let name: String = stream
        .to_ascii_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
        .collect();
    let name = name.trim_start_matches('-').to_owned();
    if name.len() < 2 {
        return Err(format!(
            "invalid name: {name}; the stream's name does not make a name: pass --name"
        ));
    }
    if name.len() > 63 {
        return Err(format!(
            "the name {name} is over 63 characters, which the pod label deployment={name} cannot hold: pass --name"
        ));
    }
    Ok(name)
}

/// The container's name: the stream's, with characters outside
/// `[a-zA-Z0-9-]` made `-` and `-` trimmed at both ends (oc's `SuggestName`).
fn container_name(stream: &str) -> String {
    let name: String = stream
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(253)
        .collect();
    name.trim_matches('-').to_owned()
}

/// library-go's `naming.GetName`: `base-suffix`, or when that is longer
/// than `max`, a shortened base with an FNV-1a hash of it.
fn get_name(base: &str, suffix: &str, max: usize) -> String {
    let name = format!("{base}-{suffix}");
    if name.len() <= max {
        return name;
    }
    let hash = |s: &str| {
        let h = s.bytes().fold(0x811c_9dc5_u32, |h, b| {
            (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
        });
        format!("{h:08x}")
    };
    match max.checked_sub(10 + suffix.len()) {
        Some(keep) => format!("{}-{}-{suffix}", &base[..keep.min(base.len())], hash(base)),
        None => {
            let prefix = &base[..base.len().min(max.saturating_sub(9))];
            let short = format!("{prefix}-{}", hash(&name));
            short[..short.len().min(max)].to_owned()
        }
    }
}

#[cfg(test)]
mod tests;

/// The tag `new-app -i NAME` follows when no tag is given: `latest`, or,
/// as oc does, the tag of the same stream that `latest` follows
/// (`from: {kind: ImageStreamTag, name: TAG}`), when that tag has an image
/// and neither tag is hidden.
pub fn default_tag(is: &crate::stream::ImageStream) -> String {
    let latest = "latest";
    let hidden = |tag: &str| {
        is.spec_tag(tag)
            .and_then(|t| t.annotations.as_ref())
            .and_then(|a| a.get("tags"))
            .is_some_and(|v| v.split(',').any(|t| t.trim() == "hidden"))
    };
    let followed = is
        .spec_tag(latest)
        .filter(|t| t.from_kind() == Some(crate::stream::FROM_KIND_IMAGE_STREAM_TAG))
        .filter(|t| {
            t.from_namespace()
                .is_none_or(|ns| Some(ns) == is.metadata.namespace.as_deref())
        })
        .and_then(|t| t.from_name())
        .filter(|name| !name.contains(':'));
    match followed {
        Some(tag)
            if !hidden(latest)
                && !hidden(tag)
                && is.status_tag(tag).and_then(|t| t.latest()).is_some() =>
        {
            tag.to_owned()
        }
        _ => latest.to_owned(),
    }
}
