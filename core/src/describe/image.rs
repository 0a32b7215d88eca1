//! The text of `describe NAME:TAG` and `describe NAME@sha256:…`, laid out
//! like oc's `DescribeImage` (`oc describe istag` / `isimage`): the same
//! labels, order, sizes (go-units' `HumanSize`) and tab alignment.
//!
//! Two additions on purpose: an `OS:` line after `Arch:` (oc shows only the
//! architecture), and for an index, after its `Manifests:`, the config of the
//! child for the preferred platform (oc shows an index's own record, which
//! has no config), introduced by a `Platform:` line naming that child.

use jiff::Timestamp;

use super::{NONE, UNKNOWN, age_of, format_map, format_string, tabwrite};
use crate::image::{DockerConfig, Image};

/// oc's describe text for `image` as `name` (`NAME:TAG` or `NAME@sha256:…`);
/// `child` is the record of an index's child for the preferred platform.
pub fn describe_image(name: &str, image: &Image, child: Option<&Image>, now: Timestamp) -> String {
    let mut out = String::new();
    format_string(&mut out, "Image Name", name);
    format_string(&mut out, "Docker Image", image.reference());
    format_string(&mut out, "Name", image.digest());
    if let Some(t) = &image.metadata.creation_timestamp {
        format_string(&mut out, "Created", &super::age(t.0, now));
    }
    if let Some(annotations) = image
        .metadata
        .annotations
        .as_ref()
        .filter(|a| !a.is_empty())
    {
        format_map(&mut out, "Annotations", annotations.iter());
    }
    // An index's size, layers and config are its child's.
    let run = child.unwrap_or(image);
    write_size(&mut out, run);
    let meta = run.spec.docker_image_metadata.as_ref();
    let created = meta.and_then(|m| m.created.as_deref());
    format_string(
        &mut out,
        "Image Created",
        &if created.is_some() {
            age_of(created, now)
        } else {
            UNKNOWN.to_owned()
        },
    );
    let text = |v: Option<&String>| v.map(String::as_str).unwrap_or_default().to_owned();
    format_string(
        &mut out,
        "Author",
        &text(meta.and_then(|m| m.author.as_ref())),
    );
    format_string(
        &mut out,
        "Arch",
        &text(meta.and_then(|m| m.architecture.as_ref())),
    );
    format_string(&mut out, "OS", &text(meta.and_then(|m| m.os.as_ref())));
    if image.is_index() {
        let lines: Vec<String> = image
            .manifests()
            .iter()
            .map(|m| format!("{}\t{}", m.platform(), m.digest))
            .collect();
        format_string(&mut out, "Manifests", &lines.join("\n"));
        format_string(
            &mut out,
            "Platform",
            &child.map_or_else(
                || "<none> (no child's config was read)".to_owned(),
                |c| c.digest().to_owned(),
            ),
        );
    }
    write_config(&mut out, meta.and_then(|m| m.config.as_ref()));
    tabwrite(&out)
}

fn write_size(out: &mut String, image: &Image) {
    let size = image
        .spec
        .docker_image_metadata
        .as_ref()
        .and_then(|m| m.size)
        .unwrap_or(0);
    let layers = image.layers();
    if layers.is_empty() {
        format_string(out, "Layer Size", &human_size(size));
        return;
    }
    format_string(
        out,
        "Image Size",
        &format!("{} in {} layers", human_size(size), layers.len()),
    );
    let lines: Vec<String> = layers
        .iter()
        .map(|l| format!("{}\t{}", human_size(l.size), l.name))
        .collect();
    format_string(out, "Layers", &lines.join("\n"));
}

fn write_config(out: &mut String, config: Option<&DockerConfig>) {
    let empty = DockerConfig::default();
    let c = config.unwrap_or(&empty);
    let joined =
        |v: &Option<Vec<String>>| v.as_ref().filter(|v| !v.is_empty()).map(|v| v.join(" "));
    let (entrypoint, cmd) = (joined(&c.entrypoint), joined(&c.cmd));
    if let Some(e) = &entrypoint {
        format_string(out, "Entrypoint", e);
    }
    if let Some(cmd) = &cmd {
        format_string(out, "Command", cmd);
    }
    if entrypoint.is_none() && cmd.is_none() {
        format_string(out, "Command", "");
    }
    format_string(
        out,
        "Working Dir",
        c.working_dir.as_deref().unwrap_or_default(),
    );
    format_string(out, "User", c.user.as_deref().unwrap_or_default());
    let ports: Vec<&str> = c
        .exposed_ports
        .iter()
        .flat_map(|p| p.keys())
        .map(String::as_str)
        .collect();
    format_string(out, "Exposes Ports", &ports.join(", "));
    match c.labels.as_ref().filter(|l| !l.is_empty()) {
        Some(labels) => format_map(out, "Docker Labels", labels.iter()),
        None => format_string(out, "Docker Labels", NONE),
    }
    if let Some(env) = c.env.as_ref().filter(|e| !e.is_empty()) {
        format_string(out, "Environment", &env.join("\n"));
    }
    let volumes: Vec<&str> = c
        .volumes
        .iter()
        .flat_map(|v| v.keys())
        .map(String::as_str)
        .collect();
    if !volumes.is_empty() {
        format_string(out, "Volumes", &volumes.join("\n"));
    }
}

/// go-units' `HumanSize`: decimal units, four significant digits, no space (`4.606MB`).
pub fn human_size(bytes: i64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1000.0 && unit < UNITS.len() - 1 {
        size /= 1000.0;
        unit += 1;
    }
    format!("{}{}", four_digits(size), UNITS[unit])
}

/// Go's `%.4g` for 0 ≤ v < 1000: four significant digits, trailing zeros dropped.
fn four_digits(v: f64) -> String {
    if v == 0.0 {
        return "0".to_owned();
    }
    let magnitude = v.abs().log10().floor() as i32;
    let decimals = usize::try_from(3 - magnitude).unwrap_or(0);
    let text = format!("{v:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::{DockerImage, ImageFields, ImageLayer, ImageManifest};
    use std::collections::BTreeMap;

    const D: &str = "sha256:4f1d0000000000000000000000000000000000000000000000000000000000aa";
    const L1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const L2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    fn marsview() -> Image {
        let layer = |name: &str, size| ImageLayer {
            name: name.into(),
            size,
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
        };
        let keys = |k: &[&str]| {
            Some(
                k.iter()
                    .map(|k| ((*k).to_owned(), Default::default()))
                    .collect(),
            )
        };
        let mut image = Image::new(
            D,
            ImageFields {
                docker_image_reference: Some(format!("quay.io/acme/marsview@{D}")),
                docker_image_layers: Some(vec![layer(L1, 3401613), layer(L2, 1203004)]),
                docker_image_metadata: Some(DockerImage {
                    created: Some("2026-03-09T10:00:00Z".into()),
                    architecture: Some("amd64".into()),
                    os: Some("linux".into()),
                    size: Some(4606087),
                    config: Some(DockerConfig {
                        user: Some("1001".into()),
                        exposed_ports: keys(&["8080/tcp", "8443/tcp"]),
                        env: Some(vec!["PATH=/usr/bin".into(), "MARSVIEW_HOME=/srv".into()]),
                        cmd: Some(vec!["--serve".into()]),
                        volumes: keys(&["/data"]),
                        working_dir: Some("/srv".into()),
                        entrypoint: Some(vec!["/usr/bin/marsview".into()]),
                        labels: Some(BTreeMap::from([(
                            "org.opencontainers.image.version".to_owned(),
                            "1.4.2".to_owned(),
                        )])),
                    }),
                    ..DockerImage::default()
                }),
                ..ImageFields::default()
            },
        );
        image.metadata.annotations = Some(BTreeMap::from([(
            "image.openshift.io/dockerLayersOrder".to_owned(),
            "ascending".to_owned(),
        )]));
        image.metadata.creation_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                "2026-03-28T10:00:00Z".parse().expect("time"),
            ));
        image
    }

    #[test]
    fn an_image_reads_as_oc_describe_istag() {
        let now: Timestamp = "2026-03-30T10:00:00Z".parse().expect("now");
        let text = describe_image("marsview:1.4", &marsview(), None, now);
        let expected = format!(
            "Image Name:\tmarsview:1.4\n\
             Docker Image:\tquay.io/acme/marsview@{D}\n\
             Name:\t\t{D}\n\
             Created:\t2 days ago\n\
             Annotations:\timage.openshift.io/dockerLayersOrder=ascending\n\
             Image Size:\t4.606MB in 2 layers\n\
             Layers:\t\t3.402MB\t{L1}\n\
             \t\t1.203MB\t{L2}\n\
             Image Created:\t3 weeks ago\n\
             Author:\t\t<none>\n\
             Arch:\t\tamd64\n\
             OS:\t\tlinux\n\
             Entrypoint:\t/usr/bin/marsview\n\
             Command:\t--serve\n\
             Working Dir:\t/srv\n\
             User:\t\t1001\n\
             Exposes Ports:\t8080/tcp, 8443/tcp\n\
             Docker Labels:\torg.opencontainers.image.version=1.4.2\n\
             Environment:\tPATH=/usr/bin\n\
             \t\tMARSVIEW_HOME=/srv\n\
             Volumes:\t/data\n"
        );
        assert_eq!(text, expected);
    }

    #[test]
    fn an_index_shows_its_platforms_and_the_childs_config() {
        let now: Timestamp = "2026-03-30T10:00:00Z".parse().expect("now");
        let child = marsview();
        let manifest = |arch: &str, digest: &str| ImageManifest {
            digest: digest.into(),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            manifest_size: 500,
            architecture: arch.into(),
            os: "linux".into(),
            variant: None,
        };
        let index = Image::new(
            L1,
            ImageFields {
                docker_image_reference: Some(format!("quay.io/acme/marsview@{L1}")),
                docker_image_manifests: Some(vec![manifest("arm64", L2), manifest("amd64", D)]),
                ..ImageFields::default()
            },
        );
        let text = describe_image("marsview:1.4", &index, Some(&child), now);
        assert!(
            text.contains(&format!(
                "Manifests:\tlinux/arm64\t{L2}\n\t\tlinux/amd64\t{D}\n"
            )),
            "{text}"
        );
        assert!(text.contains(&format!("Platform:\t{D}\n")), "{text}");
        assert!(
            text.contains("Exposes Ports:\t8080/tcp, 8443/tcp\n"),
            "{text}"
        );
        assert!(text.contains("Arch:\t\tamd64\n"), "{text}");
        // Without metadata: the known lines, the rest <none>.
        let bare = Image::new(D, ImageFields::default());
        let text = describe_image("x@sha256:4f", &bare, None, now);
        assert!(text.contains("Image Created:\t<unknown>\n"), "{text}");
        assert!(text.contains("Command:\t<none>\n"), "{text}");
        assert!(text.contains("Layer Size:\t0B\n"), "{text}");
    }

    #[test]
    fn sizes_read_as_go_units_prints_them() {
        for (bytes, text) in [
            (0, "0B"),
            (999, "999B"),
            (1000, "1kB"),
            (1470, "1.47kB"),
            (3401613, "3.402MB"),
            (4606087, "4.606MB"),
            (12_345_678_901, "12.35GB"),
            (100_000_000, "100MB"),
        ] {
            assert_eq!(human_size(bytes), text, "{bytes}");
        }
    }
}
