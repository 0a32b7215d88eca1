//! Registry I/O: the manifest digest a tag points at, through oci-client.
//!
//! oci-client caches credentials per registry host, first one wins, so one
//! client is kept per (host, credential, insecure) and never shared between
//! two credential sets.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use tokio::sync::Semaphore;

use crate::import::Reason;
use crate::pullsecret::{Credential, Keyring};
use crate::reference::ImageRef;

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
}

impl Failure {
    fn new(reason: Reason, message: impl Into<String>) -> Failure {
        Failure {
            reason,
            message: message.into(),
            retry_after: None,
        }
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct ClientKey {
    host: String,
    /// `None` is anonymous. The password is part of the key, never of a log.
    user: Option<(String, String)>,
    insecure: bool,
}

/// How long a registry that answered 429 without `Retry-After` is left alone.
const DEFAULT_BACKOFF: Duration = Duration::from_secs(60);
/// Clients kept before the cache is emptied (each holds a connection pool).
const MAX_CLIENTS: usize = 1024;

pub struct Registries {
    config: RegistryConfig,
    permits: Semaphore,
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

    /// The registry host an image is pulled from.
    pub fn host_of(&self, image: &str) -> Result<String, Failure> {
        Ok(self.reference(image)?.0.resolve_registry().to_owned())
    }

    fn reference(&self, image: &str) -> Result<(Reference, String), Failure> {
        let parsed = ImageRef::parse(image).map_err(|e| {
            Failure::new(
                Reason::InternalError,
                format!("{image:?} is not an image reference: {e}"),
            )
        })?;
        let registry = match parsed.registry() {
            Some(r) => r.to_owned(),
            None => self
                .config
                .search_registries
                .first()
                .cloned()
                .unwrap_or_else(|| "docker.io".to_owned()),
        };
        let docker_hub = matches!(
            registry.as_str(),
            "docker.io" | "index.docker.io" | "registry-1.docker.io"
        );
        let repository = if docker_hub && !parsed.repository().contains('/') {
            format!("library/{}", parsed.repository())
        } else {
            parsed.repository().to_owned()
        };
        let repo = format!("{registry}/{repository}");
        let reference = match (parsed.digest(), parsed.tag()) {
            (Some(d), _) => Reference::with_digest(registry, repository, d.to_owned()),
            (None, t) => {
                Reference::with_tag(registry, repository, t.unwrap_or("latest").to_owned())
            }
        };
        Ok((reference, repo))
    }

    /// The digest `image` points at: each matching credential in turn, then
    /// anonymous (also after an authentication failure).
    pub async fn digest(
        &self,
        image: &str,
        keyring: &Keyring,
        insecure: bool,
    ) -> Result<Found, Failure> {
        let (reference, repo) = self.reference(image)?;
        let host = reference.registry().to_owned();
        if let Some(left) = self.paused_for(&host) {
            return Err(Failure {
                reason: Reason::InternalError,
                message: format!(
                    "registry {host} asked to slow down (429); next attempt in {}s",
                    left.as_secs().max(1)
                ),
                retry_after: Some(left),
            });
        }
        let mut attempts: Vec<Option<Credential>> = keyring
            .lookup(&host, reference.repository())
            .into_iter()
            .map(Some)
            .collect();
        attempts.push(None);
        let mut first_auth_failure: Option<Failure> = None;
        for cred in attempts {
            match self.fetch(&reference, &host, cred, insecure).await {
                Ok(digest) => {
                    return Ok(Found {
                        reference: format!("{repo}@{digest}"),
                        digest,
                    });
                }
                Err(f) if matches!(f.reason, Reason::Unauthorized | Reason::Forbidden) => {
                    first_auth_failure.get_or_insert(f);
                }
                Err(mut f) => {
                    if f.retry_after.is_some() {
                        let after = self
                            .probe_retry_after(&reference, insecure)
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
        Err(first_auth_failure.unwrap_or_else(|| {
            Failure::new(
                Reason::InternalError,
                format!("no answer from registry {host}"),
            )
        }))
    }

    async fn fetch(
        &self,
        reference: &Reference,
        host: &str,
        cred: Option<Credential>,
        insecure: bool,
    ) -> Result<String, Failure> {
        let client = self.client(host, cred.as_ref(), insecure)?;
        let auth = match &cred {
            Some(c) => RegistryAuth::Basic(c.username.clone(), c.password.clone()),
            None => RegistryAuth::Anonymous,
        };
        let _permit =
            self.permits.acquire().await.map_err(|_| {
                Failure::new(Reason::InternalError, "registry client is shutting down")
            })?;
        let started = Instant::now();
        let answer = tokio::time::timeout(
            self.config.timeout,
            client.fetch_manifest_digest(reference, &auth),
        )
        .await;
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
            Ok(Ok(digest)) => Ok(digest),
            Ok(Err(e)) => Err(classify(&e, reference)),
        }
    }

    fn client(
        &self,
        host: &str,
        cred: Option<&Credential>,
        insecure: bool,
    ) -> Result<Arc<Client>, Failure> {
        let key = ClientKey {
            host: host.to_owned(),
            user: cred.map(|c| (c.username.clone(), c.password.clone())),
            insecure,
        };
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = clients.get(&key) {
            return Ok(c.clone());
        }
        if clients.len() >= MAX_CLIENTS {
            clients.clear();
        }
        let config = ClientConfig {
            // Insecure is per tag: plain HTTP for this host, and unverified TLS if it does speak TLS.
            protocol: if insecure {
                ClientProtocol::HttpsExcept(vec![host.to_owned()])
            } else {
                ClientProtocol::Https
            },
            accept_invalid_certificates: insecure,
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
        let scheme = if insecure { "http" } else { "https" };
        let url = format!(
            "{scheme}://{}/v2/{}/manifests/{}",
            reference.resolve_registry(),
            reference.repository(),
            reference.digest().or(reference.tag()).unwrap_or("latest")
        );
        let client = reqwest::Client::builder()
            .timeout(self.config.timeout)
            .danger_accept_invalid_certs(insecure)
            .build()
            .ok()?;
        let rsp = client.head(&url).send().await.ok()?;
        let value = rsp
            .headers()
            .get(reqwest::header::RETRY_AFTER)?
            .to_str()
            .ok()?;
        parse_retry_after(value)
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
/// without credentials in it.
fn classify(e: &OciDistributionError, reference: &Reference) -> Failure {
    let what = reference.whole();
    match e {
        OciDistributionError::AuthenticationFailure(m) => Failure::new(
            Reason::Unauthorized,
            format!("{what}: authentication failed: {m}"),
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
                        reason: Reason::InternalError,
                        message: format!("{what}: the registry is rate limiting (429): {text}"),
                        retry_after: Some(DEFAULT_BACKOFF),
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
        OciDistributionError::RequestError(err) => Failure::new(
            Reason::InternalError,
            format!("{what}: cannot reach the registry: {}", describe_error(err)),
        ),
        other => Failure::new(Reason::InternalError, format!("{what}: {other}")),
    }
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
    fn retry_after_values() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 120 "), Some(Duration::from_secs(120)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn short_docker_hub_names_get_library() {
        let r = Registries::new(RegistryConfig::default());
        let (reference, repo) = r.reference("nginx:1.27").expect("parses");
        assert_eq!(repo, "docker.io/library/nginx");
        assert_eq!(reference.tag(), Some("1.27"));
        let (_, repo) = r.reference("quay.io/x/app@sha256:1111111111111111111111111111111111111111111111111111111111111111").expect("parses");
        assert_eq!(repo, "quay.io/x/app");
        let (reference, repo) = r.reference("localhost:5000/team/app").expect("parses");
        assert_eq!(
            (repo.as_str(), reference.tag()),
            ("localhost:5000/team/app", Some("latest"))
        );
        assert!(r.reference("Not A Ref").is_err());
    }
}
