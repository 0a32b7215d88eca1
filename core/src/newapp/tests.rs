use super::objects as make;
use super::*;
use std::collections::BTreeMap;

use crate::image::Empty;

const PINNED: &str =
    "quay.io/acme/marsview@sha256:4f1d0000000000000000000000000000000000000000000000000000000000aa";

fn config(ports: &[&str], volumes: &[&str]) -> DockerConfig {
    let keys = |k: &[&str]| {
        (!k.is_empty()).then(|| {
            k.iter()
                .map(|p| ((*p).to_owned(), Empty {}))
                .collect::<BTreeMap<_, _>>()
        })
    };
    DockerConfig {
        exposed_ports: keys(ports),
        volumes: keys(volumes),
        ..DockerConfig::default()
    }
}

fn source<'a>(config: &'a DockerConfig, stream: &'a str, tag: &'a str) -> Source<'a> {
    Source {
        namespace: "myproj",
        stream,
        tag,
        image: PINNED,
        config,
    }
}

/// `oc new-app -i marsview -o yaml` (research notes, oc.md §2.6), with the
/// image pinned in place of oc's `" "`.
const OC_OUTPUT: &str = r#"apiVersion: v1
items:
- apiVersion: apps/v1
  kind: Deployment
  metadata:
    annotations:
      image.openshift.io/triggers: '[{"from":{"kind":"ImageStreamTag","name":"marsview:latest","namespace":"myproj"},"fieldPath":"spec.template.spec.containers[?(@.name==\"marsview\")].image"}]'
      openshift.io/generated-by: OpenShiftNewApp
    labels:
      app: marsview
      app.kubernetes.io/component: marsview
      app.kubernetes.io/instance: marsview
      app.kubernetes.io/name: marsview
    name: marsview
  spec:
    replicas: 1
    selector:
      matchLabels:
        deployment: marsview
    strategy: {}
    template:
      metadata:
        annotations:
          openshift.io/generated-by: OpenShiftNewApp
        labels:
          deployment: marsview
      spec:
        containers:
        - image: PINNED
          name: marsview
          ports:
          - containerPort: 8080
            protocol: TCP
          - containerPort: 8443
            protocol: TCP
          resources: {}
          volumeMounts:
          - mountPath: /data
            name: marsview-volume-1
        volumes:
        - emptyDir: {}
          name: marsview-volume-1
  status: {}
- apiVersion: v1
  kind: Service
  metadata:
    annotations:
      openshift.io/generated-by: OpenShiftNewApp
    labels:
      app: marsview
      app.kubernetes.io/component: marsview
      app.kubernetes.io/instance: marsview
      app.kubernetes.io/name: marsview
    name: marsview
  spec:
    ports:
    - name: 8080-tcp
      port: 8080
      protocol: TCP
      targetPort: 8080
    - name: 8443-tcp
      port: 8443
      protocol: TCP
      targetPort: 8443
    selector:
      deployment: marsview
  status:
    loadBalancer: {}
kind: List
metadata: {}
"#;

#[test]
fn the_objects_are_what_oc_new_app_prints() {
    let c = config(&["8443/tcp", "8080/tcp"], &["/data"]);
    let objects = make(&source(&c, "marsview", "latest"), None).expect("objects");
    let yaml = crate::output::render(&crate::output::list(objects), crate::output::Format::Yaml)
        .expect("yaml");
    let expected: Value =
        serde_saphyr::from_str(&OC_OUTPUT.replace("PINNED", PINNED)).expect("expected");
    let got: Value = serde_saphyr::from_str(&yaml).expect("reads back");
    assert_eq!(got, expected, "{yaml}");
}

#[test]
fn name_ports_and_no_service_variants() {
    // --name: the objects and labels take it; the container, trigger and volume keep the stream's.
    let c = config(&["8080/tcp"], &["/data"]);
    let objects = make(&source(&c, "marsview", "1.4"), Some("web")).expect("objects");
    let d = &objects[0];
    assert_eq!(d["metadata"]["name"], "web");
    assert_eq!(d["metadata"]["labels"]["app"], "web");
    assert_eq!(
        d["metadata"]["labels"]["app.kubernetes.io/name"],
        "marsview"
    );
    assert_eq!(d["spec"]["selector"]["matchLabels"]["deployment"], "web");
    let container = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["name"], "marsview");
    assert_eq!(container["volumeMounts"][0]["name"], "marsview-volume-1");
    let trigger = d["metadata"]["annotations"][TRIGGERS_ANNOTATION]
        .as_str()
        .expect("trigger");
    assert!(trigger.contains(r#""name":"marsview:1.4""#), "{trigger}");
    // The annotation is one the trigger controller reads.
    let parsed = crate::trigger::parse(
        trigger,
        crate::admission::workload::Kind::Deployment,
        "myproj",
    )
    .expect("parses");
    assert_eq!(parsed.len(), 1);
    assert_eq!(objects[1]["spec"]["selector"]["deployment"], "web");

    // No exposed port: no Service, no ports key.
    let none = config(&[], &[]);
    let objects = make(&source(&none, "marsview", "latest"), None).expect("objects");
    assert_eq!(objects.len(), 1);
    let container = &objects[0]["spec"]["template"]["spec"]["containers"][0];
    assert!(container.get("ports").is_none() && container.get("volumeMounts").is_none());
    assert!(
        objects[0]["spec"]["template"]["spec"]
            .get("volumes")
            .is_none()
    );

    // Several ports in a key, no protocol, UDP, and what oc drops.
    let c = config(
        &[
            "53/udp",
            "8080",
            "9000/tcp 9001/TCP",
            "7/sctp",
            "x/tcp",
            "70000/tcp",
        ],
        &[],
    );
    assert_eq!(
        ports(&c),
        [(53, "UDP"), (8080, "TCP"), (9000, "TCP"), (9001, "TCP")]
    );
    let objects = make(&source(&c, "dns", "latest"), None).expect("objects");
    let names: Vec<_> = objects[1]["spec"]["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .map(|p| p["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(names, ["53-udp", "8080-tcp", "9000-tcp", "9001-tcp"]);
}

#[test]
fn names_are_checked_as_oc_checks_them() {
    let c = config(&[], &[]);
    for bad in ["Web", "1web", "web-", "", &"a".repeat(59)] {
        let err = make(&source(&c, "marsview", "latest"), Some(bad)).expect_err(bad);
        assert!(
            err.starts_with(&format!("invalid name: {bad}. Must be")),
            "{err}"
        );
    }
    let long = "a".repeat(64);
    assert!(make(&source(&c, &long, "latest"), None).is_err());
    // A stream name with a dot: the name drops it, the container makes it a dash.
    let objects = make(&source(&c, "my.app", "latest"), None).expect("objects");
    assert_eq!(objects[0]["metadata"]["name"], "myapp");
    assert_eq!(
        objects[0]["spec"]["template"]["spec"]["containers"][0]["name"],
        "my-app"
    );
}

#[test]
fn long_volume_names_are_shortened_with_a_hash() {
    assert_eq!(get_name("marsview", "volume", 61), "marsview-volume");
    let base = "a".repeat(60);
    let name = get_name(&base, "volume", 61);
    assert_eq!(name.len(), 61);
    assert!(
        name.ends_with("-volume") && name.starts_with(&"a".repeat(45)),
        "{name}"
    );
    assert_eq!(get_name(&base, "volume", 61), name, "stable");
}
