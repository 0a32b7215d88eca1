//! Docker/OCI image references, parsed without normalisation.
//!
//! The webhook rewrites `image:` fields and must leave everything else the
//! user wrote untouched: no `docker.io/library/` prefix is added, no `:latest`
//! is assumed and the registry keeps its original case. Every component of an
//! [`ImageRef`] is therefore a slice of the input, and formatting it gives the
//! input back byte for byte.
//!
//! The accepted language is the one of distribution's `ParseNormalizedNamed`
//! (used by Docker, containerd and the kubelet), so that anything accepted
//! here is also pullable by the node, and anything rejected would have failed
//! there as well.

pub mod host;

use std::fmt;

use host::hosts_equal;

/// Longest allowed name (registry, `/` and repository path), in bytes.
const NAME_MAX: usize = 255;

/// Longest allowed tag, in bytes.
const TAG_MAX: usize = 128;

/// A parsed image reference, borrowing from the string the user wrote.
///
/// Grammar: `[registry "/"] repository [":" tag] ["@" digest]`. Nothing is
/// normalised: `nginx` has no registry and no tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ImageRef<'a> {
    raw: &'a str,
    registry: Option<&'a str>,
    repository: &'a str,
    tag: Option<&'a str>,
    digest: Option<&'a str>,
}

impl<'a> ImageRef<'a> {
    /// Parses `s` as an image reference, keeping the user's exact spelling.
    ///
    /// The first `/`-separated component is a registry only when it contains
    /// `.` or `:`, is `localhost`, or contains an upper-case letter; otherwise
    /// the whole name is the repository (which the runtime would place on
    /// Docker Hub).
    pub fn parse(s: &'a str) -> Result<ImageRef<'a>, RefError> {
        if s.is_empty() {
            return Err(RefError::Empty);
        }
        if s.chars().any(char::is_whitespace) {
            return Err(RefError::Whitespace {
                reference: s.to_owned(),
            });
        }
        // Runtimes treat a bare 64-hex string as an image id, never as a
        // repository, so distribution refuses it as a name.
        if is_lower_hex(s, 64) {
            return Err(RefError::ImageId {
                reference: s.to_owned(),
            });
        }

        let (name_and_tag, digest) = match s.split_once('@') {
            Some((before, after)) => (before, Some(after)),
            None => (s, None),
        };
        let (name, tag) = split_tag(name_and_tag);

        if name.is_empty() {
            return Err(RefError::MissingName {
                reference: s.to_owned(),
            });
        }
        if tag == Some("") {
            return Err(RefError::EmptyTag {
                reference: s.to_owned(),
            });
        }
        if digest == Some("") {
            return Err(RefError::EmptyDigest {
                reference: s.to_owned(),
            });
        }

        let (registry, repository) = split_registry(name);
        if let Some(registry) = registry {
            check_registry(registry).map_err(|reason| RefError::InvalidRegistry {
                registry: registry.to_owned(),
                reason,
            })?;
        }
        check_repository(name, repository)?;
        if name.len() > NAME_MAX {
            return Err(RefError::NameTooLong { len: name.len() });
        }
        if let Some(tag) = tag {
            check_tag(tag).map_err(|reason| RefError::InvalidTag {
                tag: tag.to_owned(),
                reason,
            })?;
        }
        if let Some(digest) = digest {
            check_digest(digest)?;
        }

        Ok(ImageRef {
            raw: s,
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The complete reference exactly as written.
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// The registry host (with port, if any) as written, e.g. `localhost:5000`
    /// or `[::1]:5000`; `None` when the reference names no registry.
    pub fn registry(&self) -> Option<&'a str> {
        self.registry
    }

    /// The repository path after the registry, e.g. `engine/marsview`.
    pub fn repository(&self) -> &'a str {
        self.repository
    }

    /// The tag without its `:`, if one was written.
    pub fn tag(&self) -> Option<&'a str> {
        self.tag
    }

    /// The digest without its `@` (e.g. `sha256:<64 hex>`), if one was written.
    pub fn digest(&self) -> Option<&'a str> {
        self.digest
    }

    /// Registry, `/` and repository exactly as written: the raw reference
    /// without `:tag` and `@digest`.
    pub fn name(&self) -> &'a str {
        // Registry and repository are the leading slices of `raw`, so the name
        // is a prefix of it; `get` keeps this panic-free regardless.
        let len = match self.registry {
            Some(registry) => registry.len() + 1 + self.repository.len(),
            None => self.repository.len(),
        };
        self.raw.get(..len).unwrap_or(self.raw)
    }

    /// True when this reference's registry equals `host`, ignoring ASCII case.
    ///
    /// A reference without a registry never matches, not even `docker.io`:
    /// the caller decides what an implicit registry means.
    pub fn has_registry(&self, host: &str) -> bool {
        self.registry
            .is_some_and(|registry| hosts_equal(registry, host))
    }

    /// `name()@digest`: the tag (if any) is dropped and `digest` appended.
    ///
    /// The tag goes because a runtime ignores it once a digest is present,
    /// and keeping it would suggest the tag still matters. `digest` is not
    /// validated here; check it with [`is_sha256_digest`] first.
    pub fn with_digest(&self, digest: &str) -> String {
        let name = self.name();
        let mut out = String::with_capacity(name.len() + 1 + digest.len());
        out.push_str(name);
        out.push('@');
        out.push_str(digest);
        out
    }
}

impl fmt::Display for ImageRef<'_> {
    /// Writes the reference exactly as it was parsed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.raw)
    }
}

/// True when `s` is a valid sha256 digest: `sha256:` and 64 lowercase hex.
pub fn is_sha256_digest(s: &str) -> bool {
    s.strip_prefix("sha256:")
        .is_some_and(|encoded| is_lower_hex(encoded, 64))
}

/// Why a string is not a valid image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefError {
    /// The input was the empty string.
    #[error("image reference is empty")]
    Empty,
    /// The input contains a space, tab, newline or other whitespace.
    #[error("image reference {reference:?} contains whitespace")]
    Whitespace {
        /// The rejected input.
        reference: String,
    },
    /// The input is a bare 64-hex image id rather than a name.
    #[error(
        "invalid repository name {reference:?}: a 64-character hex string is an image id, not a repository"
    )]
    ImageId {
        /// The rejected input.
        reference: String,
    },
    /// Nothing precedes the `:tag` or `@digest`.
    #[error("invalid reference format: {reference:?} has no repository name")]
    MissingName {
        /// The rejected input.
        reference: String,
    },
    /// A `:` is followed by nothing (or directly by `@`).
    #[error("invalid reference format: {reference:?} has an empty tag after ':'")]
    EmptyTag {
        /// The rejected input.
        reference: String,
    },
    /// An `@` is followed by nothing.
    #[error("invalid reference format: {reference:?} has an empty digest after '@'")]
    EmptyDigest {
        /// The rejected input.
        reference: String,
    },
    /// The registry is not `host[:port]` with a DNS-style host or `[IPv6]`.
    #[error("registry {registry:?} is invalid: {reason}")]
    InvalidRegistry {
        /// The registry component as written.
        registry: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The repository path contains an upper-case letter.
    #[error("repository name must be lowercase: {repository:?}")]
    Uppercase {
        /// The repository path as written.
        repository: String,
    },
    /// Two slashes in a row, or a leading or trailing slash.
    #[error("empty path component in {name:?}")]
    EmptyComponent {
        /// The name (registry and repository) as written.
        name: String,
    },
    /// A path component breaks `[a-z0-9]+ (separator [a-z0-9]+)*`.
    #[error("invalid reference format: path component {component:?} is invalid: {reason}")]
    InvalidPathComponent {
        /// The offending component.
        component: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Registry, `/` and repository together exceed 255 characters.
    #[error("repository name is longer than 255 characters (it has {len})")]
    NameTooLong {
        /// Length of the name in bytes.
        len: usize,
    },
    /// The tag breaks `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
    #[error("tag {tag:?} is invalid: {reason}")]
    InvalidTag {
        /// The tag as written, without `:`.
        tag: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The digest is malformed, or its encoded part does not fit its algorithm.
    #[error("digest {digest:?} is invalid: {reason}")]
    InvalidDigest {
        /// The digest as written, without `@`.
        digest: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The digest is well-formed but uses an algorithm runtimes cannot verify.
    #[error("digest algorithm {algorithm:?} is not supported (use sha256, sha384 or sha512)")]
    UnsupportedDigestAlgorithm {
        /// The algorithm as written.
        algorithm: String,
    },
}

/// Splits off the tag: the text after the last `:`, unless a `/` follows that
/// `:`, in which case it was a registry port (`localhost:5000/foo`).
fn split_tag(s: &str) -> (&str, Option<&str>) {
    match s.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, Some(tag)),
        _ => (s, None),
    }
}

/// Splits off the registry using distribution's heuristic, since a lone
/// first component like `library` is a Docker Hub namespace, not a host.
fn split_registry(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest)) if looks_like_registry(first) => (Some(first), rest),
        _ => (None, name),
    }
}

fn looks_like_registry(first: &str) -> bool {
    // Upper case counts because repository paths may not contain it, so an
    // upper-case first component can only be meant as a host.
    first.contains(['.', ':'])
        || first == "localhost"
        || first.bytes().any(|b| b.is_ascii_uppercase())
}

/// Checks `host[:port]` where host is a DNS-style name or `[IPv6]`.
fn check_registry(registry: &str) -> Result<(), &'static str> {
    let port = if let Some(rest) = registry.strip_prefix('[') {
        let (address, after) = rest
            .split_once(']')
            .ok_or("IPv6 address is missing its closing ']'")?;
        // Zone ids and embedded IPv4 are left out on purpose, as upstream does.
        if address.is_empty() || !address.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return Err("IPv6 address may contain only hex digits and ':'");
        }
        if after.is_empty() {
            None
        } else {
            Some(
                after
                    .strip_prefix(':')
                    .ok_or("only ':port' may follow an IPv6 address")?,
            )
        }
    } else {
        let (host, port) = match registry.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (registry, None),
        };
        for label in host.split('.') {
            check_host_label(label)?;
        }
        port
    };
    match port {
        None => Ok(()),
        Some("") => Err("port is empty"),
        Some(port) if port.bytes().all(|b| b.is_ascii_digit()) => Ok(()),
        Some(_) => Err("port must be decimal digits"),
    }
}

fn check_host_label(label: &str) -> Result<(), &'static str> {
    if label.is_empty() {
        return Err("host has an empty label");
    }
    if !label
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err("host may contain only letters, digits, '-' and '.'");
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err("host labels may not start or end with '-'");
    }
    Ok(())
}

fn check_repository(name: &str, repository: &str) -> Result<(), RefError> {
    // Reported before the component grammar because it is the likelier
    // mistake and the more useful message.
    if repository.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(RefError::Uppercase {
            repository: repository.to_owned(),
        });
    }
    for component in repository.split('/') {
        if component.is_empty() {
            return Err(RefError::EmptyComponent {
                name: name.to_owned(),
            });
        }
        check_path_component(component).map_err(|reason| RefError::InvalidPathComponent {
            component: component.to_owned(),
            reason,
        })?;
    }
    Ok(())
}

fn is_path_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// Checks `[a-z0-9]+ (separator [a-z0-9]+)*` with separator `.`, `_`, `__` or
/// one or more `-`.
fn check_path_component(component: &str) -> Result<(), &'static str> {
    let mut bytes = component.bytes().peekable();
    if !bytes.peek().copied().is_some_and(is_path_alnum) {
        return Err("must start with a lowercase letter or digit");
    }
    loop {
        while bytes.next_if(|&b| is_path_alnum(b)).is_some() {}
        let Some(separator) = bytes.next() else {
            return Ok(());
        };
        match separator {
            b'.' => {}
            b'_' => {
                bytes.next_if_eq(&b'_');
            }
            b'-' => while bytes.next_if_eq(&b'-').is_some() {},
            _ => {
                return Err(
                    "may contain only lowercase letters, digits and the separators '.', '_', '__' and '-'",
                );
            }
        }
        match bytes.peek() {
            None => return Err("must not end with a separator"),
            Some(&b) if !is_path_alnum(b) => {
                return Err(
                    "separators must be single ('.', '_', '__' or dashes) and followed by a letter or digit",
                );
            }
            Some(_) => {}
        }
    }
}

/// Checks `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn check_tag(tag: &str) -> Result<(), &'static str> {
    if tag.len() > TAG_MAX {
        return Err("tags may be at most 128 characters");
    }
    let mut bytes = tag.bytes();
    if !bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err("must start with a letter, digit or '_'");
    }
    if !bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')) {
        return Err("may contain only letters, digits, '_', '.' and '-'");
    }
    Ok(())
}

/// Checks a digest the way distribution and go-digest do together: the form is
/// `algorithm:encoded`, and only algorithms a runtime can verify are accepted.
fn check_digest(digest: &str) -> Result<(), RefError> {
    let invalid = |reason| RefError::InvalidDigest {
        digest: digest.to_owned(),
        reason,
    };
    let (algorithm, encoded) = digest
        .split_once(':')
        .ok_or_else(|| invalid("expected algorithm:encoded, e.g. sha256:<64 hex characters>"))?;
    if algorithm.is_empty() {
        return Err(invalid("algorithm is empty"));
    }
    if encoded.is_empty() {
        return Err(invalid("encoded part after the algorithm is empty"));
    }
    let (hex_len, wrong_length) = match algorithm {
        "sha256" => (64, "sha256 needs 64 hex characters"),
        "sha384" => (96, "sha384 needs 96 hex characters"),
        "sha512" => (128, "sha512 needs 128 hex characters"),
        _ => {
            if !is_digest_algorithm(algorithm) {
                return Err(invalid(
                    "algorithm must be lowercase letters and digits, optionally joined by '+', '.', '_' or '-'",
                ));
            }
            if !encoded
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'))
            {
                return Err(invalid(
                    "encoded part may contain only letters, digits, '=', '_' and '-'",
                ));
            }
            return Err(RefError::UnsupportedDigestAlgorithm {
                algorithm: algorithm.to_owned(),
            });
        }
    };
    if encoded.len() != hex_len {
        return Err(invalid(wrong_length));
    }
    if !encoded.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid("encoded part must be hex"));
    }
    if encoded.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(invalid("hex digits must be lowercase"));
    }
    Ok(())
}

/// `[a-z0-9]+ ([+._-][a-z0-9]+)*`, the OCI algorithm grammar; used only to
/// tell a malformed digest from a well-formed one with an unknown algorithm.
fn is_digest_algorithm(algorithm: &str) -> bool {
    algorithm
        .split(['+', '.', '_', '-'])
        .all(|part| !part.is_empty() && part.bytes().all(is_path_alnum))
}

/// True when `s` is exactly `len` lowercase hex digits.
fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::host::*;
    use super::*;

    const HEX64: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn sha256() -> String {
        format!("sha256:{HEX64}")
    }

    /// The error variant alone, so rows don't have to spell out messages.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Kind {
        Empty,
        Whitespace,
        ImageId,
        MissingName,
        EmptyTag,
        EmptyDigest,
        InvalidRegistry,
        Uppercase,
        EmptyComponent,
        InvalidPathComponent,
        NameTooLong,
        InvalidTag,
        InvalidDigest,
        UnsupportedDigestAlgorithm,
    }

    fn kind(e: &RefError) -> Kind {
        match e {
            RefError::Empty => Kind::Empty,
            RefError::Whitespace { .. } => Kind::Whitespace,
            RefError::ImageId { .. } => Kind::ImageId,
            RefError::MissingName { .. } => Kind::MissingName,
            RefError::EmptyTag { .. } => Kind::EmptyTag,
            RefError::EmptyDigest { .. } => Kind::EmptyDigest,
            RefError::InvalidRegistry { .. } => Kind::InvalidRegistry,
            RefError::Uppercase { .. } => Kind::Uppercase,
            RefError::EmptyComponent { .. } => Kind::EmptyComponent,
            RefError::InvalidPathComponent { .. } => Kind::InvalidPathComponent,
            RefError::NameTooLong { .. } => Kind::NameTooLong,
            RefError::InvalidTag { .. } => Kind::InvalidTag,
            RefError::InvalidDigest { .. } => Kind::InvalidDigest,
            RefError::UnsupportedDigestAlgorithm { .. } => Kind::UnsupportedDigestAlgorithm,
        }
    }

    #[derive(Debug)]
    enum Want {
        Ok {
            registry: Option<String>,
            repository: String,
            tag: Option<String>,
            digest: Option<String>,
        },
        Err(Kind),
    }

    fn ok(
        input: &str,
        registry: Option<&str>,
        repository: &str,
        tag: Option<&str>,
        digest: Option<&str>,
    ) -> (String, Want) {
        (
            input.to_owned(),
            Want::Ok {
                registry: registry.map(str::to_owned),
                repository: repository.to_owned(),
                tag: tag.map(str::to_owned),
                digest: digest.map(str::to_owned),
            },
        )
    }

    fn err(input: &str, kind: Kind) -> (String, Want) {
        (input.to_owned(), Want::Err(kind))
    }

    fn cases() -> Vec<(String, Want)> {
        use Kind::*;
        let d = sha256();
        let d512 = format!("sha512:{HEX64}{HEX64}");
        let d384 = format!("sha384:{}", &format!("{HEX64}{HEX64}")[..96]);
        let long_name = "a".repeat(255);
        let too_long_name = "a".repeat(256);
        // 12 + 244 = 256: only the registry pushes it over the limit.
        let too_long_with_registry = format!("example.com/{}", "a".repeat(244));
        let tag128 = "t".repeat(128);
        let tag129 = "t".repeat(129);
        vec![
            // Plain names, nothing implied.
            ok("nginx", None, "nginx", None, None),
            ok("nginx:1.25", None, "nginx", Some("1.25"), None),
            ok("library/nginx", None, "library/nginx", None, None),
            ok(
                "docker.io/library/nginx",
                Some("docker.io"),
                "library/nginx",
                None,
                None,
            ),
            ok(
                "docker.io/library/nginx:1.25-alpine",
                Some("docker.io"),
                "library/nginx",
                Some("1.25-alpine"),
                None,
            ),
            ok("a/b/c/d/e", None, "a/b/c/d/e", None, None),
            ok("0", None, "0", None, None),
            // localhost and ports.
            ok("localhost", None, "localhost", None, None),
            ok("localhost/foo", Some("localhost"), "foo", None, None),
            ok("localhost:5000/x", Some("localhost:5000"), "x", None, None),
            ok(
                "localhost:5000/x:v1",
                Some("localhost:5000"),
                "x",
                Some("v1"),
                None,
            ),
            ok("localhost:5000", None, "localhost", Some("5000"), None),
            ok("example.com:5000", None, "example.com", Some("5000"), None),
            ok("foo:5000/bar", Some("foo:5000"), "bar", None, None),
            ok(
                "registry.example.com:5000/team/app:2.0",
                Some("registry.example.com:5000"),
                "team/app",
                Some("2.0"),
                None,
            ),
            ok(
                "192.168.0.1:5000/a",
                Some("192.168.0.1:5000"),
                "a",
                None,
                None,
            ),
            ok("my-registry.io/a", Some("my-registry.io"), "a", None, None),
            // IPv6.
            ok("[::1]:5000/x", Some("[::1]:5000"), "x", None, None),
            ok("[::1]/x:tag", Some("[::1]"), "x", Some("tag"), None),
            ok(
                &format!("[2001:DB8::1]:443/a/b@{d}"),
                Some("[2001:DB8::1]:443"),
                "a/b",
                None,
                Some(&d),
            ),
            // Upper case makes the first component a host.
            ok(
                "Registry.Example.COM/a/b",
                Some("Registry.Example.COM"),
                "a/b",
                None,
                None,
            ),
            ok("Foo/bar", Some("Foo"), "bar", None, None),
            // Separators.
            ok("a__b", None, "a__b", None, None),
            ok("a---b", None, "a---b", None, None),
            ok("a-b/c_d.e", None, "a-b/c_d.e", None, None),
            // Digests.
            ok(&format!("nginx@{d}"), None, "nginx", None, Some(&d)),
            ok(
                &format!("nginx:1.25@{d}"),
                None,
                "nginx",
                Some("1.25"),
                Some(&d),
            ),
            ok(&format!("nginx@{d512}"), None, "nginx", None, Some(&d512)),
            ok(&format!("nginx@{d384}"), None, "nginx", None, Some(&d384)),
            ok(
                &format!("localhost:5000/a/b:tag@{d}"),
                Some("localhost:5000"),
                "a/b",
                Some("tag"),
                Some(&d),
            ),
            // OpenShift's internal registry.
            ok(
                "image-registry.openshift-image-registry.svc:5000/ns/name:tag",
                Some("image-registry.openshift-image-registry.svc:5000"),
                "ns/name",
                Some("tag"),
                None,
            ),
            ok(
                &format!("image-registry.openshift-image-registry.svc:5000/ns/name@{d}"),
                Some("image-registry.openshift-image-registry.svc:5000"),
                "ns/name",
                None,
                Some(&d),
            ),
            // Lengths at the limit.
            ok(&long_name, None, &long_name, None, None),
            ok(&format!("a:{tag128}"), None, "a", Some(&tag128), None),
            ok("a:_private", None, "a", Some("_private"), None),
            ok("a:V1.0-RC_1", None, "a", Some("V1.0-RC_1"), None),
            // Only a bare hex string is an image id; with a tag it is a name.
            ok(
                &format!("{HEX64}:latest"),
                None,
                HEX64,
                Some("latest"),
                None,
            ),
            // Rejections: emptiness and whitespace.
            err("", Empty),
            err(" nginx", Whitespace),
            err("nginx ", Whitespace),
            err("ngi nx", Whitespace),
            err("nginx:1.0\n", Whitespace),
            err("nginx\u{a0}", Whitespace),
            err(HEX64, ImageId),
            err("foo:", EmptyTag),
            err(&format!("foo:@{d}"), EmptyTag),
            err("foo@", EmptyDigest),
            err("@", MissingName),
            err(":", MissingName),
            err(":tag", MissingName),
            err(&format!("@{d}"), MissingName),
            // Empty components and separators in the wrong place.
            err("a//b", EmptyComponent),
            err("/a", EmptyComponent),
            err("a/", EmptyComponent),
            err("example.com/", EmptyComponent),
            err("example.com//a", EmptyComponent),
            err("a..b", InvalidPathComponent),
            err(".a", InvalidPathComponent),
            err("-a", InvalidPathComponent),
            err("_a", InvalidPathComponent),
            err("a-", InvalidPathComponent),
            err("a___b", InvalidPathComponent),
            err("a._b", InvalidPathComponent),
            err("a:b:c", InvalidPathComponent),
            err("[::1]:5000", InvalidPathComponent),
            err("[]/x", InvalidPathComponent),
            err("naïve", InvalidPathComponent),
            // Upper case in the path.
            err("foo/Bar", Uppercase),
            err("Foo", Uppercase),
            err("FOO:tag", Uppercase),
            err("Foo/Bar", Uppercase),
            // Registries.
            err("-bad.com/x", InvalidRegistry),
            err("bad-.com/x", InvalidRegistry),
            err("a..com/x", InvalidRegistry),
            err("host:port/x", InvalidRegistry),
            err("host:/x", InvalidRegistry),
            err("foo:bar/baz", InvalidRegistry),
            err("my_registry.com/x", InvalidRegistry),
            err("[::1/x", InvalidRegistry),
            err("[fe80::1%eth0]:5000/x", InvalidRegistry),
            err("[::1]x/y", InvalidRegistry),
            // Lengths over the limit.
            err(&too_long_name, NameTooLong),
            err(&too_long_with_registry, NameTooLong),
            err(&format!("a:{tag129}"), InvalidTag),
            // Tags.
            err("a:.x", InvalidTag),
            err("a:-x", InvalidTag),
            err("a:1.0+build", InvalidTag),
            err("a:tag™", InvalidTag),
            // Digests.
            err("nginx@sha256:12", InvalidDigest),
            err(&format!("nginx@sha256:{HEX64}0"), InvalidDigest),
            err(
                &format!("nginx@sha256:{}", HEX64.to_ascii_uppercase()),
                InvalidDigest,
            ),
            err(&format!("nginx@sha256:{}g", &HEX64[..63]), InvalidDigest),
            err(&format!("nginx@SHA256:{HEX64}"), InvalidDigest),
            err("nginx@sha256", InvalidDigest),
            err(&format!("nginx@:{HEX64}"), InvalidDigest),
            err("nginx@sha256:", InvalidDigest),
            err(&format!("nginx@{d}@x"), InvalidDigest),
            err(&format!("nginx@sha512:{HEX64}"), InvalidDigest),
            err(&format!("nginx@sha256+b64u:{HEX64}!"), InvalidDigest),
            err(
                &format!("nginx@md5:{}", &HEX64[..32]),
                UnsupportedDigestAlgorithm,
            ),
            err(
                "nginx@sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564",
                UnsupportedDigestAlgorithm,
            ),
        ]
    }

    #[test]
    fn table() {
        let cases = cases();
        assert!(cases.len() >= 45, "only {} cases", cases.len());
        for (input, want) in &cases {
            let got = ImageRef::parse(input);
            match (want, &got) {
                (
                    Want::Ok {
                        registry,
                        repository,
                        tag,
                        digest,
                    },
                    Ok(r),
                ) => {
                    assert_eq!(r.registry(), registry.as_deref(), "registry of {input:?}");
                    assert_eq!(r.repository(), repository, "repository of {input:?}");
                    assert_eq!(r.tag(), tag.as_deref(), "tag of {input:?}");
                    assert_eq!(r.digest(), digest.as_deref(), "digest of {input:?}");
                    assert_eq!(r.raw(), input);
                }
                (Want::Err(kind_wanted), Err(e)) => {
                    assert_eq!(kind(e), *kind_wanted, "error for {input:?}: {e}");
                }
                _ => panic!("{input:?}: wanted {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn accepted_references_round_trip() {
        for (input, want) in cases() {
            if let Want::Ok { .. } = want {
                let r = ImageRef::parse(&input).unwrap();
                assert_eq!(r.to_string(), input);
                // Reassembling the parts must also give the input back.
                let mut rebuilt = r.name().to_owned();
                if let Some(tag) = r.tag() {
                    rebuilt.push(':');
                    rebuilt.push_str(tag);
                }
                if let Some(digest) = r.digest() {
                    rebuilt.push('@');
                    rebuilt.push_str(digest);
                }
                assert_eq!(rebuilt, input);
            }
        }
    }

    #[test]
    fn name_drops_tag_and_digest() {
        let d = sha256();
        let cases = [
            ("nginx".to_owned(), "nginx"),
            ("nginx:1.25".to_owned(), "nginx"),
            (format!("nginx:1.25@{d}"), "nginx"),
            ("localhost:5000/x:v1".to_owned(), "localhost:5000/x"),
            (
                "Registry.Example.COM/a/b:t".to_owned(),
                "Registry.Example.COM/a/b",
            ),
            (format!("[::1]:5000/a@{d}"), "[::1]:5000/a"),
        ];
        for (input, name) in &cases {
            assert_eq!(ImageRef::parse(input).unwrap().name(), *name, "{input:?}");
        }
    }

    #[test]
    fn with_digest_replaces_tag_and_digest() {
        let d = sha256();
        let other = format!("sha256:{}", "f".repeat(64));
        let r =
            ImageRef::parse("image-registry.openshift-image-registry.svc:5000/ns/app:v2").unwrap();
        assert_eq!(
            r.with_digest(&d),
            format!("image-registry.openshift-image-registry.svc:5000/ns/app@{d}")
        );
        let pinned = format!("Quay.io/org/app:v1@{other}");
        let r = ImageRef::parse(&pinned).unwrap();
        assert_eq!(r.with_digest(&d), format!("Quay.io/org/app@{d}"));
        assert_eq!(
            ImageRef::parse("app").unwrap().with_digest(&d),
            format!("app@{d}")
        );
        // The result must itself be a valid reference.
        let out = r.with_digest(&d);
        assert_eq!(ImageRef::parse(&out).unwrap().digest(), Some(d.as_str()));
    }

    #[test]
    fn has_registry_ignores_case() {
        let r = ImageRef::parse("Registry.Example.COM:5000/a/b").unwrap();
        assert!(r.has_registry("registry.example.com:5000"));
        assert!(r.has_registry("REGISTRY.EXAMPLE.COM:5000"));
        assert!(!r.has_registry("registry.example.com"));
        assert!(!r.has_registry("other.example.com:5000"));
        // No registry written means no match, even for Docker Hub.
        let hub = ImageRef::parse("library/nginx").unwrap();
        assert!(!hub.has_registry("docker.io"));
        assert!(!hub.has_registry(""));
    }

    #[test]
    fn hosts_compare_case_insensitively() {
        assert!(hosts_equal("quay.io", "Quay.IO"));
        assert!(hosts_equal("[::A]:5000", "[::a]:5000"));
        assert!(hosts_equal("", ""));
        assert!(!hosts_equal("quay.io", "quay.com"));
    }

    /// Every spelling of one host the reference grammar accepts and the
    /// runtimes pull from as that host, and the near misses they treat as
    /// other hosts; each pair is checked both ways round.
    #[test]
    fn host_spellings_the_runtimes_treat_as_one() {
        const SVC: &str = "image-registry.openshift-image-registry.svc";
        let same: &[(&str, &str, &str)] = &[
            ("svc:5000", "svc:05000", "Go reads the port as a number"),
            ("svc:5000", "svc:0000005000", "any number of leading zeros"),
            ("svc:5000", "SVC:05000", "case and zeros together"),
            ("svc:0", "svc:000", "port zero"),
            ("quay.io", "quay.io:443", "no port is HTTPS on 443"),
            ("quay.io", "quay.io:0443", "443 with a leading zero"),
            ("quay.io:443", "QUAY.IO", "443 written on the other side"),
            (
                "[::1]:5000",
                "[0:0:0:0:0:0:0:1]:5000",
                "IPv6 written in full",
            ),
            (
                "[::1]:5000",
                "[::0001]:05000",
                "IPv6 group with leading zeros",
            ),
            (
                "[fe80::a]",
                "[FE80:0::A]:443",
                "IPv6 case, zeros and port 443",
            ),
            (
                "127.0.0.1:5000",
                "[::ffff:7f00:1]:5000",
                "IPv4-mapped IPv6 dials IPv4",
            ),
            ("[::ffff:7f00:1]", "127.0.0.1:443", "IPv4-mapped, port 443"),
            ("127.0.0.1:5000", "127.0.0.01:5000", "inet_aton: octal 01"),
            ("127.0.0.1:5000", "0177.0.0.1:5000", "inet_aton: octal 0177"),
            ("127.0.0.1:5000", "0x7f.0.0.1:5000", "inet_aton: hex"),
            (
                "127.0.0.1:5000",
                "0X7F.0.0.0X1:5000",
                "inet_aton: hex, upper case",
            ),
            (
                "127.0.0.1:5000",
                "127.1:5000",
                "inet_aton: the last part fills three bytes",
            ),
            (
                "127.0.0.1:5000",
                "127.0.1:5000",
                "inet_aton: the last part fills two bytes",
            ),
            (
                "127.0.0.1:5000",
                "2130706433:5000",
                "inet_aton: one 32-bit number",
            ),
            (
                "10.0.0.1",
                "[::ffff:a00:1]:443",
                "mapped IPv6, inet_aton, port 443",
            ),
        ];
        for (a, b, why) in same {
            assert!(hosts_equal(a, b), "{a} vs {b}: {why}");
            assert!(hosts_equal(b, a), "{b} vs {a}: {why}");
        }
        let other: &[(&str, &str, &str)] = &[
            ("svc:5000", "svc:50000", "another port"),
            ("svc:5000", "svc", "no port is 443, not 5000"),
            ("svc:5000", "svc:500", "zeros are trimmed at the front only"),
            (
                "quay.io",
                "quay.io:80",
                "port 80 only for a host configured as plain HTTP",
            ),
            (
                "svc:5000",
                "svc.:5000",
                "a trailing dot is another name (and refused by the grammar)",
            ),
            (
                "image-registry.openshift-image-registry.svc:5000",
                "image-registry.openshift-image-registry.svc.cluster.local:5000",
                "another DNS name, even if it resolves to the same service",
            ),
            ("127.0.0.1:5000", "127.0.0.2:5000", "another address"),
            (
                "127.0.0.1:5000",
                "127.0.0.08:5000",
                "8 is no octal digit: a DNS name",
            ),
            (
                "127.0.0.1:5000",
                "127.0.0.256:5000",
                "a byte over 255: a DNS name",
            ),
            (
                "127.0.0.1:5000",
                "127.0.65536:5000",
                "a last part over 16 bits: a DNS name",
            ),
            ("127.0.0.1:5000", "1.2.3.4.5:5000", "five parts: a DNS name"),
            (
                "127.0.0.1:5000",
                "4294967296.1:5000",
                "over 32 bits: a DNS name",
            ),
            (
                "127.0.0.1:5000",
                "0x:5000",
                "hex without digits: a DNS name",
            ),
            ("[::1]:5000", "[::2]:5000", "another address"),
            (
                "[::ffff:7f00:1]",
                "[::7f00:1]",
                "IPv4-compatible is not IPv4-mapped",
            ),
            ("[::1]", "[::1]x", "not an IPv6 literal with a port"),
            ("svc:5000", "svc:5000x", "a port that is no number"),
            ("svc:", "svc:0", "an empty port is no number"),
            ("quay.io", "quay.com", "another name"),
        ];
        for (a, b, why) in other {
            assert!(!hosts_equal(a, b), "{a} vs {b}: {why}");
            assert!(!hosts_equal(b, a), "{b} vs {a}: {why}");
        }
        // The spellings above that the grammar refuses never reach the
        // comparison: the image is no reference, the runtime refuses it too.
        for refused in [
            format!("{SVC}.:5000/ns/name:1"),
            "[::ffff:127.0.0.1]:5000/ns/name:1".to_owned(),
            format!("{SVC}:+5000/ns/name:1"),
            format!("{SVC}:5000:5000/ns/name:1"),
        ] {
            assert!(ImageRef::parse(&refused).is_err(), "{refused}");
        }
        let image = format!("{SVC}:05000/ns/name:1");
        let r = ImageRef::parse(&image).unwrap();
        assert!(r.has_registry(&format!("{SVC}:5000")));
    }

    #[test]
    fn sha256_digest_check() {
        assert!(is_sha256_digest(&sha256()));
        assert!(!is_sha256_digest(HEX64));
        assert!(!is_sha256_digest("sha256:"));
        assert!(!is_sha256_digest(&format!("sha256:{HEX64}0")));
        assert!(!is_sha256_digest(&format!("sha256:{}", &HEX64[..63])));
        assert!(!is_sha256_digest(&format!(
            "sha256:{}",
            HEX64.to_ascii_uppercase()
        )));
        assert!(!is_sha256_digest(&format!("SHA256:{HEX64}")));
        assert!(!is_sha256_digest(&format!("sha512:{HEX64}")));
        assert!(!is_sha256_digest(&format!("@sha256:{HEX64}")));
        assert!(!is_sha256_digest(&format!("sha256:{}é", &HEX64[..62])));
    }

    #[test]
    fn error_messages_are_specific() {
        let msg = |s: &str| ImageRef::parse(s).unwrap_err().to_string();
        assert_eq!(msg(""), "image reference is empty");
        assert_eq!(
            msg("foo/Bar"),
            "repository name must be lowercase: \"foo/Bar\""
        );
        assert_eq!(msg("a//b"), "empty path component in \"a//b\"");
        assert_eq!(
            msg("nginx@sha256:12"),
            "digest \"sha256:12\" is invalid: sha256 needs 64 hex characters"
        );
        assert!(msg(&"a".repeat(256)).starts_with("repository name is longer than 255 characters"));
        assert!(msg("a:.x").starts_with("tag \".x\" is invalid: "));
        assert!(msg("a..b").starts_with("invalid reference format: "));
        // Control characters must not reach logs raw.
        assert_eq!(msg("a\nb"), "image reference \"a\\nb\" contains whitespace");
    }

    /// Every short string over an alphabet of the grammar's special characters
    /// must parse or fail without panicking, and whatever parses must be
    /// consistent with the input.
    #[test]
    fn never_panics_on_short_inputs() {
        let alphabet = [
            "a", "A", "0", ".", "_", "-", ":", "/", "@", "[", "]", " ", "é", "™",
        ];
        let mut inputs = vec![String::new()];
        let mut frontier = vec![String::new()];
        for _ in 0..4 {
            frontier = frontier
                .iter()
                .flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}")))
                .collect();
            inputs.extend(frontier.iter().cloned());
        }
        assert!(inputs.len() > 38_000);
        for input in &inputs {
            if let Ok(r) = ImageRef::parse(input) {
                assert_eq!(r.to_string(), *input);
                assert!(input.starts_with(r.name()));
                assert!(r.name().ends_with(r.repository()));
            }
        }
    }
}
