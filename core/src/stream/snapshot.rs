//! The immutable, indexed view of every ImageStream that admission reads.
//!
//! Built once per change (a directory reload or a watch event batch) and then
//! shared read-only; every lookup is a hash lookup, so admission costs the same
//! with ten streams or a hundred thousand.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// The maps admission reads, three lookups per image: std's SipHash was ~2.5%
/// of the server's CPU on them; foldhash (already built for hashbrown) is
/// seeded per process and map, and a few times faster on short names.
type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

use crate::pullsecret::Keyring;
use crate::rbac::RbacIndex;
use crate::reference::{ImageRef, is_sha256_digest};
use crate::stream::{CONDITION_IMPORT_SUCCESS, ImageStream, NamedTagEventList, TagEvent};

/// Every stream, by namespace then name.
#[derive(Debug, Default)]
pub struct Snapshot {
    namespaces: Map<Box<str>, Map<Box<str>, Arc<StreamEntry>>>,
    stream_count: usize,
    tag_count: usize,
    /// Directory mode's RBAC objects; empty in cluster mode, where the API decides.
    rbac: RbacIndex,
    /// Directory mode's pull credentials by namespace; empty in cluster mode.
    keyrings: HashMap<String, Arc<Keyring>>,
    /// ` --streams-dir DIR` in directory mode: the commands printed in
    /// denials then work on the same directory, as printed.
    command_scope: Box<str>,
    /// The streams directory (directory mode).
    streams_dir: Option<Arc<Path>>,
}

/// One stream, compiled for lookups.
#[derive(Debug)]
pub struct StreamEntry {
    pub namespace: Arc<str>,
    pub name: Arc<str>,
    pub lookup_local: bool,
    /// The stream as stored with each tag's history cut to its newest item:
    /// what the importer plans from. Older items were two fifths of the
    /// server's memory and only digest lookups (`images`) read them; the
    /// importer reads the whole stream again before it writes a status.
    pub head: Arc<ImageStream>,
    /// The file it was read from (directory mode), where its status is written back.
    pub origin: Option<Arc<Path>>,
    /// Sorted by name (scanned when few, binary-searched when many): a hash
    /// table per stream held three empty slots for every five tags.
    tags: Box<[(Box<str>, TagEntry)]>,
    images: ImageIndex,
}

/// Every digest in the stream's status history and the repository it is
/// pinned in (`REPO@digest`), built from the whole history before it is cut.
/// The pinned reference is rebuilt on lookup rather than stored: a copy of
/// every history item's reference was a quarter of the server's memory.
#[derive(Debug, Default)]
struct ImageIndex {
    /// The repositories the items came from, each once (usually one per tag).
    repos: Box<[Box<str>]>,
    /// sha256 digests (nearly every image) in 32 bytes, sorted; the number
    /// is the index into `repos`.
    sha256: Box<[([u8; 32], u32)]>,
    /// Any other algorithm as written, sorted.
    other: Box<[(Box<str>, u32)]>,
}

/// The 32 bytes of a `sha256:` digest in lowercase hex, as admission and the
/// index compare them; anything else is kept as a string.
fn sha256_bytes(digest: &str) -> Option<[u8; 32]> {
    let hex = digest.strip_prefix("sha256:")?.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut bin = [0u8; 32];
    for (pair, out) in hex.chunks_exact(2).zip(bin.iter_mut()) {
        *out = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(bin)
}

impl ImageIndex {
    /// The repository of the first item found with `digest`.
    fn repo(&self, digest: &str) -> Option<&str> {
        let at = match sha256_bytes(digest) {
            Some(bin) => {
                let i = self.sha256.binary_search_by(|(d, _)| d.cmp(&bin)).ok()?;
                self.sha256.get(i)?.1
            }
            None => {
                let i = self
                    .other
                    .binary_search_by(|(d, _)| (**d).cmp(digest))
                    .ok()?;
                self.other.get(i)?.1
            }
        };
        self.repos.get(at as usize).map(|r| &**r)
    }
}

/// Collects an [`ImageIndex`] in history order.
#[derive(Default)]
struct ImageIndexBuilder<'a> {
    repos: Vec<Box<str>>,
    repo_at: Map<&'a str, u32>,
    sha256: Vec<([u8; 32], u32)>,
    other: Vec<(Box<str>, u32)>,
}

impl<'a> ImageIndexBuilder<'a> {
    fn add(&mut self, digest: &str, repo: &'a str) {
        let next = u32::try_from(self.repos.len()).unwrap_or(u32::MAX);
        let at = *self.repo_at.entry(repo).or_insert_with(|| {
            self.repos.push(Box::from(repo));
            next
        });
        match sha256_bytes(digest) {
            Some(bin) => self.sha256.push((bin, at)),
            None => self.other.push((Box::from(digest), at)),
        }
    }

    /// Sorted by digest; of the items with one digest, the first found stays.
    fn build(self) -> ImageIndex {
        fn sorted<K: Ord>(mut v: Vec<(K, u32)>) -> Box<[(K, u32)]> {
            // Stable: equal digests keep their order, and `dedup` keeps the first.
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v.dedup_by(|later, first| later.0 == first.0);
            v.into_boxed_slice()
        }
        ImageIndex {
            repos: self.repos.into_boxed_slice(),
            sha256: sorted(self.sha256),
            other: sorted(self.other),
        }
    }
}

/// What admission needs of one tag.
#[derive(Debug, Default)]
pub struct TagEntry {
    /// The pinned reference of the newest history item (`REPO@sha256:…`).
    pub current: Option<Arc<str>>,
    /// `ImportSuccess=False` message, when the last import failed.
    pub import_failure: Option<Box<str>>,
    /// Why the newest item could not be pinned (it names no digest).
    pub unusable: Option<Box<str>>,
    /// A `reference: true` tag's `from.name`: never imported, and pods get
    /// it as written (unpinned, unless it names a digest), as in OpenShift.
    pub reference: Option<Arc<str>>,
}

impl Snapshot {
    /// Indexes the streams; a later duplicate of the same namespace/name replaces the earlier.
    pub fn build(streams: impl IntoIterator<Item = Arc<ImageStream>>) -> Snapshot {
        Snapshot::from_entries(
            streams
                .into_iter()
                .map(|is| Arc::new(StreamEntry::compile(is))),
        )
    }

    /// A snapshot of streams compiled earlier: a watch that changes one stream
    /// recompiles that one and shares the rest.
    pub fn from_entries(entries: impl IntoIterator<Item = Arc<StreamEntry>>) -> Snapshot {
        let mut snap = Snapshot::default();
        for entry in entries {
            let names = snap
                .namespaces
                .entry(Box::from(&*entry.namespace))
                .or_default();
            names.insert(Box::from(&*entry.name), entry);
        }
        for names in snap.namespaces.values() {
            snap.stream_count += names.len();
            snap.tag_count += names.values().map(|s| s.tags.len()).sum::<usize>();
        }
        snap
    }

    /// The same snapshot with the RBAC objects access checks read.
    pub fn with_rbac(mut self, rbac: RbacIndex) -> Snapshot {
        self.rbac = rbac;
        self
    }

    pub fn rbac(&self) -> &RbacIndex {
        &self.rbac
    }

    /// The same snapshot with directory mode's pull credentials.
    pub fn with_keyrings(mut self, keyrings: HashMap<String, Arc<Keyring>>) -> Snapshot {
        self.keyrings = keyrings;
        self
    }

    /// The same snapshot, read from the streams directory `dir`.
    pub fn with_streams_dir(mut self, dir: &Path) -> Snapshot {
        let shown = dir.to_string_lossy();
        // A path with a NUL cannot be quoted, nor passed as an argument at all.
        let quoted = shlex::try_quote(&shown).unwrap_or_else(|_| shown.clone());
        self.command_scope = format!(" --streams-dir {quoted}").into();
        self.streams_dir = Some(Arc::from(dir));
        self
    }

    /// The streams directory this snapshot was read from (directory mode).
    pub fn streams_dir(&self) -> Option<&Path> {
        self.streams_dir.as_deref()
    }

    /// What the CLI commands printed in messages need after their other
    /// arguments to act on these streams: ` --streams-dir DIR`, or nothing
    /// in cluster mode.
    pub fn command_scope(&self) -> &str {
        &self.command_scope
    }

    /// The pull credentials of a namespace (directory mode).
    pub fn keyring(&self, namespace: &str) -> Option<&Arc<Keyring>> {
        self.keyrings.get(namespace)
    }

    pub fn stream(&self, namespace: &str, name: &str) -> Option<&StreamEntry> {
        self.namespaces.get(namespace)?.get(name).map(|e| &**e)
    }

    /// Every stream, in no particular order.
    pub fn streams(&self) -> impl Iterator<Item = &Arc<StreamEntry>> {
        self.namespaces.values().flat_map(|names| names.values())
    }

    pub fn stream_count(&self) -> usize {
        self.stream_count
    }

    pub fn tag_count(&self) -> usize {
        self.tag_count
    }
}

impl StreamEntry {
    pub fn compile(is: Arc<ImageStream>) -> StreamEntry {
        StreamEntry::compile_from(is, None)
    }

    /// As `compile`, remembering the file the stream came from. The stream
    /// is cut to its head in place when `is` is its only owner.
    pub fn compile_from(is: Arc<ImageStream>, origin: Option<Arc<Path>>) -> StreamEntry {
        let namespace: Arc<str> = Arc::from(is.metadata.namespace.as_deref().unwrap_or("default"));
        let name: Arc<str> = Arc::from(is.metadata.name.as_deref().unwrap_or_default());
        let mut tags: Vec<(Box<str>, TagEntry)> = Vec::new();
        let mut at_name: Map<&str, usize> = Map::default();
        let mut images = ImageIndexBuilder::default();
        // Spec tags that were never imported still exist: admission must say
        // "not yet imported" rather than "no such tag".
        let names = is.spec_tags().iter().map(|t| t.name.as_str());
        for name in names.chain(is.status_tags().iter().map(|l| l.tag.as_str())) {
            at_name.entry(name).or_insert_with(|| {
                tags.push((Box::from(name), TagEntry::default()));
                tags.len() - 1
            });
        }
        for list in is.status_tags() {
            if let Some(&i) = at_name.get(list.tag.as_str()) {
                compile_tag(list, &mut tags[i].1, &mut images);
            }
        }
        for spec in is.spec_tags() {
            if let (Some(from), Some(&i)) = (reference_of(spec), at_name.get(spec.name.as_str())) {
                tags[i].1.reference = Some(Arc::from(from));
            }
        }
        let images = images.build();
        tags.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let lookup_local = is.lookup_local();
        StreamEntry {
            namespace,
            name,
            lookup_local,
            head: Arc::new(head(Arc::unwrap_or_clone(is))),
            origin,
            tags: tags.into_boxed_slice(),
            images,
        }
    }

    pub fn tag(&self, tag: &str) -> Option<&TagEntry> {
        // A handful of tags is scanned (string equality tests the length
        // first); a binary search's ordered compares cost more there.
        if self.tags.len() <= 8 {
            return self
                .tags
                .iter()
                .find(|(name, _)| **name == *tag)
                .map(|(_, e)| e);
        }
        let found = self.tags.binary_search_by(|(name, _)| (**name).cmp(tag));
        found.ok().map(|i| &self.tags[i].1)
    }

    /// The pinned reference of a digest found in any tag's history.
    pub fn image(&self, digest: &str) -> Option<Arc<str>> {
        let repo = self.images.repo(digest)?;
        let mut pinned = String::with_capacity(repo.len() + 1 + digest.len());
        pinned.push_str(repo);
        pinned.push('@');
        pinned.push_str(digest);
        Some(Arc::from(pinned))
    }

    /// Tag names, sorted, for messages.
    pub fn tag_names(&self) -> impl ExactSizeIterator<Item = &str> {
        self.tags.iter().map(|(name, _)| &**name)
    }
}

/// The image a `reference: true` tag points pods at: its `from.name` when
/// that is a registry image reference.
fn reference_of(tag: &crate::stream::TagReference) -> Option<&str> {
    let from = tag.from_name()?;
    (tag.is_reference()
        && tag.from_kind() == Some(crate::stream::FROM_KIND_DOCKER_IMAGE)
        && crate::reference::ImageRef::parse(from).is_ok())
    .then_some(from)
}

/// The stream with each tag's history cut to its newest item, without the
/// API server's `managedFields` and spare vector capacity: what a
/// [`StreamEntry`] keeps.
pub fn head(mut is: ImageStream) -> ImageStream {
    is.metadata.managed_fields = None;
    if let Some(tags) = is.status.as_mut().and_then(|s| s.tags.as_mut()) {
        for list in tags {
            if let Some(items) = &mut list.items {
                items.truncate(1);
            }
        }
    }
    is.shrink_to_fit();
    is
}

fn compile_tag<'a>(
    list: &'a NamedTagEventList,
    entry: &mut TagEntry,
    images: &mut ImageIndexBuilder<'a>,
) {
    if let Some(cond) = list.condition(CONDITION_IMPORT_SUCCESS)
        && cond.status == "False"
    {
        let reason = cond.reason.as_deref().unwrap_or_default();
        let message = cond.message.as_deref().unwrap_or_default();
        entry.import_failure = Some(format!("ImportSuccess=False: {reason}: {message}").into());
    }
    for (i, item) in list.items().iter().enumerate() {
        match pin(item) {
            Ok((digest, repo)) => {
                if i == 0 {
                    entry.current = Some(shared(item, repo, digest));
                }
                images.add(digest, repo);
            }
            Err(reason) if i == 0 => entry.unusable = Some(reason.into()),
            Err(_) => {}
        }
    }
}

/// `REPO@digest` as the item's own `dockerImageReference` when it is that
/// string (an imported item is recorded pinned already), so the two share one
/// allocation.
fn shared(item: &TagEvent, repo: &str, digest: &str) -> Arc<str> {
    let own = &*item.docker_image_reference;
    let same = own.len() == repo.len() + 1 + digest.len()
        && own.starts_with(repo)
        && own[repo.len()..].starts_with('@')
        && own.ends_with(digest);
    if same {
        item.docker_image_reference.clone()
    } else {
        Arc::from(format!("{repo}@{digest}"))
    }
}

/// The digest of a history item and the repository it is pinned in: its
/// source reference with the tag and digest dropped.
fn pin(item: &TagEvent) -> Result<(&str, &str), String> {
    let source = ImageRef::parse(&item.docker_image_reference).map_err(|e| {
        format!(
            "status item dockerImageReference {:?} is malformed: {e}",
            item.docker_image_reference
        )
    })?;
    let digest = if is_sha256_digest(&item.image) {
        &*item.image
    } else if let Some(d) = source.digest() {
        d
    } else {
        return Err(format!(
            "status item {:?} names no sha256 digest",
            item.docker_image_reference
        ));
    };
    Ok((digest, source.name()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub const D1: &str = "sha256:77dc0f1ad1e4a5b8d0a0c1b37a8d6e0f3c3b6b0f2d3e5f60718293a4b5c6d7e8";
    pub const D2: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    pub fn stream(yaml: &str) -> ImageStream {
        serde_saphyr::from_str(yaml).expect("test stream parses")
    }

    pub fn marsview() -> ImageStream {
        stream(&format!(
            r#"
apiVersion: image.openshift.io/v1
kind: ImageStream
metadata: {{name: marsview, namespace: toms-project}}
spec:
  lookupPolicy: {{local: true}}
  tags:
  - name: latest
    from: {{kind: DockerImage, name: "registry.marsrover.space/engine/marsview:latest"}}
  - name: v2
    from: {{kind: DockerImage, name: "registry.marsrover.space/engine/marsview:v2"}}
  - name: broken
    from: {{kind: DockerImage, name: "registry.marsrover.space/engine/marsview:broken"}}
status:
  dockerImageRepository: image-registry.openshift-image-registry.svc:5000/toms-project/marsview
  tags:
  - tag: latest
    items:
    - created: "2026-11-26T17:00:00Z"
      dockerImageReference: "registry.marsrover.space/engine/marsview@{D1}"
      image: "{D1}"
      generation: 2
    - created: "2026-11-20T17:00:00Z"
      dockerImageReference: "registry.marsrover.space/engine/marsview:old"
      image: "{D2}"
      generation: 1
  - tag: broken
    items: null
    conditions:
    - type: ImportSuccess
      status: "False"
      reason: NotFound
      message: "manifest unknown"
      generation: 1
"#
        ))
    }

    #[test]
    fn indexes_tags_and_history() {
        let is = marsview();
        let snap = Snapshot::build([Arc::new(is)]);
        assert_eq!((snap.stream_count(), snap.tag_count()), (1, 3));
        let s = snap.stream("toms-project", "marsview").expect("stream");
        assert!(s.lookup_local);
        let latest = s.tag("latest").expect("latest");
        let want = format!("registry.marsrover.space/engine/marsview@{D1}");
        assert_eq!(latest.current.as_deref(), Some(want.as_str()));
        // An old item written with a tag is pinned by its image digest.
        let old = format!("registry.marsrover.space/engine/marsview@{D2}");
        assert_eq!(s.image(D2).as_deref(), Some(old.as_str()));
        assert_eq!(s.image(D1).as_deref(), Some(want.as_str()));
        assert_eq!(s.image(&D1.to_uppercase()), None);
        assert_eq!(
            s.image("sha256:2222222222222222222222222222222222222222222222222222222222222222"),
            None
        );
        assert!(s.tag("v2").expect("spec-only tag").current.is_none());
        let broken = s.tag("broken").expect("broken");
        assert_eq!(
            broken.import_failure.as_deref(),
            Some("ImportSuccess=False: NotFound: manifest unknown")
        );
        assert_eq!(
            s.tag_names().collect::<Vec<_>>(),
            vec!["broken", "latest", "v2"]
        );
        // Only the newest item of each tag is kept; the index still has the rest.
        let kept = s.head.status_tag("latest").expect("latest").items();
        assert_eq!(kept.len(), 1);
        assert_eq!(&*kept[0].image, D1);
        assert!(snap.stream("toms-project", "other").is_none());
        assert!(snap.stream("other", "marsview").is_none());
    }

    #[test]
    fn the_head_is_the_stream_without_older_items_and_bookkeeping() {
        let mut is = marsview();
        is.metadata.managed_fields = Some(vec![Default::default()]);
        let head = head(is.clone());
        assert_eq!(head.metadata.managed_fields, None);
        assert_eq!(head.spec, is.spec);
        let (whole, cut) = (is.status_tags(), head.status_tags());
        assert_eq!(whole.len(), cut.len());
        for (w, c) in whole.iter().zip(cut) {
            assert_eq!(c.items(), &w.items()[..w.items().len().min(1)]);
            assert_eq!(c.conditions(), w.conditions());
        }
        // Planning compares heads: one of a head is the head.
        assert_eq!(super::head(head.clone()), head);
    }

    #[test]
    fn a_digest_in_two_tags_pins_to_the_first_found() {
        let is = stream(&format!(
            r#"
metadata: {{name: s, namespace: n}}
spec: {{}}
status:
  tags:
  - tag: a
    items:
    - {{created: "2026-01-02T00:00:00Z", dockerImageReference: "quay.io/first/b@{D2}", image: "{D2}", generation: 2}}
    - {{created: "2026-01-01T00:00:00Z", dockerImageReference: "quay.io/first/b@{D1}", image: "{D1}", generation: 1}}
  - tag: b
    items:
    - {{created: "2026-01-03T00:00:00Z", dockerImageReference: "quay.io/second/b@{D1}", image: "{D1}", generation: 1}}
    - {{created: "2026-01-03T00:00:00Z", dockerImageReference: "quay.io/second/b:x", image: "sha512:{h}", generation: 1}}
"#,
            h = "ab".repeat(64)
        ));
        let snap = Snapshot::build([Arc::new(is)]);
        let s = snap.stream("n", "s").expect("stream");
        assert_eq!(
            s.image(D1).as_deref(),
            Some(format!("quay.io/first/b@{D1}").as_str())
        );
        assert_eq!(
            s.image(D2).as_deref(),
            Some(format!("quay.io/first/b@{D2}").as_str())
        );
        assert_eq!(
            s.tag("b").and_then(|t| t.current.as_deref()),
            Some(format!("quay.io/second/b@{D1}").as_str())
        );
        assert_eq!(s.image("sha256:0"), None);
    }

    #[test]
    fn tags_are_found_among_few_and_many() {
        for count in [3, 8, 9, 40] {
            let spec: Vec<String> = (0..count).map(|i| format!("{{name: t{i}}}")).collect();
            let status: Vec<String> = (0..count)
                .rev()
                .map(|i| {
                    format!(
                        r#"{{tag: t{i}, items: [{{dockerImageReference: "quay.io/x/s@{D1}", image: "{D1}", generation: 1}}]}}"#
                    )
                })
                .collect();
            let is = stream(&format!(
                "metadata: {{name: s, namespace: n}}\nspec: {{tags: [{}, {{name: spec-only}}]}}\nstatus: {{tags: [{}]}}\n",
                spec.join(", "),
                status.join(", ")
            ));
            let snap = Snapshot::build([Arc::new(is)]);
            let s = snap.stream("n", "s").expect("stream");
            for i in 0..count {
                let t = s.tag(&format!("t{i}")).expect("tag found");
                assert!(t.current.is_some(), "t{i} of {count}");
            }
            assert!(s.tag("spec-only").expect("spec-only").current.is_none());
            assert!(s.tag("t").is_none() && s.tag("missing").is_none() && s.tag("").is_none());
            assert_eq!(s.tag_names().len(), count + 1);
        }
    }

    #[test]
    fn item_without_digest_is_unusable() {
        let is = stream(
            r#"
metadata: {name: s, namespace: n}
spec: {}
status:
  tags:
  - tag: t
    items:
    - {created: "2026-01-01T00:00:00Z", dockerImageReference: "quay.io/a/b:1", image: "", generation: 1}
"#,
        );
        let snap = Snapshot::build([Arc::new(is)]);
        let t = snap.stream("n", "s").and_then(|s| s.tag("t")).expect("tag");
        assert!(t.current.is_none());
        assert!(
            t.unusable
                .as_deref()
                .unwrap_or_default()
                .contains("names no sha256 digest")
        );
    }
}
