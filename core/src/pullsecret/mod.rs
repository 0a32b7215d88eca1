//! Registry credentials from a namespace's image pull Secrets.
//!
//! Parsing and matching follow the kubelet's `credentialprovider` package
//! (`DockerConfigEntry` decoding, `BasicDockerKeyring.Add`/`Lookup` and
//! `URLsMatch`), so an image stream imports with the same credentials a pod
//! pulling the same image would get. Deliberate differences are noted where
//! they are made.
//!
//! The secrets belong to tenants, so everything here is pure data handling:
//! no credential helper (`credsStore`, `credHelpers`) is ever run, and nothing
//! derived from secret data reaches a warning or a `Debug`/`Display` output.

pub mod document;
mod matching;

use std::fmt;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use k8s_openapi::api::core::v1::Secret;
use serde_json::{Map, Value};

use matching::{RegistryKey, Target};

/// Secret type holding a `~/.docker/config.json` document (`{"auths": {...}}`).
pub const DOCKER_CONFIG_JSON_TYPE: &str = "kubernetes.io/dockerconfigjson";
/// Data key of a [`DOCKER_CONFIG_JSON_TYPE`] secret.
pub const DOCKER_CONFIG_JSON_KEY: &str = ".dockerconfigjson";
/// Secret type holding a legacy `~/.dockercfg` document (the bare registry map).
pub const DOCKERCFG_TYPE: &str = "kubernetes.io/dockercfg";
/// Data key of a [`DOCKERCFG_TYPE`] secret.
pub const DOCKERCFG_KEY: &str = ".dockercfg";
/// Annotation that keeps a pull secret out of image imports when set to `"true"`
/// (as in OpenShift).
pub const EXCLUDE_SECRET_ANNOTATION: &str = "openshift.io/image.excludeSecret";

/// Decodes the `auth` field. The kubelet accepts it padded or unpadded and, like
/// Go's decoder, ignores non-zero trailing bits.
const AUTH_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// A username/password pair for one registry.
///
/// `Debug` and `Display` never show the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// The registry user name.
    pub username: String,
    /// The password or token; never printed.
    pub password: String,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl fmt::Display for Credential {
    /// Shows the username only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.username)
    }
}

/// Credentials of one namespace, from its pull Secrets, in the kubelet's
/// matching order.
///
/// `Debug` shows registry keys and usernames, never passwords.
#[derive(Clone, Default)]
pub struct Keyring {
    /// Kept sorted most specific first, so a lookup is a filter.
    entries: Vec<Entry>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("entries", &self.entries)
            .finish()
    }
}

impl Keyring {
    /// Builds the keyring from a namespace's secrets.
    ///
    /// Reads every `kubernetes.io/dockerconfigjson` secret
    /// (`data[".dockerconfigjson"]`, `{"auths": {...}}`) and every
    /// `kubernetes.io/dockercfg` secret (`data[".dockercfg"]`, the bare map).
    /// Secrets annotated `openshift.io/image.excludeSecret: "true"` and secrets
    /// of other types are ignored. A malformed secret is skipped as a whole
    /// (the kubelet rejects it as a whole too) and reported in the returned
    /// warnings by name and reason, never by content.
    pub fn from_secrets<'a>(
        secrets: impl IntoIterator<Item = &'a Secret>,
    ) -> (Keyring, Vec<String>) {
        let mut entries = Vec::new();
        let mut warnings = Vec::new();
        for secret in secrets {
            if is_excluded(secret) {
                continue;
            }
            let parsed = match secret.type_.as_deref() {
                Some(DOCKER_CONFIG_JSON_TYPE) => {
                    parse_secret(secret, DOCKER_CONFIG_JSON_KEY, Format::ConfigJson)
                }
                Some(DOCKERCFG_TYPE) => parse_secret(secret, DOCKERCFG_KEY, Format::Dockercfg),
                _ => continue,
            };
            match parsed {
                Ok(found) => entries.extend(found),
                Err(reason) => {
                    let name = secret.metadata.name.as_deref().unwrap_or("<unnamed>");
                    warnings.push(format!("pull secret {name:?} skipped: {reason}"));
                }
            }
        }
        // Stable, so equally specific keys keep secret order, as the kubelet
        // keeps the order in which secrets were added for one key.
        entries.sort_by_key(|entry| entry.key.specificity());
        (Keyring { entries }, warnings)
    }

    /// Every credential whose key matches the image's registry and
    /// repository, best match first.
    ///
    /// `registry` is the host with its optional port (`docker.io` for an image
    /// named without a registry); `repository` is the path without tag or
    /// digest, normalised as the kubelet sees it (`library/nginx`, not
    /// `nginx`). A credential stored under several matching keys is returned
    /// once, at its best position. The importer tries each in turn, then
    /// anonymous access.
    pub fn lookup(&self, registry: &str, repository: &str) -> Vec<Credential> {
        let target = Target::new(registry, repository);
        let mut found: Vec<Credential> = Vec::new();
        for entry in &self.entries {
            if entry.key.matches(&target) && !found.contains(&entry.credential) {
                found.push(entry.credential.clone());
            }
        }
        found
    }

    /// Whether no pull secret contributed any credential.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// One credential under one normalised registry key.
#[derive(Clone)]
struct Entry {
    key: RegistryKey,
    credential: Credential,
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("registry", &self.key.display)
            .field("credential", &self.credential)
            .finish()
    }
}

/// Why a secret was skipped. The messages name fields, never values, because
/// the values are credentials (serde and base64 errors quote input, so they
/// are never passed through).
#[derive(Debug, thiserror::Error)]
enum SecretError {
    #[error("data key {0:?} is missing or empty")]
    MissingData(&'static str),
    #[error("data key {key:?} is not valid JSON (line {line}, column {column})")]
    InvalidJson {
        key: &'static str,
        line: usize,
        column: usize,
    },
    #[error("{0} is not a JSON object")]
    NotAnObject(&'static str),
    #[error("field {0:?} of a registry entry is not a string")]
    NotAString(&'static str),
    #[error("the \"auth\" field of a registry entry is not valid base64")]
    BadBase64,
    #[error("the \"auth\" field of a registry entry does not decode to UTF-8 text")]
    NotUtf8,
    #[error("the \"auth\" field of a registry entry does not decode to \"username:password\"")]
    NoColon,
}

/// The two document layouts a pull secret may carry.
#[derive(Clone, Copy)]
enum Format {
    /// `{"auths": {registry: entry}}`.
    ConfigJson,
    /// `{registry: entry}`.
    Dockercfg,
}

fn is_excluded(secret: &Secret) -> bool {
    secret
        .metadata
        .annotations
        .as_ref()
        .and_then(|annotations| annotations.get(EXCLUDE_SECRET_ANNOTATION))
        .is_some_and(|value| value == "true")
}

fn parse_secret(
    secret: &Secret,
    data_key: &'static str,
    format: Format,
) -> Result<Vec<Entry>, SecretError> {
    let bytes = secret
        .data
        .as_ref()
        .and_then(|data| data.get(data_key))
        .map(|bytes| bytes.0.as_slice())
        .filter(|bytes| !bytes.is_empty())
        .ok_or(SecretError::MissingData(data_key))?;
    // Parsing to a `Value` first means serde never sees a typed target, so no
    // error message can quote a credential.
    let document: Value =
        serde_json::from_slice(bytes).map_err(|err| SecretError::InvalidJson {
            key: data_key,
            line: err.line(),
            column: err.column(),
        })?;
    let registries = match (format, &document) {
        // Go decodes `null` into an empty config without complaint.
        (_, Value::Null) => return Ok(Vec::new()),
        (Format::ConfigJson, Value::Object(root)) => match field(root, "auths") {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Object(auths)) => auths,
            Some(_) => return Err(SecretError::NotAnObject("\"auths\"")),
        },
        (Format::Dockercfg, Value::Object(root)) => root,
        _ => return Err(SecretError::NotAnObject("the document")),
    };
    // Sorted by key so the order within one secret does not depend on
    // whether serde_json preserves document order in this build.
    let mut sorted: Vec<(&String, &Value)> = registries.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut entries = Vec::new();
    for (raw_key, value) in sorted {
        // Entries are decoded before keys are looked at: the kubelet fails
        // the whole document on a bad entry even when its key is unusable.
        let credential = parse_entry(value)?;
        // An unusable key is dropped alone, as the kubelet's `Add` does.
        if let (Some(credential), Some(key)) = (credential, RegistryKey::parse(raw_key)) {
            entries.push(Entry { key, credential });
        }
    }
    Ok(entries)
}

/// Decodes one registry entry; `None` when it carries no credential at all.
fn parse_entry(value: &Value) -> Result<Option<Credential>, SecretError> {
    let object = match value {
        Value::Null => return Ok(None),
        Value::Object(object) => object,
        _ => return Err(SecretError::NotAnObject("a registry entry")),
    };
    let auth = string_field(object, "auth")?;
    let username = string_field(object, "username")?;
    let password = string_field(object, "password")?;
    // Unused, but Go rejects a non-string email, so a secret the kubelet
    // refuses is refused here too.
    string_field(object, "email")?;
    // A non-empty `auth` replaces username and password, as in the kubelet.
    let (username, password) = if auth.is_empty() {
        (username.to_owned(), password.to_owned())
    } else {
        decode_auth(auth)?
    };
    if username.is_empty() && password.is_empty() {
        // Nothing to send; anonymous access is the importer's own fallback.
        return Ok(None);
    }
    Ok(Some(Credential { username, password }))
}

/// Looks a field up the way Go's `encoding/json` does: exact name first,
/// then any ASCII-case variant (`Username`, `AUTH`).
fn field<'v>(object: &'v Map<String, Value>, name: &str) -> Option<&'v Value> {
    object.get(name).or_else(|| {
        object
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    })
}

fn string_field<'v>(
    object: &'v Map<String, Value>,
    name: &'static str,
) -> Result<&'v str, SecretError> {
    match field(object, name) {
        None | Some(Value::Null) => Ok(""),
        Some(Value::String(text)) => Ok(text),
        Some(_) => Err(SecretError::NotAString(name)),
    }
}

/// Splits `base64(username:password)` at the first colon, since passwords may
/// contain colons but usernames may not.
fn decode_auth(auth: &str) -> Result<(String, String), SecretError> {
    // Go's base64 decoder skips line breaks, which tools wrapping long values
    // leave behind.
    let compact: String = auth.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
    let decoded = AUTH_BASE64
        .decode(compact.as_bytes())
        .map_err(|_| SecretError::BadBase64)?;
    let text = String::from_utf8(decoded).map_err(|_| SecretError::NotUtf8)?;
    let (username, password) = text.split_once(':').ok_or(SecretError::NoColon)?;
    Ok((username.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::document::*;
    use super::matching::*;
    use super::*;
    use k8s_openapi::ByteString;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use std::collections::BTreeMap;

    fn b64(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    fn b64_raw(text: &str) -> String {
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(text)
    }

    fn secret(name: &str, type_: &str, key: &str, data: &[u8]) -> Secret {
        Secret {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                ..ObjectMeta::default()
            },
            type_: Some(type_.to_owned()),
            data: Some(BTreeMap::from([(
                key.to_owned(),
                ByteString(data.to_vec()),
            )])),
            ..Secret::default()
        }
    }

    /// A `kubernetes.io/dockerconfigjson` secret around a bare registry map.
    fn cfgjson(name: &str, auths: &str) -> Secret {
        let doc = format!(r#"{{"auths": {auths}}}"#);
        secret(
            name,
            DOCKER_CONFIG_JSON_TYPE,
            DOCKER_CONFIG_JSON_KEY,
            doc.as_bytes(),
        )
    }

    fn dockercfg(name: &str, registries: &str) -> Secret {
        secret(name, DOCKERCFG_TYPE, DOCKERCFG_KEY, registries.as_bytes())
    }

    /// A registry map giving each key an `auth` of `user:pass`.
    fn auths(entries: &[(&str, &str, &str)]) -> String {
        let fields: Vec<String> = entries
            .iter()
            .map(|(key, user, pass)| {
                format!(
                    r#""{key}": {{"auth": "{}"}}"#,
                    b64(&format!("{user}:{pass}"))
                )
            })
            .collect();
        format!("{{{}}}", fields.join(", "))
    }

    fn one(key: &str) -> Vec<Secret> {
        vec![cfgjson("s", &auths(&[(key, "u", "p")]))]
    }

    fn annotated(mut secret: Secret, value: &str) -> Secret {
        secret.metadata.annotations = Some(BTreeMap::from([(
            EXCLUDE_SECRET_ANNOTATION.to_owned(),
            value.to_owned(),
        )]));
        secret
    }

    fn shown(credentials: &[Credential]) -> Vec<String> {
        credentials
            .iter()
            .map(|c| format!("{}:{}", c.username, c.password))
            .collect()
    }

    struct Case {
        name: &'static str,
        secrets: Vec<Secret>,
        registry: &'static str,
        repository: &'static str,
        want: &'static [&'static str],
    }

    fn case(
        name: &'static str,
        secrets: Vec<Secret>,
        registry: &'static str,
        repository: &'static str,
        want: &'static [&'static str],
    ) -> Case {
        Case {
            name,
            secrets,
            registry,
            repository,
            want,
        }
    }

    #[test]
    fn lookup_table() {
        let hub = one;
        #[rustfmt::skip]
        let cases = vec![
            // Hosts and ports.
            case("exact host", one("reg.io"), "reg.io", "team/app", &["u:p"]),
            case("other host", one("reg.io"), "other.io", "team/app", &[]),
            case("subdomain is another host", one("reg.io"), "eu.reg.io", "app", &[]),
            case("host:port", one("reg.io:5000"), "reg.io:5000", "app", &["u:p"]),
            case("key port, image none", one("reg.io:5000"), "reg.io", "app", &[]),
            case("image port, key none", one("reg.io"), "reg.io:5000", "app", &[]),
            case("port differs", one("reg.io:5000"), "reg.io:5001", "app", &[]),
            case("ip and port", one("10.0.0.1:5000"), "10.0.0.1:5000", "app", &["u:p"]),
            case("ipv6 and port", one("[::1]:5000"), "[::1]:5000", "app", &["u:p"]),
            // Paths.
            case("path prefix", one("reg.io/team"), "reg.io", "team/app", &["u:p"]),
            case("path equals repo", one("reg.io/team/app"), "reg.io", "team/app", &["u:p"]),
            case("path boundary", one("reg.io/team"), "reg.io", "teamx/app", &[]),
            case("path longer than repo", one("reg.io/team/app/x"), "reg.io", "team/app", &[]),
            case("path trailing slash", one("reg.io/team/"), "reg.io", "team/app", &["u:p"]),
            case("path is case sensitive", one("reg.io/Team"), "reg.io", "team/app", &[]),
            // Globs.
            case("glob one label", one("*.example.com"), "a.example.com", "app", &["u:p"]),
            case("glob not two labels", one("*.example.com"), "a.b.example.com", "app", &[]),
            case("glob not bare domain", one("*.example.com"), "example.com", "app", &[]),
            case("glob inside label", one("reg-*.example.com"), "reg-eu.example.com", "app", &["u:p"]),
            case("glob inside label no match", one("reg-*.example.com"), "hub.example.com", "app", &[]),
            case("? ends the host, as in Go", one("reg?.io"), "reg1.io", "app", &[]),
            case("glob class", one("reg[0-9].io"), "reg7.io", "app", &["u:p"]),
            case("glob class no match", one("reg[0-9].io"), "regx.io", "app", &[]),
            case("^ makes the key unusable", one("reg[^0-9].io"), "regx.io", "app", &[]),
            case("non-numeric port unusable", one("reg.io:http"), "reg.io:http", "app", &[]),
            case("glob with port", one("*.example.com:5000"), "a.example.com:5000", "app", &["u:p"]),
            case("glob with port mismatch", one("*.example.com:5000"), "a.example.com", "app", &[]),
            case("bad glob never matches", one("reg[.io"), "reg[.io", "app", &[]),
            // Schemes and API suffixes.
            case("https and /v1/", one("https://reg.io/v1/"), "reg.io", "app", &["u:p"]),
            case("http scheme", one("http://reg.io"), "reg.io", "app", &["u:p"]),
            case("upper-case scheme", one("HTTPS://reg.io/"), "reg.io", "app", &["u:p"]),
            case("/v2/ then path", one("https://reg.io/v2/team"), "reg.io", "team/app", &["u:p"]),
            case("/v1 without slash", one("https://reg.io/v1"), "reg.io", "app", &["u:p"]),
            case("/v1 is only a prefix segment", one("reg.io/v1x"), "reg.io", "app", &[]),
            case("user info dropped", one("https://me@reg.io"), "reg.io", "app", &["u:p"]),
            // Docker Hub spellings, both directions.
            case("legacy key, docker.io image", hub("https://index.docker.io/v1/"), "docker.io", "library/nginx", &["u:p"]),
            case("docker.io key, index image", hub("docker.io"), "index.docker.io", "library/nginx", &["u:p"]),
            case("index key, registry-1 image", hub("index.docker.io"), "registry-1.docker.io", "library/nginx", &["u:p"]),
            case("registry-1 key, docker.io image", hub("registry-1.docker.io"), "docker.io", "library/nginx", &["u:p"]),
            case("hub key with org", hub("docker.io/myorg"), "index.docker.io", "myorg/app", &["u:p"]),
            case("hub key other org", hub("docker.io/myorg"), "docker.io", "theirorg/app", &[]),
            case("hub key, other registry", hub("docker.io"), "quay.io", "library/nginx", &[]),
            case("hub with port is not hub", hub("docker.io"), "index.docker.io:443", "app", &[]),
            case("glob over hub spelling", hub("*.docker.io"), "docker.io", "library/nginx", &["u:p"]),
            // Case.
            case("upper-case key host", one("REG.Example.COM"), "reg.example.com", "app", &["u:p"]),
            case("upper-case image host", one("reg.io"), "REG.IO", "app", &["u:p"]),
            case("upper-case glob", one("*.EXAMPLE.com"), "A.example.COM", "app", &["u:p"]),
            // Ordering and several secrets.
            case(
                "longer path first",
                vec![cfgjson("s", &auths(&[("reg.io", "host", "p"), ("reg.io/team", "team", "p"), ("reg.io/team/app", "app", "p")]))],
                "reg.io", "team/app", &["app:p", "team:p", "host:p"],
            ),
            case(
                "literal before glob",
                vec![cfgjson("s", &auths(&[("*.example.com", "glob", "p"), ("a.example.com", "exact", "p")]))],
                "a.example.com", "app", &["exact:p", "glob:p"],
            ),
            case(
                "path beats literal host",
                vec![cfgjson("s", &auths(&[("*.example.com/team", "glob", "p"), ("a.example.com", "exact", "p")]))],
                "a.example.com", "team/app", &["glob:p", "exact:p"],
            ),
            case(
                "hub org before hub host",
                vec![cfgjson("s", &auths(&[("https://index.docker.io/v1/", "hub", "p"), ("docker.io/myorg", "org", "p")]))],
                "docker.io", "myorg/app", &["org:p", "hub:p"],
            ),
            case(
                "secrets in order for one key",
                vec![
                    cfgjson("first", &auths(&[("reg.io", "one", "p")])),
                    dockercfg("second", &auths(&[("reg.io", "two", "p")])),
                ],
                "reg.io", "app", &["one:p", "two:p"],
            ),
            case(
                "more specific key in later secret wins",
                vec![
                    cfgjson("first", &auths(&[("reg.io", "one", "p")])),
                    cfgjson("second", &auths(&[("reg.io/team", "two", "p")])),
                ],
                "reg.io", "team/app", &["two:p", "one:p"],
            ),
            case(
                "same credential returned once",
                vec![
                    cfgjson("first", &auths(&[("reg.io", "u", "p"), ("reg.io/team", "u", "p")])),
                    cfgjson("second", &auths(&[("https://reg.io/v1/", "u", "p")])),
                ],
                "reg.io", "team/app", &["u:p"],
            ),
            // Secret formats and entry fields.
            case("dockercfg bare map", vec![dockercfg("s", &auths(&[("reg.io", "u", "p")]))], "reg.io", "app", &["u:p"]),
            case(
                "username and password fields",
                vec![cfgjson("s", r#"{"reg.io": {"username": "bob", "password": "pw", "email": "b@x"}}"#)],
                "reg.io", "app", &["bob:pw"],
            ),
            case(
                "auth wins over fields",
                vec![cfgjson("s", &format!(r#"{{"reg.io": {{"username": "bob", "password": "pw", "auth": "{}"}}}}"#, b64("alice:secret")))],
                "reg.io", "app", &["alice:secret"],
            ),
            case(
                "empty auth falls back to fields",
                vec![cfgjson("s", r#"{"reg.io": {"username": "bob", "password": "pw", "auth": ""}}"#)],
                "reg.io", "app", &["bob:pw"],
            ),
            case(
                "field names in any case",
                vec![cfgjson("s", r#"{"reg.io": {"Username": "bob", "PASSWORD": "pw"}}"#)],
                "reg.io", "app", &["bob:pw"],
            ),
            case(
                "padded auth",
                vec![cfgjson("s", &format!(r#"{{"reg.io": {{"auth": "{}"}}}}"#, b64("user:pw")))],
                "reg.io", "app", &["user:pw"],
            ),
            case(
                "unpadded auth",
                vec![cfgjson("s", &format!(r#"{{"reg.io": {{"auth": "{}"}}}}"#, b64_raw("user:pw")))],
                "reg.io", "app", &["user:pw"],
            ),
            case(
                "wrapped auth",
                vec![cfgjson("s", &format!(r#"{{"reg.io": {{"auth": "{}\n"}}}}"#, b64("user:pw")))],
                "reg.io", "app", &["user:pw"],
            ),
            case(
                "colon in password",
                vec![cfgjson("s", &auths(&[("reg.io", "user", "pa:ss:word")]))],
                "reg.io", "app", &["user:pa:ss:word"],
            ),
            case(
                "entry without credentials skipped",
                vec![cfgjson("s", r#"{"reg.io": {"email": "x@y"}, "reg.io/team": null, "reg.io/team/app": {"auth": "Og=="}}"#)],
                "reg.io", "team/app", &[],
            ),
            case(
                "unusable key skipped, rest kept",
                vec![cfgjson("s", &auths(&[("https://", "none", "p"), ("bad host", "space", "p"), ("reg.io", "u", "p")]))],
                "reg.io", "app", &["u:p"],
            ),
            case(
                "excluded secret ignored",
                vec![annotated(cfgjson("s", &auths(&[("reg.io", "u", "p")])), "true")],
                "reg.io", "app", &[],
            ),
            case(
                "exclude annotation not true",
                vec![annotated(cfgjson("s", &auths(&[("reg.io", "u", "p")])), "false")],
                "reg.io", "app", &["u:p"],
            ),
            case(
                "other secret types ignored",
                vec![
                    secret("opaque", "Opaque", DOCKER_CONFIG_JSON_KEY, format!(r#"{{"auths": {}}}"#, auths(&[("reg.io", "u", "p")])).as_bytes()),
                    secret("untyped", "", DOCKER_CONFIG_JSON_KEY, format!(r#"{{"auths": {}}}"#, auths(&[("reg.io", "u", "p")])).as_bytes()),
                ],
                "reg.io", "app", &[],
            ),
            case(
                "config.json under the dockercfg type is a map with key auths",
                vec![dockercfg("s", &format!(r#"{{"auths": {}}}"#, auths(&[("reg.io", "u", "p")])))],
                "reg.io", "app", &[],
            ),
            case("empty keyring", vec![], "reg.io", "app", &[]),
            case("registry given with scheme", one("reg.io/team"), "https://reg.io", "/team/app/", &["u:p"]),
        ];
        assert!(cases.len() >= 30);
        for case in cases {
            let (keyring, warnings) = Keyring::from_secrets(&case.secrets);
            assert!(
                warnings.is_empty(),
                "{}: unexpected warnings {warnings:?}",
                case.name
            );
            let got = shown(&keyring.lookup(case.registry, case.repository));
            assert_eq!(got, case.want, "{}", case.name);
        }
    }

    #[test]
    fn malformed_secrets_are_skipped_with_a_warning() {
        const SECRET: &str = "TopSecret-42";
        let secret_auth = b64(&format!("user:{SECRET}"));
        #[rustfmt::skip]
        let cases: Vec<(&str, Secret, &str)> = vec![
            (
                "invalid json",
                secret("bad", DOCKER_CONFIG_JSON_TYPE, DOCKER_CONFIG_JSON_KEY, format!(r#"{{"auths": {{"reg.io": {{"password": "{SECRET}"#).as_bytes()),
                "not valid JSON",
            ),
            (
                "auths not an object",
                secret("bad", DOCKER_CONFIG_JSON_TYPE, DOCKER_CONFIG_JSON_KEY, format!(r#"{{"auths": "{SECRET}"}}"#).as_bytes()),
                "\"auths\" is not a JSON object",
            ),
            (
                "document not an object",
                dockercfg("bad", &format!(r#"["{SECRET}"]"#)),
                "the document is not a JSON object",
            ),
            (
                "entry not an object",
                cfgjson("bad", &format!(r#"{{"reg.io": "{SECRET}"}}"#)),
                "a registry entry is not a JSON object",
            ),
            (
                "password not a string",
                cfgjson("bad", &format!(r#"{{"reg.io": {{"username": "u", "password": ["{SECRET}"]}}}}"#)),
                "field \"password\" of a registry entry is not a string",
            ),
            (
                "bad base64",
                cfgjson("bad", &format!(r#"{{"reg.io": {{"auth": "{secret_auth}!!"}}, "ok.io": {{"auth": "{secret_auth}"}}}}"#)),
                "not valid base64",
            ),
            (
                "auth without colon",
                cfgjson("bad", &format!(r#"{{"reg.io": {{"auth": "{}"}}}}"#, b64(SECRET))),
                "does not decode to \"username:password\"",
            ),
            (
                "auth not utf-8",
                cfgjson("bad", &format!(r#"{{"reg.io": {{"auth": "{}"}}}}"#, base64::engine::general_purpose::STANDARD.encode([0xff, b':', 0xfe]))),
                "UTF-8",
            ),
            (
                "missing data key",
                secret("bad", DOCKER_CONFIG_JSON_TYPE, DOCKERCFG_KEY, b"{}"),
                "data key \".dockerconfigjson\" is missing or empty",
            ),
            (
                "empty data",
                secret("bad", DOCKERCFG_TYPE, DOCKERCFG_KEY, b""),
                "data key \".dockercfg\" is missing or empty",
            ),
        ];
        for (name, bad, reason) in cases {
            let good = cfgjson("good", &auths(&[("reg.io", "u", "p")]));
            let (keyring, warnings) = Keyring::from_secrets([&bad, &good]);
            assert_eq!(warnings.len(), 1, "{name}: {warnings:?}");
            let warning = &warnings[0];
            assert!(
                warning.starts_with("pull secret \"bad\" skipped: "),
                "{name}: {warning}"
            );
            assert!(warning.contains(reason), "{name}: {warning}");
            assert!(!warning.contains(SECRET), "{name}: {warning}");
            assert!(!warning.contains(&secret_auth), "{name}: {warning}");
            // The whole bad secret is dropped; the good one still serves.
            assert_eq!(shown(&keyring.lookup("reg.io", "app")), ["u:p"], "{name}");
            assert!(keyring.lookup("ok.io", "app").is_empty(), "{name}");
        }
    }

    /// Every piece of text that gives a credential away: the password, the
    /// `auth` value, the whole document and its base64.
    struct Leak {
        pieces: Vec<String>,
    }

    impl Leak {
        fn new(password: &str, document: &str) -> Leak {
            Leak {
                pieces: vec![
                    password.to_owned(),
                    b64(&format!("robot:{password}")),
                    b64(document),
                    b64_raw(document),
                ],
            }
        }

        /// No run of 8 characters of any piece appears in `text`.
        fn assert_absent(&self, text: &str, case: &str) {
            for piece in &self.pieces {
                let chars: Vec<char> = piece.chars().collect();
                for window in chars.windows(8) {
                    let run: String = window.iter().collect();
                    assert!(
                        !text.contains(&run),
                        "{case}: {run:?} of a credential in: {text}"
                    );
                }
            }
        }
    }

    /// What directory mode would print about a Secret file: the parse error,
    /// or the keyring's warnings.
    fn reported(yaml: Option<&str>, json: Option<Value>) -> String {
        let parsed = match (yaml, json) {
            (Some(text), _) => secret_from_yaml(text),
            (None, Some(doc)) => secret_from_value(doc),
            (None, None) => unreachable!(),
        };
        match parsed {
            Err(e) => e,
            Ok(secret) => Keyring::from_secrets([&secret]).1.join("\n"),
        }
    }

    #[test]
    fn secret_files_never_show_a_value() {
        const PASSWORD: &str = "TopSecretToken-42xyzzy";
        let document = format!(
            r#"{{"auths": {{"reg.io": {{"auth": "{}"}}}}}}"#,
            b64(&format!("robot:{PASSWORD}"))
        );
        let leak = Leak::new(PASSWORD, &document);
        let encoded = b64(&document);
        let truncated = b64(&document[..document.len() - 7]);
        let mut not_utf8 = document.clone().into_bytes();
        not_utf8.insert(30, 0xff);
        let not_utf8 = base64::engine::general_purpose::STANDARD.encode(&not_utf8);
        let head = "apiVersion: v1\nkind: Secret\nmetadata: {name: pull, namespace: team}\ntype: kubernetes.io/dockerconfigjson\n";
        #[rustfmt::skip]
        let yaml_cases: Vec<(&str, String, &[&str])> = vec![
            ("invalid base64: the JSON itself", format!("{head}data:\n  .dockerconfigjson: '{document}'\n"),
                &["Secret team/pull", "\".dockerconfigjson\"", "line 6, column 22", "not valid base64", "stringData"]),
            ("invalid base64: a bad character", format!("{head}data:\n  .dockerconfigjson: {encoded}!!\n"),
                &["Secret team/pull", "\".dockerconfigjson\"", "line 6, column 22", "not valid base64"]),
            ("invalid base64: cut short", format!("{head}data:\n  .dockerconfigjson: {}\n", &encoded[..encoded.len() - 3]),
                &["Secret team/pull", "\".dockerconfigjson\"", "not valid base64"]),
            ("valid base64 of truncated JSON", format!("{head}data:\n  .dockerconfigjson: {truncated}\n"),
                &["pull secret \"pull\" skipped", "\".dockerconfigjson\"", "not valid JSON (line 1, column"]),
            ("valid base64 of non-UTF-8", format!("{head}data:\n  .dockerconfigjson: {not_utf8}\n"),
                &["pull secret \"pull\" skipped", "not valid JSON"]),
            ("valid base64 of the auth alone", format!("{head}data:\n  .dockerconfigjson: {}\n", b64(&format!("robot:{PASSWORD}"))),
                &["pull secret \"pull\" skipped", "not valid JSON"]),
            ("data is a string", format!("{head}data: \"{encoded}\"\n"),
                &["Secret team/pull", "line 5, column 7", "expected"]),
            ("data value is a list", format!("{head}data:\n  .dockerconfigjson: [\"{encoded}\"]\n"),
                &["Secret team/pull", "line 6", "expected"]),
            ("stringData value is a map", format!("{head}stringData:\n  .dockerconfigjson: {document}\n"),
                &["Secret team/pull", "line 6", "expected"]),
            ("unclosed quote", format!("{head}data:\n  .dockerconfigjson: \"{encoded}\n  other: x\n"),
                &["Secret", "line 6", "unclosed quote"]),
            ("bad indentation", format!("{head}data:\n  .dockerconfigjson: {encoded}\n bad: {encoded}\n"),
                &["Secret", "line 7"]),
            ("duplicate key", format!("{head}data:\n  .dockerconfigjson: {encoded}\n  .dockerconfigjson: {encoded}\n"),
                &["Secret team/pull", "twice"]),
        ];
        for (case, text, wants) in &yaml_cases {
            let said = reported(Some(text), None);
            assert!(!said.is_empty(), "{case}: no error");
            for want in *wants {
                assert!(said.contains(want), "{case}: {want:?} missing in: {said}");
            }
            leak.assert_absent(&said, case);
        }
        #[rustfmt::skip]
        let json_cases: Vec<(&str, Value, &[&str])> = vec![
            ("json: invalid base64", serde_json::json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "pull", "namespace": "team"}, "type": DOCKER_CONFIG_JSON_TYPE, "data": {".dockerconfigjson": document}}),
                &["Secret team/pull", "\".dockerconfigjson\"", "not valid base64"]),
            ("json: data is a string", serde_json::json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "pull"}, "data": encoded}),
                &["Secret pull", "expected a map"]),
            ("json: stringData value is a map", serde_json::json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "pull"}, "stringData": {".dockerconfigjson": serde_json::from_str::<Value>(&document).unwrap()}}),
                &["Secret pull", "expected a string"]),
            ("json: valid base64 of truncated JSON", serde_json::json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "pull"}, "type": DOCKER_CONFIG_JSON_TYPE, "data": {".dockerconfigjson": truncated}}),
                &["pull secret \"pull\" skipped", "not valid JSON"]),
            ("json: wrong apiVersion", serde_json::json!({"apiVersion": "v2", "kind": "Secret", "metadata": {"name": "pull"}, "data": {".dockerconfigjson": encoded}}),
                &["Secret pull", "apiVersion \"v2\" is not v1"]),
        ];
        for (case, doc, wants) in json_cases {
            let said = reported(None, Some(doc));
            assert!(!said.is_empty(), "{case}: no error");
            for want in wants {
                assert!(said.contains(want), "{case}: {want:?} missing in: {said}");
            }
            leak.assert_absent(&said, case);
        }
    }

    #[test]
    fn secret_lists_keep_the_good_and_name_the_bad() {
        const PASSWORD: &str = "TopSecretToken-42xyzzy";
        let document = format!(
            r#"{{"auths": {}}}"#,
            auths(&[("reg.io", "robot", PASSWORD)])
        );
        let leak = Leak::new(PASSWORD, &document);
        let list = serde_json::json!({"kind": "SecretList", "apiVersion": "v1", "items": [
            {"metadata": {"name": "bad", "namespace": "team"}, "type": DOCKER_CONFIG_JSON_TYPE,
                "data": {".dockerconfigjson": document}},
            {"metadata": {"name": "good", "namespace": "team"}, "type": DOCKER_CONFIG_JSON_TYPE,
                "data": {".dockerconfigjson": b64(&document)}},
        ]});
        let (secrets, warnings) = secrets_from_list(&list.to_string()).expect("a list");
        assert_eq!(secrets.len(), 1);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0]
                .starts_with("Secret team/bad: data key \".dockerconfigjson\" is not valid base64"),
            "{warnings:?}"
        );
        leak.assert_absent(&warnings[0], "list item");
        let (keyring, _) = Keyring::from_secrets(&secrets);
        assert_eq!(
            shown(&keyring.lookup("reg.io", "app")),
            [format!("robot:{PASSWORD}")]
        );
        for not_a_list in [
            format!(r#"{{"items": "{}"}}"#, b64(&document)),
            format!(r#"{{"items": [{{"data": "{}"}}]"#, b64(&document)),
            b64(&document),
        ] {
            let said = match secrets_from_list(&not_a_list) {
                Err(e) => e,
                Ok((_, warnings)) => warnings.join("\n"),
            };
            assert!(!said.is_empty(), "{not_a_list}");
            leak.assert_absent(&said, &not_a_list);
        }
    }

    #[test]
    fn secret_files_read_as_the_api_server_stores_them() {
        let document = auths(&[("reg.io", "robot", "tok")]);
        let document = format!(r#"{{"auths": {document}}}"#);
        let head = "apiVersion: v1\nkind: Secret\nmetadata: {name: pull, namespace: team}\ntype: kubernetes.io/dockerconfigjson\n";
        let wrapped: String = b64(&document)
            .as_bytes()
            .chunks(20)
            .map(|c| format!("    {}\n", std::str::from_utf8(c).unwrap()))
            .collect();
        for (case, text) in [
            (
                "data",
                format!("{head}data:\n  .dockerconfigjson: {}\n", b64(&document)),
            ),
            (
                "stringData",
                format!("{head}stringData:\n  .dockerconfigjson: '{document}'\n"),
            ),
            (
                "stringData wins over data",
                format!(
                    "{head}data:\n  .dockerconfigjson: {}\nstringData:\n  .dockerconfigjson: '{document}'\n",
                    b64("{}")
                ),
            ),
            (
                "base64 wrapped over lines",
                format!("{head}data:\n  .dockerconfigjson: |\n{wrapped}"),
            ),
        ] {
            let secret = secret_from_yaml(&text).unwrap_or_else(|e| panic!("{case}: {e}"));
            assert_eq!(secret.metadata.namespace.as_deref(), Some("team"), "{case}");
            assert!(secret.string_data.is_none(), "{case}");
            let (keyring, warnings) = Keyring::from_secrets([&secret]);
            assert!(warnings.is_empty(), "{case}: {warnings:?}");
            assert_eq!(
                shown(&keyring.lookup("reg.io", "app")),
                ["robot:tok"],
                "{case}"
            );
        }
        // A null value is an empty one, as for the API server.
        let secret =
            secret_from_yaml(&format!("{head}data:\n  .dockerconfigjson:\n")).expect("parses");
        assert_eq!(Keyring::from_secrets([&secret]).1.len(), 1);
        let from_json = secret_from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "pull"},
            "type": DOCKER_CONFIG_JSON_TYPE, "data": {".dockerconfigjson": b64(&document)},
        }))
        .expect("parses");
        assert_eq!(
            shown(
                &Keyring::from_secrets([&from_json])
                    .0
                    .lookup("reg.io", "app")
            ),
            ["robot:tok"]
        );
    }

    #[test]
    fn null_documents_are_empty_not_malformed() {
        let secrets = [
            secret(
                "a",
                DOCKER_CONFIG_JSON_TYPE,
                DOCKER_CONFIG_JSON_KEY,
                b"null",
            ),
            secret("b", DOCKER_CONFIG_JSON_TYPE, DOCKER_CONFIG_JSON_KEY, b"{}"),
            secret(
                "c",
                DOCKER_CONFIG_JSON_TYPE,
                DOCKER_CONFIG_JSON_KEY,
                br#"{"auths": null}"#,
            ),
            secret("d", DOCKERCFG_TYPE, DOCKERCFG_KEY, b"{}"),
        ];
        let (keyring, warnings) = Keyring::from_secrets(&secrets);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert!(keyring.is_empty());
    }

    #[test]
    fn is_empty_and_default() {
        assert!(Keyring::default().is_empty());
        assert!(
            Keyring::default()
                .lookup("docker.io", "library/nginx")
                .is_empty()
        );
        let (keyring, _) = Keyring::from_secrets(&one("reg.io"));
        assert!(!keyring.is_empty());
        let excluded = [annotated(
            cfgjson("s", &auths(&[("reg.io", "u", "p")])),
            "true",
        )];
        assert!(Keyring::from_secrets(&excluded).0.is_empty());
    }

    #[test]
    fn secret_from_yaml_manifest() {
        let config = format!(
            r#"{{"auths": {}}}"#,
            auths(&[("quay.io/team", "robot", "tok")])
        );
        let yaml = format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: quay\n  namespace: ns\ntype: {DOCKER_CONFIG_JSON_TYPE}\ndata:\n  {DOCKER_CONFIG_JSON_KEY}: {}\n",
            b64(&config)
        );
        let secret: Secret = serde_saphyr::from_str(&yaml).expect("manifest parses");
        let (keyring, warnings) = Keyring::from_secrets([&secret]);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(shown(&keyring.lookup("quay.io", "team/app")), ["robot:tok"]);
        assert!(keyring.lookup("quay.io", "other/app").is_empty());
    }

    #[test]
    fn debug_and_display_redact_passwords() {
        const PASSWORD: &str = "hunter2-Sup3rS3cret";
        let credential = Credential {
            username: "alice".to_owned(),
            password: PASSWORD.to_owned(),
        };
        let debug = format!("{credential:?}");
        assert!(
            debug.contains("alice") && !debug.contains(PASSWORD),
            "{debug}"
        );
        let display = format!("{credential}");
        assert!(!display.contains(PASSWORD), "{display}");
        assert!(!format!("{credential:#?}").contains(PASSWORD));

        let secrets = [
            cfgjson("a", &auths(&[("reg.io/team", "alice", PASSWORD)])),
            dockercfg(
                "b",
                &format!(r#"{{"*.example.com": {{"username": "bob", "password": "{PASSWORD}"}}}}"#),
            ),
        ];
        let (keyring, warnings) = Keyring::from_secrets(&secrets);
        assert!(warnings.is_empty(), "{warnings:?}");
        for debug in [format!("{keyring:?}"), format!("{keyring:#?}")] {
            assert!(!debug.contains(PASSWORD), "{debug}");
            assert!(
                !debug.contains(&b64(&format!("alice:{PASSWORD}"))),
                "{debug}"
            );
            assert!(
                debug.contains("reg.io/team") && debug.contains("bob"),
                "{debug}"
            );
        }
    }

    #[test]
    fn glob_matching() {
        let cases: &[(&str, &str, bool)] = &[
            ("*", "", true),
            ("*", "abc", true),
            ("a*", "abc", true),
            ("*c", "abc", true),
            ("a*c", "ac", true),
            ("a*b*c", "aXbYbZc", true),
            ("a*b*c", "aXbYbZ", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("[a-c]x", "bx", true),
            ("[^a-c]x", "bx", false),
            ("[\\]]", "]", true),
            ("\\*", "*", true),
            ("\\*", "a", false),
        ];
        for &(pattern, text, want) in cases {
            let tokens = tokenize(pattern).expect("valid pattern");
            assert_eq!(glob_match(&tokens, text), want, "{pattern} vs {text}");
        }
        for bad in ["[", "[]", "[a-]", "a\\", "[a"] {
            assert!(tokenize(bad).is_none(), "{bad}");
        }
        // Many stars against a long label must finish promptly.
        let tokens = tokenize(&"*a".repeat(30)).expect("valid pattern");
        assert!(!glob_match(&tokens, &"a".repeat(29)));
    }
}
