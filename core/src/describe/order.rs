//! The order oc lists tags in (library-go's `PrioritizeTags`: latest, then
//! versions newest first, then the rest) and the pull-spec check it uses.

use std::cmp::Ordering;

/// A tag as library-go's `PrioritizeTags` ranks it.
pub(super) struct Prioritized<'a> {
    pub(super) tag: &'a str,
    pub(super) priority: Priority,
    pub(super) version: Option<SemVer>,
    pub(super) prefix: &'a str,
}

/// Ranks of `PrioritizeTags`, first to last.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Priority {
    /// The `latest` tag.
    Latest,
    /// A minor version: `5.1`, `v5.1`, `5.1-rc1`.
    Minor,
    /// A full semantic version: `5.1.3`, `v5.1.3-beta.1`.
    Full,
    /// Anything else.
    Other,
}

/// Orders tag names as oc lists them (library-go `imageutil.PrioritizeTags`):
/// `latest` first, then minor versions newest first, then full semantic versions
/// newest first, then everything else in byte order.
pub(super) fn prioritize_tags(tags: &mut [&str]) {
    let mut ranked: Vec<Prioritized<'_>> = tags.iter().map(|&t| prioritize_tag(t)).collect();
    // Go's sort is not stable; a stable sort gives one of the orders oc may print
    // for the only ties possible (equal versions such as `1.0.0+a` and `1.0.0+b`).
    ranked.sort_by(|a, b| {
        a.priority.cmp(&b.priority).then_with(|| {
            if a.priority == Priority::Other {
                a.tag.cmp(b.tag)
            } else {
                // Newer versions first; `5.1` before `v5.1`.
                let by_version = match (&a.version, &b.version) {
                    (Some(va), Some(vb)) => vb.precedence(va),
                    _ => Ordering::Equal,
                };
                by_version.then_with(|| a.prefix.cmp(b.prefix))
            }
        })
    });
    for (slot, ranked) in tags.iter_mut().zip(ranked) {
        *slot = ranked.tag;
    }
}

pub(super) fn prioritize_tag(tag: &str) -> Prioritized<'_> {
    let ranked = |priority, version, prefix| Prioritized {
        tag,
        priority,
        version,
        prefix,
    };
    if tag == "latest" {
        return ranked(Priority::Latest, None, "");
    }
    let (prefix, short) = match tag.strip_prefix('v') {
        Some(short) => ("v", short),
        None => ("", tag),
    };
    if let Some(version) = SemVer::parse(short) {
        return ranked(Priority::Full, Some(version), prefix);
    }
    if is_minor_version(short)
        && let Some(version) = SemVer::parse(&format!("{short}.0"))
    {
        return ranked(Priority::Minor, Some(version), prefix);
    }
    // `5.1-rc1` ranks as the minor version `5.1.0-rc1`.
    if let Some((head, suffix)) = short.split_once('-')
        && is_minor_version(head)
        && !suffix.is_empty()
        && suffix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && let Some(version) = SemVer::parse(&format!("{head}.0-{suffix}"))
    {
        return ranked(Priority::Minor, Some(version), prefix);
    }
    ranked(Priority::Other, None, prefix)
}

/// `^\d+\.\d+$` (ASCII digits, as in Go's regexp).
pub(super) fn is_minor_version(s: &str) -> bool {
    let all_digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    s.split_once('.')
        .is_some_and(|(major, minor)| all_digits(major) && all_digits(minor))
}

/// A semantic version as github.com/blang/semver (v3) parses and compares it;
/// build metadata is checked but plays no part in the order, so it is not kept.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct SemVer {
    pub(super) major: u64,
    pub(super) minor: u64,
    pub(super) patch: u64,
    pub(super) pre: Vec<PreRelease>,
}

/// One dot-separated pre-release identifier. Numeric identifiers sort before
/// alphanumeric ones, which the variant order gives the derived `Ord`.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum PreRelease {
    Numeric(u64),
    Alphanumeric(String),
}

impl SemVer {
    /// blang/semver's strict `Parse`: `MAJOR.MINOR.PATCH[-PRE][+BUILD]`, no leading
    /// zeros, identifiers of ASCII letters, digits and `-`.
    pub(super) fn parse(s: &str) -> Option<Self> {
        let mut parts = s.splitn(3, '.');
        let major = parse_version_number(parts.next()?)?;
        let minor = parse_version_number(parts.next()?)?;
        let rest = parts.next()?;
        let (rest, build) = match rest.split_once('+') {
            Some((rest, build)) => (rest, Some(build)),
            None => (rest, None),
        };
        let (patch, pre) = match rest.split_once('-') {
            Some((patch, pre)) => (patch, Some(pre)),
            None => (rest, None),
        };
        let patch = parse_version_number(patch)?;
        let pre = match pre {
            Some(pre) => pre
                .split('.')
                .map(PreRelease::parse)
                .collect::<Option<Vec<_>>>()?,
            None => Vec::new(),
        };
        if let Some(build) = build
            && !build
                .split('.')
                .all(|id| !id.is_empty() && id.chars().all(is_identifier_char))
        {
            return None;
        }
        Some(SemVer {
            major,
            minor,
            patch,
            pre,
        })
    }

    /// Semantic version precedence: a release ranks above its pre-releases, and
    /// pre-releases compare identifier by identifier, a longer list winning a tie.
    pub(super) fn precedence(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => self.pre.cmp(&other.pre),
            })
    }
}

impl PreRelease {
    pub(super) fn parse(id: &str) -> Option<Self> {
        if id.is_empty() {
            None
        } else if id.bytes().all(|b| b.is_ascii_digit()) {
            parse_version_number(id).map(PreRelease::Numeric)
        } else if id.chars().all(is_identifier_char) {
            Some(PreRelease::Alphanumeric(id.to_string()))
        } else {
            None
        }
    }
}

pub(super) fn is_identifier_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-'
}

/// A version number: ASCII digits without a leading zero, fitting in 64 bits.
pub(super) fn parse_version_number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

/// The digest of a pull spec as library-go's `reference.Parse` gives it (`ID`):
/// `Some("")` for a valid spec without a digest, `None` for a spec it rejects.
///
/// This follows the docker/distribution reference grammar that library-go carries:
/// `[domain/]path[:tag][@digest]`, lowercase path components, a name of at most 255
/// characters, and a sha256, sha384 or sha512 digest of the right length.
pub(super) fn reference_id(spec: &str) -> Option<&str> {
    let (rest, digest) = match spec.split_once('@') {
        Some((rest, digest)) => (rest, digest),
        None => (spec, ""),
    };
    if spec.contains('@') && !is_valid_digest(digest) {
        return None;
    }
    // A `:` followed by no `/` starts the tag; any other `:` is a registry port.
    let name = match rest.rfind(':') {
        Some(i) if !rest[i + 1..].contains('/') => {
            if !is_valid_tag(&rest[i + 1..]) {
                return None;
            }
            &rest[..i]
        }
        _ => rest,
    };
    if name.len() > 255 {
        return None;
    }
    let components: Vec<&str> = name.split('/').collect();
    let valid = components.iter().all(|c| is_path_component(c))
        || (components.len() > 1
            && is_domain(components[0])
            && components[1..].iter().all(|c| is_path_component(c)));
    valid.then_some(digest)
}

/// `[a-z0-9]+` runs joined by `.`, `_`, `__` or any number of `-`.
pub(super) fn is_path_component(s: &str) -> bool {
    let bytes = s.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let mut i = 0;
    loop {
        let start = i;
        while i < bytes.len() && alnum(bytes[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == bytes.len() {
            return true;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator = &s[start..i];
        let dashes = separator.bytes().all(|b| b == b'-');
        if !(matches!(separator, "." | "_" | "__") || dashes) {
            return false;
        }
    }
}

/// Host name components of letters, digits and inner `-`, joined by `.`, with an
/// optional numeric port.
pub(super) fn is_domain(s: &str) -> bool {
    let (host, port) = match s.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (s, None),
    };
    if port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
        return false;
    }
    host.split('.').all(|c| {
        let bytes = c.as_bytes();
        !bytes.is_empty()
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
            && bytes[0] != b'-'
            && bytes[bytes.len() - 1] != b'-'
    })
}

/// `[\w][\w.-]{0,127}`.
pub(super) fn is_valid_tag(s: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && word(bytes[0])
        && bytes[1..]
            .iter()
            .all(|&b| word(b) || b == b'.' || b == b'-')
}

/// `sha256:`, `sha384:` or `sha512:` and that many bits in hex.
pub(super) fn is_valid_digest(s: &str) -> bool {
    let Some((algorithm, hex)) = s.split_once(':') else {
        return false;
    };
    let len = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return false,
    };
    hex.len() == len && hex.bytes().all(|b| b.is_ascii_hexdigit())
}
