//! The AdmissionReview as the API server sends it, parsed into borrowed, typed
//! structs that hold only what a decision needs.
//!
//! kube's `AdmissionReview<DynamicObject>` parses the whole object into a
//! `serde_json::Value`: about four times the cost of these borrowed structs on a
//! 10-container Deployment, on the hottest path of the cluster. Everything not
//! named here is skipped by the parser without being built.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

/// The annotation that makes every short name in an object a stream lookup.
pub const RESOLVE_NAMES_ANNOTATION: &str = "alpha.image.policy.openshift.io/resolve-names";

/// A string that borrows from the request body unless JSON escapes forced a copy.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Str<'a>(pub Cow<'a, str>);

impl<'a> Str<'a> {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Str<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Str<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::ops::Deref for Str<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Serialize for Str<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

// serde borrows `Cow<str>` only for direct fields; this visitor borrows inside
// `Option` and `Vec` too.
impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// `admission.k8s.io/v1` (or `v1beta1`) AdmissionReview.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Review<'a> {
    #[serde(borrow, default)]
    pub api_version: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub kind: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub request: Option<Request<'a>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request<'a> {
    #[serde(borrow)]
    pub uid: Str<'a>,
    #[serde(borrow)]
    pub kind: GroupVersionKind<'a>,
    #[serde(borrow, default)]
    pub sub_resource: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub name: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub namespace: Option<Str<'a>>,
    #[serde(borrow)]
    pub operation: Str<'a>,
    #[serde(borrow, default)]
    pub user_info: UserInfo<'a>,
    #[serde(borrow, default)]
    pub object: Option<Object<'a>>,
    #[serde(borrow, default)]
    pub old_object: Option<Object<'a>>,
    #[serde(default)]
    pub dry_run: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub struct GroupVersionKind<'a> {
    #[serde(borrow, default)]
    pub group: Str<'a>,
    #[serde(borrow, default)]
    pub version: Str<'a>,
    #[serde(borrow)]
    pub kind: Str<'a>,
}

#[derive(Debug, Default, Deserialize)]
pub struct UserInfo<'a> {
    #[serde(borrow, default)]
    pub username: Option<Str<'a>>,
}

/// Any object kind this webhook handles: the fields of a Pod's spec and of a
/// workload's spec side by side, so one parse serves every kind and the field
/// order of the review (kind before or after object) does not matter.
#[derive(Debug, Default, Deserialize)]
pub struct Object<'a> {
    #[serde(borrow, default)]
    pub metadata: Metadata<'a>,
    #[serde(borrow, default)]
    pub spec: Option<PodSpec<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata<'a> {
    #[serde(borrow, default)]
    pub name: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub generate_name: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub namespace: Option<Str<'a>>,
    #[serde(default)]
    pub annotations: Annotations,
    #[serde(borrow, default)]
    pub owner_references: Option<Vec<OwnerReference<'a>>>,
}

impl Metadata<'_> {
    /// Owned by a controller (a Deployment's ReplicaSet, a ReplicaSet's Pod).
    pub fn has_controller(&self) -> bool {
        self.owner_references
            .as_deref()
            .unwrap_or_default()
            .iter()
            .any(|o| o.controller == Some(true))
    }
}

#[derive(Debug, Deserialize)]
pub struct OwnerReference<'a> {
    #[serde(borrow, default)]
    pub kind: Option<Str<'a>>,
    #[serde(default)]
    pub controller: Option<bool>,
}

/// The annotations this webhook reads; the rest are skipped unparsed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Annotations {
    /// `alpha.image.policy.openshift.io/resolve-names` is present (any value).
    pub resolve_names_present: bool,
    /// ... and is exactly `"*"`, the only value that turns resolution on.
    pub resolve_names: bool,
}

impl<'de> Deserialize<'de> for Annotations {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Annotations;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of annotations")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Annotations, E> {
                Ok(Annotations::default())
            }
            fn visit_none<E: de::Error>(self) -> Result<Annotations, E> {
                Ok(Annotations::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Annotations, A::Error> {
                let mut out = Annotations::default();
                while let Some(key) = map.next_key::<Str<'de>>()? {
                    if key.as_str() == RESOLVE_NAMES_ANNOTATION {
                        let value: Option<Str<'de>> = map.next_value()?;
                        out.resolve_names_present = true;
                        out.resolve_names = value.as_deref() == Some("*");
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_option(OptionMap(V))
    }
}

/// Lets a map visitor also accept `null`, which `deserialize_map` would refuse.
struct OptionMap<V>(V);

impl<'de, V: Visitor<'de>> Visitor<'de> for OptionMap<V> {
    type Value = V::Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.0.expecting(f)
    }
    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_none()
    }
    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_unit()
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        d.deserialize_map(self.0)
    }
}

/// A Pod spec and a workload spec in one: the fields of both side by side,
/// because `#[serde(flatten)]` would buffer every field into an owned tree.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec<'a> {
    #[serde(borrow, default)]
    pub containers: Option<Vec<Container<'a>>>,
    #[serde(borrow, default)]
    pub init_containers: Option<Vec<Container<'a>>>,
    #[serde(borrow, default)]
    pub ephemeral_containers: Option<Vec<Container<'a>>>,
    /// Only image volumes are read; the other volume types are skipped unparsed.
    #[serde(borrow, default)]
    pub volumes: Option<Vec<Volume<'a>>>,
    #[serde(borrow, default)]
    pub service_account_name: Option<Str<'a>>,
    /// Deprecated alias of `serviceAccountName`, still honoured by the API server.
    #[serde(borrow, default)]
    pub service_account: Option<Str<'a>>,
    /// Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, ReplicationController.
    #[serde(borrow, default)]
    pub template: Option<Box<PodTemplate<'a>>>,
    /// CronJob.
    #[serde(borrow, default)]
    pub job_template: Option<Box<JobTemplate<'a>>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct PodTemplate<'a> {
    #[serde(borrow, default)]
    pub metadata: Metadata<'a>,
    #[serde(borrow, default)]
    pub spec: Option<PodSpec<'a>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct JobTemplate<'a> {
    #[serde(borrow, default)]
    pub metadata: Metadata<'a>,
    #[serde(borrow, default)]
    pub spec: Option<JobSpec<'a>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct JobSpec<'a> {
    #[serde(borrow, default)]
    pub template: Option<Box<PodTemplate<'a>>>,
}

impl PodSpec<'_> {
    /// The identity that runs the pod and pulls its images.
    pub fn service_account(&self) -> &str {
        [&self.service_account_name, &self.service_account]
            .into_iter()
            .flatten()
            .map(|s| s.as_str())
            .find(|s| !s.is_empty())
            .unwrap_or("default")
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct Container<'a> {
    #[serde(borrow, default)]
    pub name: Str<'a>,
    #[serde(borrow, default)]
    pub image: Option<Str<'a>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Volume<'a> {
    #[serde(borrow, default)]
    pub name: Str<'a>,
    /// An image volume: the kubelet pulls `reference` like a container image.
    #[serde(borrow, default)]
    pub image: Option<ImageVolume<'a>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ImageVolume<'a> {
    #[serde(borrow, default)]
    pub reference: Option<Str<'a>>,
}

/// Parses a review body; the error text is the one-line reason of a 400 answer.
///
/// The body is checked as UTF-8 once, whole (JSON is UTF-8, RFC 8259), and
/// then parsed as text: parsed as bytes, serde_json validated each of a
/// review's ~120 borrowed strings on its own, 5% of a request's instructions
/// (callgrind).
pub fn parse_review(body: &[u8]) -> Result<Review<'_>, String> {
    let text = std::str::from_utf8(body)
        .map_err(|e| format!("invalid AdmissionReview: the body is not UTF-8 ({e})"))?;
    serde_json::from_str::<Review>(text).map_err(|e| format!("invalid AdmissionReview: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_that_is_not_utf8_is_refused_with_the_reason() {
        let err = parse_review(b"{\"request\":{\"uid\":\"\xff\"}}").expect_err("refused");
        assert!(err.contains("not UTF-8"), "{err}");
    }

    #[test]
    fn borrows_plain_strings_and_copies_escaped_ones() {
        let body = br#"{"request":{"uid":"u1","kind":{"group":"","version":"v1","kind":"Pod"},
            "operation":"CREATE","object":{"metadata":{"name":"p"},"spec":{"containers":[
            {"name":"a","image":"marsview:latest"},{"name":"b","image":"x\u002fy"}]}}}}"#;
        let review = parse_review(body).expect("parses");
        let req = review.request.expect("request");
        let spec = req.object.and_then(|o| o.spec).expect("spec");
        let containers = spec.containers.expect("containers");
        assert!(matches!(
            containers[0].image.as_ref().map(|s| &s.0),
            Some(Cow::Borrowed("marsview:latest"))
        ));
        assert_eq!(containers[1].image.as_deref(), Some("x/y"));
    }

    #[test]
    fn annotations_only_star_counts() {
        let cases = [
            (
                r#"{"alpha.image.policy.openshift.io/resolve-names":"*"}"#,
                true,
                true,
            ),
            (
                r#"{"alpha.image.policy.openshift.io/resolve-names":"true"}"#,
                true,
                false,
            ),
            (
                r#"{"alpha.image.policy.openshift.io/resolve-names":null}"#,
                true,
                false,
            ),
            (r#"{"other":"*"}"#, false, false),
            ("null", false, false),
            ("{}", false, false),
        ];
        for (json, present, on) in cases {
            let a: Annotations = serde_json::from_str(json).expect(json);
            assert_eq!(
                (a.resolve_names_present, a.resolve_names),
                (present, on),
                "{json}"
            );
        }
    }

    #[test]
    fn workload_and_cronjob_shapes_parse() {
        let body = br#"{"metadata":{"annotations":null,"ownerReferences":[{"kind":"ReplicaSet","controller":true}]},
            "spec":{"jobTemplate":{"metadata":{"annotations":{"alpha.image.policy.openshift.io/resolve-names":"*"}},
            "spec":{"template":{"spec":{"serviceAccount":"old","containers":[{"name":"c","image":"i"}]}}}}}}"#;
        let obj: Object = serde_json::from_slice(body).expect("parses");
        assert!(obj.metadata.has_controller());
        let spec = obj.spec.expect("spec");
        let jt = spec.job_template.expect("jobTemplate");
        assert!(jt.metadata.annotations.resolve_names);
        let pod = jt
            .spec
            .and_then(|s| s.template)
            .and_then(|t| t.spec)
            .expect("pod spec");
        assert_eq!(pod.service_account(), "old");
    }

    #[test]
    fn service_account_defaults() {
        let pod: PodSpec = serde_json::from_str(r#"{"serviceAccountName":""}"#).expect("parses");
        assert_eq!(pod.service_account(), "default");
        let pod: PodSpec =
            serde_json::from_str(r#"{"serviceAccountName":"sa","serviceAccount":"old"}"#)
                .expect("parses");
        assert_eq!(pod.service_account(), "sa");
    }

    #[test]
    fn bad_bodies_are_errors_not_panics() {
        for body in [
            &b""[..],
            b"{",
            b"[]",
            b"{\"request\":{}}",
            b"{\"request\":{\"uid\":1}}",
            b"\xff\xfe",
        ] {
            let r = parse_review(body);
            assert!(r.is_err() || r.map(|r| r.request.is_none()).unwrap_or(false));
        }
    }
}
