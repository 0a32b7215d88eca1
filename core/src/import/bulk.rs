//! `import-image NAME --from REPO --all`: which of a repository's tags are
//! imported, in OpenShift's order, and which are left out.

use std::cmp::Ordering;

/// Tags read from a repository's tag list before the listing stops: a
/// registry's answer is hostile, and this is far past any real repository.
pub const MAX_LISTED_TAGS: usize = 100_000;

/// What a bulk import takes of a repository's tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// Imported, in OpenShift's priority order.
    pub chosen: Vec<String>,
    /// Past `import.maxImagesBulkImportedPerRepository`, in the same order.
    pub left_out: Vec<String>,
}

/// The tags to import of `tags` (the registry's list, in any order), at most
/// `limit` of them (`None`: all), picked as OpenShift picks them: duplicates
/// dropped, then `latest`, then minor versions (`5.1`, `v5.1`, `5.1-rc1`)
/// newest first, then full versions (`5.1.3`, `v5.1.3-beta`) newest first,
/// then every other tag in byte order. Tags that are not valid tag names
/// are dropped.
pub fn select(tags: &[String], limit: Option<usize>) -> Selection {
    let mut all: Vec<&str> = tags
        .iter()
        .map(String::as_str)
        .filter(|t| valid_tag(t))
        .collect();
    all.sort_unstable();
    all.dedup();
    all.sort_by(|a, b| priority(a).cmp(&priority(b)).then_with(|| a.cmp(b)));
    let cut = limit.unwrap_or(usize::MAX).min(all.len());
    let (chosen, left_out) = all.split_at(cut);
    Selection {
        chosen: chosen.iter().map(|t| (*t).to_owned()).collect(),
        left_out: left_out.iter().map(|t| (*t).to_owned()).collect(),
    }
}

/// A tag as the distribution spec allows it: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
pub fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// Sort key: the group first, then newest version first within it.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Priority {
    Latest,
    /// Negated so that a newer version sorts first; then a plain `5.1`
    /// before `5.1-rc1`, then without `v` before with it.
    Minor(std::cmp::Reverse<(u64, u64)>, bool, bool),
    Full(std::cmp::Reverse<Version>, bool),
    Other,
}

fn priority(tag: &str) -> Priority {
    if tag == "latest" {
        return Priority::Latest;
    }
    let (v, rest) = match tag.strip_prefix('v') {
        Some(rest) => (true, rest),
        None => (false, tag),
    };
    let (base, suffix) = match rest.split_once('-') {
        Some((b, s)) => (b, Some(s)),
        None => (rest, None),
    };
    let word = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_');
    let parts: Vec<&str> = base.split('.').collect();
    let numbers: Option<Vec<u64>> = parts.iter().map(|p| number(p)).collect();
    match (numbers.as_deref(), suffix) {
        (Some([major, minor]), None) => {
            Priority::Minor(std::cmp::Reverse((*major, *minor)), false, v)
        }
        (Some([major, minor]), Some(s)) if word(s) => {
            Priority::Minor(std::cmp::Reverse((*major, *minor)), true, v)
        }
        (Some([major, minor, patch]), pre) if pre.is_none_or(|p| !p.is_empty()) => Priority::Full(
            std::cmp::Reverse(Version {
                release: (*major, *minor, *patch),
                pre: Pre(pre.map(str::to_owned)),
            }),
            v,
        ),
        _ => Priority::Other,
    }
}

/// Digits only, no sign, no leading zero (as semver has them).
fn number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Version {
    release: (u64, u64, u64),
    pre: Pre,
}

/// A pre-release (and build) suffix: none is newer than any.
#[derive(Debug, PartialEq, Eq)]
struct Pre(Option<String>);

impl PartialOrd for Pre {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Pre {
    fn cmp(&self, other: &Self) -> Ordering {
        match (&self.0, &other.0) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(a), Some(b)) => a.cmp(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|t| (*t).to_owned()).collect()
    }

    #[test]
    fn openshift_order_and_the_limit() {
        let got = select(
            &tags(&[
                "zeta",
                "1.2.3",
                "v1.10",
                "latest",
                "1.9",
                "alpha",
                "2.0.0-rc1",
                "2.0.0",
                "1.9",
                "1.9-rc1",
                "v2.0.0",
                "bad tag",
                "",
            ]),
            None,
        );
        assert_eq!(
            got.chosen,
            tags(&[
                "latest",
                "v1.10",
                "1.9",
                "1.9-rc1",
                "2.0.0",
                "v2.0.0",
                "2.0.0-rc1",
                "1.2.3",
                "alpha",
                "zeta"
            ])
        );
        assert!(got.left_out.is_empty());
        let got = select(&tags(&["b", "a", "latest", "c"]), Some(2));
        assert_eq!(got.chosen, tags(&["latest", "a"]));
        assert_eq!(got.left_out, tags(&["b", "c"]));
    }
}
