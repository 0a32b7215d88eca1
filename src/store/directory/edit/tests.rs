//! A table of hand-written stream files: a status write of one tag must keep
//! every line outside that tag's status as it was.

use std::sync::Arc;

use imagestream_core::manifest::{Manifest, parse_file};
use imagestream_core::stream::{ImageStreamStatus, NamedTagEventList, TagEvent};

use crate::store::directory::write::set_stream_field_in_text;

const NEW: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

/// What is written: an import of the tag (a new history item), a new tag,
/// or a tag's status removed.
#[derive(Clone, Copy)]
enum Write {
    Import(&'static str),
    Add(&'static str),
    Remove(&'static str),
}

struct Case {
    name: &'static str,
    /// The lines of the written tag's status end in `#W`; for a new tag,
    /// the line it follows ends in `#A`.
    text: &'static str,
    write: Write,
}

const HEAD: &str = "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata:\n  name: app\n  namespace: demo\n";

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "another tag's `items: null` with a comment",
            text: "spec:\n  tags:\n  - name: a\n  - name: b\nstatus:\n  dockerImageRepository: registry.example/demo/app   # kept\n  tags:\n  - tag: a\n    items: null   # never imported\n  - tag: b   #W\n    items:   #W\n    - created: \"2026-01-01T00:00:00Z\"   #W\n      dockerImageReference: quay.io/x/b@sha256:aaaa   #W\n      image: sha256:aaaa   #W\n      generation: 1   #W\n",
            write: Write::Import("b"),
        },
        Case {
            name: "flow-style neighbours and nulls",
            text: "spec: {tags: [{name: a}, {name: b}, {name: c}]}\nstatus:\n  dockerImageRepository: null\n  publicDockerImageRepository: ~\n  tags:\n  - {tag: a, items: null, conditions: null}\n  - tag: b  #W\n    items: null  #W\n    conditions:  #W\n    - {type: ImportSuccess, status: \"False\", reason: NotFound, message: gone, generation: 1}  #W\n  - {tag: c, items: [{dockerImageReference: \"quay.io/x/c@sha256:cccc\", image: \"sha256:cccc\", generation: 1}]}  # flow\n",
            write: Write::Import("b"),
        },
        Case {
            name: "other documents, blank lines and comments between tags",
            text: "spec:\n  tags:\n  - name: a\n  - name: z\nstatus:\n  # history, newest first\n  tags:\n\n  # the first tag\n  - tag: a  #W\n    items: []  #W\n  # a comment before the next tag stays\n\n  - tag: z\n    items: null\n# a comment at column 0 after the status\n---\n# the credentials\napiVersion: v1\nkind: Secret\nmetadata: {name: pull, namespace: demo}\ntype: kubernetes.io/dockerconfigjson\n",
            write: Write::Import("a"),
        },
        Case {
            name: "a deeper indentation",
            text: "status:\n    dockerImageRepository: r\n    tags:\n      - tag: one\n        items: null\n      - tag: two  #W\n        items: null  #W\n      - tag: three\n        items: null\n",
            write: Write::Import("two"),
        },
        Case {
            name: "a new tag follows the last one",
            text: "status:\n  tags:\n  - tag: a\n    items: null # none\n    conditions: null  #A\n  # after the tags\n  dockerImageRepository: r\nspec: {}\n",
            write: Write::Add("n"),
        },
        Case {
            name: "a removed tag takes only its own lines",
            text: "status:\n  tags:\n  - tag: a   # first\n    items: null\n  - tag: b  #W\n    items: null  #W\n  # before c\n  - tag: c\n    items: null\n",
            write: Write::Remove("b"),
        },
        Case {
            name: "an unknown key and a comment on the status line",
            text: "status: # written by the importer\n  note: hand-written   # kept\n  tags:\n  - tag: a  #W\n    items: null  #W\nspec:\n  lookupPolicy: {local: true}\n",
            write: Write::Import("a"),
        },
        Case {
            name: "CRLF line endings and no final line break",
            text: "status:\r\n  tags:\r\n  - tag: a # one\r\n    items: null\r\n  - tag: b  #W\r\n    items: null  #W",
            write: Write::Import("b"),
        },
    ]
}

fn status_of(text: &str) -> ImageStreamStatus {
    parse_file(text, false)
        .expect("parses")
        .into_iter()
        .find_map(|m| match m {
            Manifest::Stream(is) => Some(is.status.clone().unwrap_or_default()),
            _ => None,
        })
        .expect("a stream")
}

fn event() -> TagEvent {
    TagEvent {
        created: Some("2026-12-06T10:00:00Z".into()),
        docker_image_reference: Arc::from(format!("quay.io/x/new@{NEW}")),
        image: NEW.into(),
        generation: 2,
        platforms: None,
    }
}

fn written(mut status: ImageStreamStatus, write: Write) -> ImageStreamStatus {
    let tags = status.tags.get_or_insert_with(Vec::new);
    match write {
        Write::Import(tag) => {
            let list = tags.iter_mut().find(|t| t.tag == tag).expect("the tag");
            list.items.get_or_insert_with(Vec::new).insert(0, event());
            list.conditions = None;
        }
        Write::Add(tag) => tags.push(NamedTagEventList {
            tag: tag.to_owned(),
            items: Some(vec![event()]),
            conditions: None,
        }),
        Write::Remove(tag) => tags.retain(|t| t.tag != tag),
    }
    status
}

#[test]
fn a_status_write_keeps_every_line_outside_the_written_tag() {
    for case in cases() {
        let eol = if case.text.contains("\r\n") {
            "\r\n"
        } else {
            "\n"
        };
        let text = format!("{}{}", HEAD.replace('\n', eol), case.text);
        let old: Vec<&str> = text.split(eol).collect();
        let marked: Vec<usize> = (0..old.len()).filter(|&i| old[i].ends_with("#W")).collect();
        let (keep_front, keep_back) = match (marked.first(), marked.last()) {
            (Some(&a), Some(&b)) => {
                assert_eq!(
                    b - a + 1,
                    marked.len(),
                    "{}: one block is marked",
                    case.name
                );
                (a, old.len() - b - 1)
            }
            _ => {
                let a = old
                    .iter()
                    .position(|l| l.ends_with("#A"))
                    .expect("a #A line");
                (a + 1, old.len() - a - 1)
            }
        };
        let status = written(status_of(&text), case.write);
        let out = set_stream_field_in_text(&text, false, "demo", "app", "status", &status)
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let new: Vec<&str> = out.split(eol).collect();
        assert!(
            new.len() >= keep_front + keep_back,
            "{}: lines were lost:\n{out}",
            case.name
        );
        assert_eq!(
            new[..keep_front],
            old[..keep_front],
            "{}: a line before the written tag changed:\n{out}",
            case.name
        );
        assert_eq!(
            new[new.len() - keep_back..],
            old[old.len() - keep_back..],
            "{}: a line after the written tag changed:\n{out}",
            case.name
        );
        assert_eq!(
            status_of(&out),
            status,
            "{}: the status reads back",
            case.name
        );
        if eol == "\r\n" {
            assert!(
                !out.replace("\r\n", "").contains('\n'),
                "{}: line endings kept",
                case.name
            );
        }
        // Writing the same status again changes nothing.
        let again = set_stream_field_in_text(&out, false, "demo", "app", "status", &status)
            .expect("writes again");
        assert_eq!(again, out, "{}", case.name);
    }
}

#[test]
fn layouts_it_cannot_edit_in_place_fall_back_to_the_whole_block() {
    for (what, text) in [
        (
            "flow-style status",
            "status: {tags: [{tag: a, items: null}]}\n",
        ),
        (
            "tags in flow style",
            "status:\n  tags: [{tag: a, items: null}]\n",
        ),
        ("a tag twice", "status:\n  tags:\n  - tag: a\n  - tag: a\n"),
    ] {
        let text = format!("{HEAD}{text}");
        let mut status = status_of(&text);
        status.tags = Some(vec![NamedTagEventList {
            tag: "a".into(),
            items: Some(vec![event()]),
            conditions: None,
        }]);
        let out = set_stream_field_in_text(&text, false, "demo", "app", "status", &status)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(out.starts_with(HEAD), "{what}");
        assert_eq!(status_of(&out), status, "{what}");
    }
}

/// `set image-lookup` writes the stream's whole spec: only what changed is
/// edited, so the comments among the spec's tags stay (issue 21).
#[test]
fn a_spec_write_edits_only_what_changed() {
    let text = format!(
        "{HEAD}spec:\n  # the team's tags\n  lookupPolicy:\n    local: false\n  tags:\n  # follows upstream\n  - name: latest   # the default\n    from: {{kind: DockerImage, name: quay.io/x/app:1}}\n"
    );
    let spec = serde_json::json!({
        "lookupPolicy": {"local": true},
        "tags": [{"name": "latest", "from": {"kind": "DockerImage", "name": "quay.io/x/app:1"}}],
    });
    let out =
        set_stream_field_in_text(&text, false, "demo", "app", "spec", &spec).expect("written");
    assert_eq!(out, text.replace("local: false", "local: true"));

    // A new key and a removed one (its own comment goes with it): the rest
    // stays as written.
    let spec = serde_json::json!({
        "dockerImageRepository": "quay.io/x/app",
        "tags": [{"name": "latest", "from": {"kind": "DockerImage", "name": "quay.io/x/app:1"}}],
    });
    let out =
        set_stream_field_in_text(&text, false, "demo", "app", "spec", &spec).expect("written");
    for kept in ["# follows upstream", "- name: latest   # the default"] {
        assert!(out.contains(kept), "{kept:?} lost:\n{out}");
    }
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&out).expect("parses");
    assert_eq!(docs[0]["spec"], spec, "{out}");
}
