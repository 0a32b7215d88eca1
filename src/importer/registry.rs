//! Registry I/O: the manifest digest a tag points at, through oci-client.
//!
//! oci-client caches credentials per registry host, first one wins, so one
//! client is kept per (host, credential, transport) and never shared between
//! two credential sets.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use tokio::sync::Semaphore;

use imagestream_core::import::Reason;

use super::tls_errors::{explain_tls, tls_error};
use imagestream_core::pullsecret::{Credential, Keyring};

/// How the registry client behaves.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// Per request.
    pub timeout: Duration,
    /// Registry requests in flight at once, over every registry.
    pub max_concurrent: usize,
    /// PEM certificates trusted besides the system roots (`--registry-ca`).
    pub extra_roots: Vec<Vec<u8>>,
    /// Where names with no registry are looked up (`import.searchRegistries`).
    pub search_registries: Vec<String>,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            timeout: Duration::from_secs(10),
            max_concurrent: 8,
            extra_roots: Vec::new(),
            search_registries: vec!["docker.io".to_owned()],
        }
    }
}

/// An image found in a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// `REPO@DIGEST`, REPO as written in `from.name` (with the search registry
    /// and `library/` filled in for short Docker Hub names).
    pub reference: String,
    pub digest: String,
}

/// Why a lookup failed, in the importer's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub reason: Reason,
    pub message: String,
    /// The registry asked us to slow down (429) for this long.
    pub retry_after: Option<Duration>,
    /// A TLS request was answered in plain HTTP.
    pub(super) plain_http: bool,
    /// The registry has the image (not its Legacy platform): search no further.
    pub(super) found: bool,
}

impl Failure {
    pub(super) fn new(reason: Reason, message: impl Into<String>) -> Failure {
        Failure {
            reason,
            message: message.into(),
            retry_after: None,
            plain_http: false,
            found: false,
        }
    }
}

/// What is asked of a registry.
pub(super) enum Ask {
    /// The digest the reference points at (a HEAD, else a GET).
    Digest,
    /// The manifest itself, and its digest (a GET).
    Manifest,
    /// One page of the repository's tag list, after `last`.
    Tags { n: usize, last: Option<String> },
}

/// A registry's answer to an [`Ask`].
pub(super) enum Answer {
    Digest(String),
    Manifest(bytes::Bytes, String),
    Tags(Vec<String>),
}

/// Tags asked for per page of a tag list.
pub(super) const TAG_PAGE: usize = 1000;

/// Every manifest type an import takes, indexes and lists included.
const MANIFEST_TYPES: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

/// How a registry is spoken to.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Transport {
    /// TLS, verified against the system roots and `--registry-ca`.
    Verified,
    /// TLS without verification (`importPolicy.insecure`).
    Unverified,
    /// Plain HTTP (`importPolicy.insecure`, for a registry that answers in it).
    PlainHttp,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct ClientKey {
    host: String,
    /// `None` is anonymous. The password is part of the key, never of a log.
    user: Option<(String, String)>,
    transport: Transport,
}

/// How long a registry that answered 429 without `Retry-After` is left alone.
const DEFAULT_BACKOFF: Duration = Duration::from_secs(60);
/// Clients kept before the cache is emptied (each holds a connection pool).
const MAX_CLIENTS: usize = 1024;

pub struct Registries {
    pub(super) config: RegistryConfig,
    pub(super) permits: Semaphore,
    clients: Mutex<HashMap<ClientKey, Arc<Client>>>,
    /// Registry host → when it may be asked again (after a 429).
    paused: Mutex<HashMap<String, Instant>>,
    /// Observes the duration of every registry request.
    pub on_request: Option<Box<dyn Fn(Duration) + Send + Sync>>,
}

impl Registries {
    pub fn new(config: RegistryConfig) -> Registries {
        Registries {
            permits: Semaphore::new(config.max_concurrent.max(1)),
            config,
            clients: Mutex::new(HashMap::new()),
            paused: Mutex::new(HashMap::new()),
            on_request: None,
        }
    }

    /// One question to one registry: each matching credential in turn, then
    /// anonymous (also after an authentication failure).
    pub(super) async fn ask(
        &self,
        reference: &Reference,
        namespace: &str,
        keyring: &Keyring,
        insecure: bool,
        ask: &Ask,
    ) -> Result<Answer, Failure> {
        let host = reference.registry().to_owned();
        if let Some(left) = self.paused_for(&host) {
            return Err(Failure {
                retry_after: Some(left),
                ..Failure::new(
                    Reason::InternalError,
                    format!(
                        "registry {host} asked to slow down (429); next attempt in {}s",
                        left.as_secs().max(1)
                    ),
                )
            });
        }
        let mut attempts: Vec<Option<Credential>> = keyring
            .lookup(&host, reference.repository())
            .into_iter()
            .map(Some)
            .collect();
        let had_credentials = !attempts.is_empty();
        attempts.push(None);
        let mut first_auth_failure: Option<Failure> = None;
        for cred in attempts {
            match self.fetch(reference, &host, cred, insecure, ask).await {
                Ok(answer) => return Ok(answer),
                Err(f) if matches!(f.reason, Reason::Unauthorized | Reason::Forbidden) => {
                    first_auth_failure.get_or_insert(f);
                }
                Err(mut f) => {
                    if f.retry_after.is_some() {
                        let after = self
                            .probe_retry_after(reference, insecure)
                            .await
                            .unwrap_or(DEFAULT_BACKOFF);
                        f.retry_after = Some(after);
                        f.message = format!(
                            "{}; pausing imports from {host} for {}s",
                            f.message,
                            after.as_secs()
                        );
                        self.pause(&host, after);
                    }
                    // An anonymous NotFound after a refused credential is the registry hiding a private repository.
                    return Err(match (&f.reason, first_auth_failure) {
                        (Reason::NotFound, Some(auth)) => auth,
                        _ => f,
                    });
                }
            }
        }
        Err(match first_auth_failure {
            Some(f) if f.reason == Reason::Unauthorized && !had_credentials => Failure::new(
                Reason::Unauthorized,
                format!(
                    "{}: the registry asks for credentials (401), and no kubernetes.io/dockerconfigjson (or kubernetes.io/dockercfg) Secret in namespace {namespace} has credentials for {host}; create one with: kubectl create secret docker-registry NAME --docker-server={host} --docker-username=USER --docker-password=PASSWORD -n {namespace}",
                    reference.whole()
                ),
            ),
            Some(f) => f,
            None => Failure::new(
                Reason::InternalError,
                format!("no answer from registry {host}"),
            ),
        })
    }

    /// One attempt with one credential. An insecure tag is fetched as
    /// Docker fetches from an insecure registry: TLS without verification,
    /// then plain HTTP when the registry answers in it.
    async fn fetch(
        &self,
        reference: &Reference,
        host: &str,
        cred: Option<Credential>,
        insecure: bool,
        ask: &Ask,
    ) -> Result<Answer, Failure> {
        if !insecure {
            return self
                .fetch_over(reference, host, cred.as_ref(), Transport::Verified, ask)
                .await;
        }
        match self
            .fetch_over(reference, host, cred.as_ref(), Transport::Unverified, ask)
            .await
        {
            Err(f) if f.plain_http => {
                self.fetch_over(reference, host, cred.as_ref(), Transport::PlainHttp, ask)
                    .await
            }
            answer => answer,
        }
    }

    async fn fetch_over(
        &self,
        reference: &Reference,
        host: &str,
        cred: Option<&Credential>,
        transport: Transport,
        ask: &Ask,
    ) -> Result<Answer, Failure> {
        let client = self.client(host, cred, transport)?;
        let auth = match cred {
            Some(c) => RegistryAuth::Basic(c.username.clone(), c.password.clone()),
            None => RegistryAuth::Anonymous,
        };
        let request = async {
            match ask {
                Ask::Digest => client
                    .fetch_manifest_digest(reference, &auth)
                    .await
                    .map(Answer::Digest),
                Ask::Manifest => client
                    .pull_manifest_raw(reference, &auth, MANIFEST_TYPES)
                    .await
                    .map(|(body, digest)| Answer::Manifest(body, digest)),
                Ask::Tags { n, last } => client
                    .list_tags(reference, &auth, Some(*n), last.as_deref())
                    .await
                    .map(|page| Answer::Tags(page.tags)),
            }
        };
        self.limited(host, reference, cred, request).await
    }

    /// One registry request: a permit of the shared limit, the timeout, the
    /// latency observed, and errors without the credential in them.
    pub(super) async fn limited<T>(
        &self,
        host: &str,
        reference: &Reference,
        cred: Option<&Credential>,
        request: impl Future<Output = Result<T, oci_client::errors::OciDistributionError>>,
    ) -> Result<T, Failure> {
        let _permit =
            self.permits.acquire().await.map_err(|_| {
                Failure::new(Reason::InternalError, "registry client is shutting down")
            })?;
        let started = Instant::now();
        let answer = tokio::time::timeout(self.config.timeout, request).await;
        if let Some(observe) = &self.on_request {
            observe(started.elapsed());
        }
        match answer {
            Err(_) => Err(Failure::new(
                Reason::InternalError,
                format!(
                    "registry {host} did not answer within {}s",
                    self.config.timeout.as_secs()
                ),
            )),
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => {
                let mut f = classify(&e, reference);
                // A registry (or a proxy before it) may echo what it was sent.
                if let Some(c) = cred {
                    f.message = scrub(&f.message, c);
                }
                Err(f)
            }
        }
    }

    pub(super) fn client(
        &self,
        host: &str,
        cred: Option<&Credential>,
        transport: Transport,
    ) -> Result<Arc<Client>, Failure> {
        let key = ClientKey {
            host: host.to_owned(),
            user: cred.map(|c| (c.username.clone(), c.password.clone())),
            transport,
        };
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = clients.get(&key) {
            return Ok(c.clone());
        }
        if clients.len() >= MAX_CLIENTS {
            clients.clear();
        }
        let config = ClientConfig {
            // Insecure is per tag, so only this host is spoken to in plain HTTP.
            protocol: match transport {
                Transport::PlainHttp => ClientProtocol::HttpsExcept(vec![host.to_owned()]),
                Transport::Verified | Transport::Unverified => ClientProtocol::Https,
            },
            accept_invalid_certificates: transport != Transport::Verified,
            extra_root_certificates: self
                .config
                .extra_roots
                .iter()
                .map(|pem| Certificate {
                    encoding: CertificateEncoding::Pem,
                    data: pem.clone(),
                })
                .collect(),
            read_timeout: Some(self.config.timeout),
            connect_timeout: Some(self.config.timeout),
            user_agent: concat!("imagestream-webhook/", env!("CARGO_PKG_VERSION")),
            ..ClientConfig::default()
        };
        let client = Arc::new(Client::try_from(config).map_err(|e| {
            Failure::new(
                Reason::InternalError,
                format!("cannot build a registry client: {e}"),
            )
        })?);
        clients.insert(key, client.clone());
        Ok(client)
    }

    /// oci-client keeps only the body of an error answer, not its headers, so
    /// after a 429 one plain HEAD of the same manifest reads the registry's
    /// `Retry-After` (seconds or an HTTP date).
    async fn probe_retry_after(&self, reference: &Reference, insecure: bool) -> Option<Duration> {
        let url = |scheme: &str| {
            format!(
                "{scheme}://{}/v2/{}/manifests/{}",
                reference.resolve_registry(),
                reference.repository(),
                reference.digest().or(reference.tag()).unwrap_or("latest")
            )
        };
        let client = reqwest::Client::builder()
            .timeout(self.config.timeout)
            .danger_accept_invalid_certs(insecure)
            .build()
            .ok()?;
        // As the fetch went: TLS, and for an insecure tag plain HTTP after it.
        let rsp = match client.head(url("https")).send().await {
            Ok(rsp) => rsp,
            Err(_) if insecure => client.head(url("http")).send().await.ok()?,
            Err(_) => return None,
        };
        let value = rsp
            .headers()
            .get(reqwest::header::RETRY_AFTER)?
            .to_str()
            .ok()?;
        parse_retry_after(value)
    }

    /// Where names with no registry are looked up (`import.searchRegistries`).
    pub(super) fn search_registries(&self) -> &[String] {
        &self.config.search_registries
    }

    fn paused_for(&self, host: &str) -> Option<Duration> {
        let paused = self.paused.lock().unwrap_or_else(|e| e.into_inner());
        paused
            .get(host)
            .and_then(|until| until.checked_duration_since(Instant::now()))
    }

    fn pause(&self, host: &str, after: Duration) {
        let mut paused = self.paused.lock().unwrap_or_else(|e| e.into_inner());
        paused.insert(host.to_owned(), Instant::now() + after);
    }
}

/// Turns oci-client's error into an import failure reason and a message
/// that says what to do, without credentials in it.
fn classify(e: &OciDistributionError, reference: &Reference) -> Failure {
    let what = reference.whole();
    let host = reference.resolve_registry();
    match e {
        OciDistributionError::AuthenticationFailure(m) => Failure::new(
            Reason::Unauthorized,
            format!("{what}: authentication failed: {}", first_line(m)),
        ),
        OciDistributionError::UnauthorizedError { .. } => Failure::new(
            Reason::Unauthorized,
            format!("{what}: the registry refused the credentials (401)"),
        ),
        OciDistributionError::ImageManifestNotFoundError(_) => {
            Failure::new(Reason::NotFound, format!("{what}: manifest unknown"))
        }
        OciDistributionError::RegistryError { envelope, .. } => {
            let code = envelope.errors.first().map(|e| &e.code);
            let text = envelope
                .errors
                .iter()
                .map(|e| e.message.clone())
                .filter(|m| !m.is_empty())
                .collect::<Vec<_>>()
                .join("; ");
            let reason = match code {
                Some(
                    OciErrorCode::ManifestUnknown
                    | OciErrorCode::NameUnknown
                    | OciErrorCode::BlobUnknown,
                ) => Reason::NotFound,
                Some(OciErrorCode::Unauthorized) => Reason::Unauthorized,
                Some(OciErrorCode::Denied) => Reason::Forbidden,
                Some(OciErrorCode::Toomanyrequests) => {
                    return Failure {
                        retry_after: Some(DEFAULT_BACKOFF),
                        ..Failure::new(
                            Reason::InternalError,
                            format!("{what}: the registry is rate limiting (429): {text}"),
                        )
                    };
                }
                _ => Reason::InternalError,
            };
            Failure::new(
                reason,
                format!(
                    "{what}: {}",
                    if text.is_empty() {
                        envelope.to_string()
                    } else {
                        text
                    }
                ),
            )
        }
        OciDistributionError::ServerError { code, message, .. } => {
            let reason = match code {
                401 => Reason::Unauthorized,
                403 => Reason::Forbidden,
                404 => Reason::NotFound,
                _ => Reason::InternalError,
            };
            let mut f = Failure::new(
                reason,
                format!(
                    "{what}: the registry answered {code}: {}",
                    first_line(message)
                ),
            );
            if *code == 429 {
                f.retry_after = Some(DEFAULT_BACKOFF);
            }
            f
        }
        OciDistributionError::RequestError(err) => match tls_error(err) {
            Some(tls) => Failure {
                plain_http: matches!(
                    tls,
                    rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType)
                ),
                ..Failure::new(
                    Reason::InternalError,
                    format!("{what}: {}", explain_tls(tls, host)),
                )
            },
            None => Failure::new(
                Reason::InternalError,
                format!("{what}: cannot reach the registry: {}", describe_error(err)),
            ),
        },
        other => Failure::new(Reason::InternalError, format!("{what}: {other}")),
    }
}

/// `message` without the password or the basic-auth value of `cred`.
fn scrub(message: &str, cred: &Credential) -> String {
    use base64::Engine as _;
    let pair = format!("{}:{}", cred.username, cred.password);
    let mut out = message.to_owned();
    for secret in [
        base64::engine::general_purpose::STANDARD.encode(&pair),
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(&pair),
        pair,
        cred.password.clone(),
    ] {
        // A password of a few characters would match ordinary words.
        if secret.len() >= 4 {
            out = out.replace(&secret, "<redacted>");
        }
    }
    out
}

fn first_line(s: &str) -> &str {
    let line = s.lines().next().unwrap_or_default();
    match line.char_indices().nth(200) {
        Some((i, _)) => &line[..i],
        None => line,
    }
}

/// `Retry-After` as seconds or an HTTP date.
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    let left = when
        .as_second()
        .saturating_sub(jiff::Timestamp::now().as_second());
    Some(Duration::from_secs(u64::try_from(left).unwrap_or(0)))
}

fn describe_error(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_never_carry_the_credential_sent() {
        use base64::Engine as _;
        let cred = Credential {
            username: "robot".to_owned(),
            password: "t0ken:with-colon".to_owned(),
        };
        let basic = base64::engine::general_purpose::STANDARD.encode("robot:t0ken:with-colon");
        let echoed = format!(
            "bad request: Authorization: Basic {basic}; user robot:t0ken:with-colon; password t0ken:with-colon"
        );
        let out = scrub(&echoed, &cred);
        assert!(!out.contains("t0ken"), "{out}");
        assert!(!out.contains(&basic[..basic.len() - 2]), "{out}");
        assert!(
            out.contains("bad request") && out.contains("<redacted>"),
            "{out}"
        );
        // A tiny password is not hunted for in ordinary words.
        let short = Credential {
            username: "u".to_owned(),
            password: "a".to_owned(),
        };
        assert_eq!(scrub("a manifest", &short), "a manifest");
    }

    #[test]
    fn retry_after_values() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 120 "), Some(Duration::from_secs(120)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
