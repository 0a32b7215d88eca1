//! Which `auths` key an image matches: the kubelet's `URLsMatch` (host
//! labels with globs, port, path prefix).

use std::cmp::Reverse;

/// The host names of Docker Hub. Clients write any of them in their config
/// files, so a key written with one must serve images named with another.
const DOCKER_HUB_HOSTS: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];

/// A normalised `auths` key: host labels (possibly globs), port and path
/// prefix.
#[derive(Clone)]
pub(super) struct RegistryKey {
    pub(super) labels: Vec<Label>,
    /// Empty when the key names no port; ports compare as text.
    pub(super) port: String,
    /// Empty, or `/`-prefixed without a trailing `/`.
    pub(super) path: String,
    /// `host[:port]path`, for `Debug`.
    pub(super) display: String,
}

impl RegistryKey {
    /// Normalises a key as the kubelet's `Add` does: the `http(s)://` scheme,
    /// user info, query and a leading `/v1` or `/v2` segment are dropped. `None`
    /// for keys without a usable host, which the kubelet skips too.
    pub(super) fn parse(raw: &str) -> Option<RegistryKey> {
        let rest = strip_scheme(raw);
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, after) = rest.split_at(authority_end);
        let authority = authority
            .rsplit_once('@')
            .map_or(authority, |(_, host)| host);
        let path = &after[..after.find(['?', '#']).unwrap_or(after.len())];
        // Docker treats `/v1/` and `/v2/` as the registry root
        // (`https://index.docker.io/v1/`). Unlike the kubelet, a bare `/v1`
        // without the trailing slash is the root too.
        let path = ["/v1", "/v2"]
            .iter()
            .find_map(|api| {
                path.strip_prefix(api)
                    .filter(|tail| tail.is_empty() || tail.starts_with('/'))
            })
            .unwrap_or(path);
        let path = path.trim_end_matches('/');

        let (host, port) = split_host_port(authority);
        let host = host.to_ascii_lowercase();
        // Go's URL parser rejects these; the kubelet then ignores the key.
        if host.is_empty()
            || !host.chars().all(is_host_char)
            || !port.chars().all(|c| c.is_ascii_digit())
        {
            return None;
        }
        let display = if port.is_empty() {
            format!("{host}{path}")
        } else {
            format!("{host}:{port}{path}")
        };
        Some(RegistryKey {
            labels: host.split('.').map(Label::new).collect(),
            port: port.to_owned(),
            path: path.to_owned(),
            display,
        })
    }

    /// Sort key, most specific first. The kubelet reverse-sorts key strings,
    /// which puts `reg.io/team` before `reg.io` for the same host; ordering by
    /// path length gives the same result there and also ranks across
    /// different spellings of a host. Among equal paths a literal host comes
    /// before a glob.
    pub(super) fn specificity(&self) -> (Reverse<usize>, usize) {
        let globs = self
            .labels
            .iter()
            .filter(|label| !matches!(label, Label::Literal(_)))
            .count();
        (Reverse(self.path.len()), globs)
    }

    pub(super) fn matches(&self, target: &Target) -> bool {
        if self.port != target.port || !path_has_prefix(&target.path, &self.path) {
            return false;
        }
        if target.port.is_empty() && DOCKER_HUB_HOSTS.contains(&target.host.as_str()) {
            // Any spelling of Docker Hub is the same registry.
            DOCKER_HUB_HOSTS.iter().any(|host| self.host_matches(host))
        } else {
            self.host_matches(&target.host)
        }
    }

    /// Label-by-label glob match: a pattern label never spans a dot, so the
    /// label counts must be equal.
    pub(super) fn host_matches(&self, host: &str) -> bool {
        let labels: Vec<&str> = host.split('.').collect();
        labels.len() == self.labels.len()
            && self
                .labels
                .iter()
                .zip(labels)
                .all(|(pattern, label)| pattern.matches(label))
    }
}

/// Characters Go's URL parser accepts in a host. This is why key globs are
/// limited to `*` and `[a-z]` classes: `?` and `#` already ended the host,
/// and `^` or `\` make the whole key unparseable.
pub(super) fn is_host_char(c: char) -> bool {
    !c.is_ascii() || c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:[]<>\"".contains(c)
}

/// Drops an `http://` or `https://` prefix, whatever its case.
pub(super) fn strip_scheme(text: &str) -> &str {
    for scheme in ["https://", "http://"] {
        if let Some(prefix) = text.get(..scheme.len())
            && prefix.eq_ignore_ascii_case(scheme)
        {
            return &text[scheme.len()..];
        }
    }
    text
}

/// Splits `host:port`, `[v6]:port` or a bare host. A host with several colons
/// and no brackets has no port, as with Go's `net.SplitHostPort` failing.
pub(super) fn split_host_port(authority: &str) -> (&str, &str) {
    if let Some(bracketed) = authority.strip_prefix('[') {
        if let Some((host, tail)) = bracketed.split_once(']') {
            return (host, tail.strip_prefix(':').unwrap_or(""));
        }
        return (authority, "");
    }
    match authority.split_once(':') {
        Some((host, port)) if !port.contains(':') => (host, port),
        _ => (authority, ""),
    }
}

/// Whether `prefix` is `path` or a parent of it on a `/` boundary. The kubelet
/// compares raw strings, so its `reg.io/team` also serves `reg.io/teamx`;
/// that hands one team's credentials to another team's images, so the
/// boundary is enforced here.
pub(super) fn path_has_prefix(path: &str, prefix: &str) -> bool {
    prefix.is_empty()
        || path
            .strip_prefix(prefix)
            .is_some_and(|tail| tail.is_empty() || tail.starts_with('/'))
}

/// The image side of a lookup.
pub(super) struct Target {
    pub(super) host: String,
    pub(super) port: String,
    /// Empty, or `/`-prefixed without a trailing `/`.
    pub(super) path: String,
}

impl Target {
    pub(super) fn new(registry: &str, repository: &str) -> Target {
        // Tolerate callers passing `https://reg.io` or `reg.io/prefix`.
        let registry = strip_scheme(registry);
        let (authority, registry_path) = registry.split_once('/').unwrap_or((registry, ""));
        let (host, port) = split_host_port(authority);
        let mut path = String::new();
        for segment in [registry_path, repository] {
            let segment = segment.trim_matches('/');
            if !segment.is_empty() {
                path.push('/');
                path.push_str(segment);
            }
        }
        Target {
            host: host.to_ascii_lowercase(),
            port: port.to_owned(),
            path,
        }
    }
}

/// One host label of a key, compiled once.
#[derive(Clone)]
pub(super) enum Label {
    Literal(String),
    Glob(Vec<Token>),
    /// A malformed pattern, which Go's `filepath.Match` rejects and the
    /// kubelet then treats as no match.
    Invalid,
}

impl Label {
    pub(super) fn new(text: &str) -> Label {
        if !text.contains(['*', '?', '[', '\\']) {
            return Label::Literal(text.to_owned());
        }
        tokenize(text).map_or(Label::Invalid, Label::Glob)
    }

    pub(super) fn matches(&self, label: &str) -> bool {
        match self {
            Label::Literal(text) => text == label,
            Label::Glob(tokens) => glob_match(tokens, label),
            Label::Invalid => false,
        }
    }
}

/// The `filepath.Match` pattern language, minus `/` handling (labels have none).
#[derive(Clone)]
pub(super) enum Token {
    /// `*`: any run of characters.
    Star,
    /// `?`: any one character.
    Any,
    Char(char),
    /// `[...]` or `[^...]` with inclusive ranges.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Token {
    /// Whether a single-character token accepts `c`.
    pub(super) fn accepts(&self, c: char) -> bool {
        match self {
            Token::Star | Token::Any => true,
            Token::Char(expected) => *expected == c,
            Token::Class { negated, ranges } => {
                ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
            }
        }
    }
}

/// Compiles a pattern; `None` when `filepath.Match` would report a bad pattern.
pub(super) fn tokenize(pattern: &str) -> Option<Vec<Token>> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        i += 1;
        let token = match c {
            '*' => Token::Star,
            '?' => Token::Any,
            '\\' => {
                let escaped = *chars.get(i)?;
                i += 1;
                Token::Char(escaped)
            }
            '[' => {
                let negated = chars.get(i) == Some(&'^');
                if negated {
                    i += 1;
                }
                let mut ranges = Vec::new();
                loop {
                    // `]` closes the class only after at least one range.
                    if chars.get(i) == Some(&']') && !ranges.is_empty() {
                        i += 1;
                        break;
                    }
                    let lo = class_char(&chars, &mut i)?;
                    let hi = if chars.get(i) == Some(&'-') {
                        i += 1;
                        class_char(&chars, &mut i)?
                    } else {
                        lo
                    };
                    ranges.push((lo, hi));
                }
                Token::Class { negated, ranges }
            }
            other => Token::Char(other),
        };
        tokens.push(token);
    }
    Some(tokens)
}

/// One character of a class range; an unescaped `-` or `]`, or the end of the
/// pattern, is a bad pattern.
pub(super) fn class_char(chars: &[char], i: &mut usize) -> Option<char> {
    let c = *chars.get(*i)?;
    *i += 1;
    match c {
        '-' | ']' => None,
        '\\' => {
            let escaped = *chars.get(*i)?;
            *i += 1;
            Some(escaped)
        }
        other => Some(other),
    }
}

/// Greedy matching with backtracking to the last `*` only, which keeps it
/// linear-ish in label length whatever pattern a tenant writes (plain
/// recursion is exponential in the number of stars).
pub(super) fn glob_match(tokens: &[Token], text: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    let (mut t, mut c) = (0, 0);
    let mut last_star: Option<(usize, usize)> = None;
    while c < text.len() {
        match tokens.get(t) {
            Some(Token::Star) => {
                last_star = Some((t, c));
                t += 1;
            }
            Some(token) if token.accepts(text[c]) => {
                t += 1;
                c += 1;
            }
            _ => match last_star {
                Some((star, start)) => {
                    // Let the last star swallow one more character.
                    t = star + 1;
                    c = start + 1;
                    last_star = Some((star, start + 1));
                }
                None => return false,
            },
        }
    }
    tokens[t..].iter().all(|token| matches!(token, Token::Star))
}
