//! YAML documents read without a full parse: where each document of a file
//! starts, the head that says which object it is, and a parse error's text.

/// A YAML parse error on one line, its position counted from the first line
/// of the file (`first_line` is the line the parsed text starts on): the
/// parser's own rendering adds an `error:` prefix and a source excerpt,
/// which doubled the prefix of every message it went into.
pub fn yaml_error(e: &serde_saphyr::Error, first_line: usize) -> String {
    let options = serde_saphyr::render_options! {
        snippets: serde_saphyr::SnippetMode::Off,
        line_offset: first_line.saturating_sub(1) as u64,
    };
    e.render_with_options(options)
}

/// Just enough of a document to tell which object it is. Typed string
/// fields keep a name such as `1.10` as written.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocHead {
    #[serde(default)]
    pub api_version: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub metadata: Option<DocHeadMeta>,
}

#[derive(Debug, serde::Deserialize)]
pub struct DocHeadMeta {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
}

impl DocHead {
    /// `apiVersion` and `kind` read from the document's top-level lines, in
    /// block style, without parsing the rest: the full parse that follows is
    /// the one that counts, and parsing every document twice doubled the time
    /// a large streams directory takes to load. `None` when they are not
    /// written that plainly (flow style, anchors, multi-line scalars).
    pub fn scan(text: &str) -> Option<DocHead> {
        let mut api_version = None;
        let mut kind = None;
        for line in text.lines() {
            let value = |key: &str| -> Option<Option<String>> {
                let rest = line.strip_prefix(key)?.strip_prefix(':')?;
                Some(plain_value(rest, b"./-_"))
            };
            if let Some(v) = value("apiVersion") {
                api_version = Some(v?);
            } else if let Some(v) = value("kind") {
                kind = Some(v?);
            }
        }
        Some(DocHead {
            api_version: Some(api_version?),
            kind: Some(kind?),
            metadata: None,
        })
    }

    /// The API group of `apiVersion` (`""` for the core group).
    pub fn group(&self) -> &str {
        self.api_version
            .as_deref()
            .and_then(|v| v.rsplit_once('/'))
            .map_or("", |(g, _)| g)
    }

    pub fn name(&self) -> Option<&str> {
        self.metadata.as_ref()?.name.as_deref()
    }

    /// The ImageStream NAMESPACE/NAME (a missing namespace is `default`).
    pub fn is_stream(&self, namespace: &str, name: &str) -> bool {
        let ns = self
            .metadata
            .as_ref()
            .and_then(|m| m.namespace.as_deref())
            .filter(|n| !n.is_empty())
            .unwrap_or("default");
        self.group() == "image.openshift.io"
            && self.kind.as_deref() == Some("ImageStream")
            && self.name() == Some(name)
            && ns == namespace
    }

    pub fn is_list(&self) -> bool {
        self.kind.as_deref() == Some("List")
    }
}

/// A scanned line's value without its comment and quotes, when it is
/// alphanumeric or one of `extra`; anything else is not trusted.
fn plain_value(v: &str, extra: &[u8]) -> Option<String> {
    let v = v.split(" #").next().unwrap_or_default().trim();
    let v = v
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
        .unwrap_or(v);
    let plain = !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || extra.contains(&b));
    plain.then(|| v.to_owned())
}

/// `metadata.KEY` read from the lines of a document that does not parse:
/// block style (`metadata:` then an indented `KEY: value`) or flow style
/// (`metadata: {KEY: value, …}`), plain or quoted values only.
pub(super) fn scan_metadata(text: &str, key: &str) -> Option<String> {
    let clean = |v: &str| plain_value(v, b"./-_:");
    let mut lines = text.lines();
    let rest = loop {
        let line = lines.next()?;
        if let Some(rest) = line.strip_prefix("metadata:") {
            break rest.trim();
        }
    };
    if let Some(flow) = rest.strip_prefix('{') {
        let flow = flow.split('}').next().unwrap_or_default();
        return flow.split(',').find_map(|part| {
            let (k, v) = part.split_once(':')?;
            (k.trim() == key).then(|| clean(v)).flatten()
        });
    }
    let mut indent = None;
    for line in lines {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let depth = line.len() - trimmed.len();
        if depth == 0 {
            return None;
        }
        if *indent.get_or_insert(depth) != depth {
            continue;
        }
        if let Some(v) = trimmed.strip_prefix(key).and_then(|r| r.strip_prefix(':')) {
            return clean(v);
        }
    }
    None
}

/// One YAML document of a stream and the line it starts on.
pub struct YamlDocument<'a> {
    pub line: usize,
    pub text: &'a str,
}

/// Splits a YAML stream at `---` and `...` markers (at the start of a line, as
/// the YAML spec requires), dropping documents with no content.
pub fn split_yaml_documents<'a>(text: &'a str) -> Vec<YamlDocument<'a>> {
    let mut out = Vec::new();
    let mut start = 0usize;
    let mut start_line = 1usize;
    let mut offset = 0usize;
    let push = |from: usize, to: usize, line: usize, out: &mut Vec<YamlDocument<'a>>| {
        let doc = &text[from..to];
        let has_content = doc.lines().any(|l| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with('#')
        });
        if has_content {
            out.push(YamlDocument { line, text: doc });
        }
    };
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let marker = |m: &str| {
            line.strip_prefix(m)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(char::is_whitespace))
        };
        if marker("---") {
            push(start, offset, start_line, &mut out);
            // Content after the marker on the same line belongs to the new document.
            start = offset + 3;
            start_line = i + 1;
        } else if marker("...") {
            push(start, offset, start_line, &mut out);
            start = offset + line.len();
            start_line = i + 2;
        }
        offset += line.len();
    }
    push(start, text.len(), start_line, &mut out);
    out
}
