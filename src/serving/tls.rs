//! TLS for the webhook listener: a rustls server configuration whose
//! certificate is re-read from disk when it is rotated, so cert-manager or a
//! Secret update takes effect without a restart and without dropping
//! established connections.

use std::fmt;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::sign::SigningKey;
use rustls::{ServerConfig, SupportedProtocolVersion};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

const CERT_FLAG: &str = "--tls-cert";
const KEY_FLAG: &str = "--tls-key";

/// Why the serving certificate or key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {path} (given by {flag}): {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The flag that named it.
        flag: &'static str,
        /// The underlying error.
        source: io::Error,
    },
    /// A file is not valid PEM.
    #[error("{path} (given by {flag}) is not valid pem: {source}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// The flag that named it.
        flag: &'static str,
        /// The underlying error.
        source: rustls_pki_types::pem::Error,
    },
    /// The certificate file holds no certificate.
    #[error("{path} (given by --tls-cert) holds no pem certificate")]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The key file holds no private key.
    #[error("{path} (given by --tls-key) holds no pem private key (pkcs#8, pkcs#1 or sec1)")]
    NoKey {
        /// The file.
        path: PathBuf,
    },
    /// The private key is of a kind rustls cannot sign with.
    #[error("{path} (given by --tls-key) holds an unsupported private key: {source}")]
    UnsupportedKey {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: rustls::Error,
    },
    /// The first certificate cannot be parsed.
    #[error("{path} (given by --tls-cert) holds an invalid certificate: {source}")]
    InvalidCertificate {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: rustls::Error,
    },
    /// The key is not the one the certificate was issued for.
    #[error(
        "private key {key} (given by --tls-key) does not match certificate {cert} (given by --tls-cert)"
    )]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
}

/// Installs rustls's ring provider as the process default.
///
/// Other rustls users in the process (the Kubernetes and registry clients)
/// panic at their first handshake when several providers are compiled in and
/// none is installed. Calling this more than once is harmless.
pub fn install_crypto_provider() {
    // Err only means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The rustls server configuration for the webhook: TLS 1.2 and 1.3, ALPN
/// `http/1.1` only (so the API server's Go client never tries HTTP/2), no
/// client authentication, certificates from `resolver`.
pub fn server_config(resolver: Arc<CertReloader>) -> Arc<ServerConfig> {
    static VERSIONS: &[&SupportedProtocolVersion] =
        &[&rustls::version::TLS13, &rustls::version::TLS12];
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(VERSIONS)
        // Only fails when the provider lacks suites for these versions, and
        // ring's default provider has both: a bug, not an input error.
        .expect("ring provider supports TLS 1.2 and 1.3")
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// The PEM bytes of a certificate/key pair as last read from disk.
#[derive(PartialEq, Eq)]
struct PemPair {
    cert: Vec<u8>,
    key: Vec<u8>,
}

/// Serves the certificate and key from two files and swaps in new ones when
/// the files' contents change.
///
/// Handshakes read the current pair lock-free through an [`ArcSwap`]; a
/// rotation affects only new handshakes, so established connections keep
/// working.
pub struct CertReloader {
    cert_path: PathBuf,
    key_path: PathBuf,
    current: ArcSwap<CertifiedKey>,
    /// The bytes behind `current`; the lock also serializes reloads so that
    /// comparing and swapping is atomic.
    served: Mutex<PemPair>,
}

impl fmt::Debug for CertReloader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertReloader")
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .finish_non_exhaustive()
    }
}

impl CertReloader {
    /// Loads the certificate chain from `cert_path` and the private key
    /// (PKCS#8, PKCS#1 or SEC1) from `key_path`, both PEM, and checks that
    /// they belong together.
    pub fn load(
        cert_path: impl Into<PathBuf>,
        key_path: impl Into<PathBuf>,
    ) -> Result<Arc<Self>, TlsError> {
        let cert_path = cert_path.into();
        let key_path = key_path.into();
        let pem = read_pair(&cert_path, &key_path)?;
        let key = parse_pair(&pem, &cert_path, &key_path)?;
        Ok(Arc::new(Self {
            cert_path,
            key_path,
            current: ArcSwap::from_pointee(key),
            served: Mutex::new(pem),
        }))
    }

    /// The certificate and key new handshakes are served with.
    pub fn certified_key(&self) -> Arc<CertifiedKey> {
        self.current.load_full()
    }

    /// Re-reads both files and swaps in the new pair if their contents
    /// changed. Returns whether it changed; on error the previous pair stays
    /// in service.
    pub fn reload_now(&self) -> Result<bool, TlsError> {
        let pem = read_pair(&self.cert_path, &self.key_path)?;
        self.apply(pem)
    }

    /// Polls the files every `interval` until `shutdown` resolves, reloading
    /// when their contents change.
    ///
    /// Contents are compared rather than watched with inotify or mtimes:
    /// Kubernetes Secret volumes rotate by swapping the `..data` symlink, so
    /// no event fires for the file itself and mtimes are those of the new
    /// target. A bad pair (say a rotation caught between writing the
    /// certificate and the key) is logged and retried at the next poll while
    /// the old pair keeps serving.
    pub async fn watch(self: Arc<Self>, interval: Duration, shutdown: impl Future) {
        let mut shutdown = pin!(shutdown);
        // tokio's interval panics on zero; a zero flag value means "poll often".
        let mut ticks = tokio::time::interval(interval.max(Duration::from_millis(1)));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick fires at once and the pair was just loaded.
        ticks.tick().await;
        let mut last_error = None;
        loop {
            tokio::select! {
                biased;
                _ = &mut shutdown => return,
                _ = ticks.tick() => {}
            }
            let result = match self.read_pair_async().await {
                Ok(pem) => self.apply(pem),
                Err(err) => Err(err),
            };
            last_error = self.log_poll(result, last_error);
        }
    }

    /// Logs one poll's outcome; a failure repeated poll after poll is logged
    /// as a warning only the first time. Returns the error text to compare
    /// the next poll against.
    fn log_poll(
        &self,
        result: Result<bool, TlsError>,
        last_error: Option<String>,
    ) -> Option<String> {
        let cert = self.cert_path.display();
        let key = self.key_path.display();
        match result {
            Ok(true) => {
                tracing::info!(%cert, %key, "reloaded tls certificate");
                None
            }
            Ok(false) => None,
            Err(err) => {
                let text = err.to_string();
                if last_error.as_deref() == Some(text.as_str()) {
                    tracing::debug!(%cert, %key, error = %text, "tls certificate still not reloadable");
                } else {
                    tracing::warn!(%cert, %key, error = %text, "keeping the previous tls certificate");
                }
                Some(text)
            }
        }
    }

    async fn read_pair_async(&self) -> Result<PemPair, TlsError> {
        let cert = tokio::fs::read(&self.cert_path)
            .await
            .map_err(|source| read_error(&self.cert_path, CERT_FLAG, source))?;
        let key = tokio::fs::read(&self.key_path)
            .await
            .map_err(|source| read_error(&self.key_path, KEY_FLAG, source))?;
        Ok(PemPair { cert, key })
    }

    /// Swaps in `pem` if it differs from what is served and is a valid pair.
    fn apply(&self, pem: PemPair) -> Result<bool, TlsError> {
        let mut served = self.served.lock().unwrap_or_else(PoisonError::into_inner);
        if *served == pem {
            return Ok(false);
        }
        let key = parse_pair(&pem, &self.cert_path, &self.key_path)?;
        self.current.store(Arc::new(key));
        *served = pem;
        Ok(true)
    }
}

impl ResolvesServerCert for CertReloader {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

fn read_pair(cert_path: &Path, key_path: &Path) -> Result<PemPair, TlsError> {
    let cert =
        std::fs::read(cert_path).map_err(|source| read_error(cert_path, CERT_FLAG, source))?;
    let key = std::fs::read(key_path).map_err(|source| read_error(key_path, KEY_FLAG, source))?;
    Ok(PemPair { cert, key })
}

fn read_error(path: &Path, flag: &'static str, source: io::Error) -> TlsError {
    TlsError::Read {
        path: path.to_path_buf(),
        flag,
        source,
    }
}

fn parse_pair(pem: &PemPair, cert_path: &Path, key_path: &Path) -> Result<CertifiedKey, TlsError> {
    let chain = parse_chain(&pem.cert, cert_path)?;
    let key = parse_key(&pem.key, key_path)?;
    let certified = CertifiedKey::new(chain, key);
    match certified.keys_match() {
        Ok(()) => Ok(certified),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(TlsError::KeyMismatch {
                cert: cert_path.to_path_buf(),
                key: key_path.to_path_buf(),
            })
        }
        // Same leniency as `CertifiedKey::from_der`: a key that cannot report
        // its public half cannot be compared (ring's keys always can).
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(certified),
        Err(source) => Err(TlsError::InvalidCertificate {
            path: cert_path.to_path_buf(),
            source,
        }),
    }
}

fn parse_chain(pem: &[u8], path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Pem {
            path: path.to_path_buf(),
            flag: CERT_FLAG,
            source,
        })?;
    match chain.is_empty() {
        true => Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        }),
        false => Ok(chain),
    }
}

fn parse_key(pem: &[u8], path: &Path) -> Result<Arc<dyn SigningKey>, TlsError> {
    let der = PrivateKeyDer::from_pem_slice(pem).map_err(|err| match err {
        rustls_pki_types::pem::Error::NoItemsFound => TlsError::NoKey {
            path: path.to_path_buf(),
        },
        source => TlsError::Pem {
            path: path.to_path_buf(),
            flag: KEY_FLAG,
            source,
        },
    })?;
    rustls::crypto::ring::sign::any_supported_type(&der).map_err(|source| {
        TlsError::UnsupportedKey {
            path: path.to_path_buf(),
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    #[test]
    fn missing_files_name_file_and_flag() {
        let dir = tempfile::tempdir().unwrap();
        let err = CertReloader::load(dir.path().join("nope.crt"), dir.path().join("nope.key"))
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("nope.crt") && msg.contains("--tls-cert"),
            "{msg}"
        );
    }

    #[test]
    fn empty_cert_file_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let cert = write(dir.path(), "tls.crt", "");
        let key = write(dir.path(), "tls.key", "");
        let err = CertReloader::load(cert, key).unwrap_err();
        assert!(matches!(err, TlsError::NoCertificate { .. }), "{err}");
        assert!(err.to_string().contains("--tls-cert"), "{err}");
    }

    #[test]
    fn garbage_key_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let err = parse_key(b"not pem at all\n", &dir.path().join("tls.key")).unwrap_err();
        assert!(matches!(err, TlsError::NoKey { .. }), "{err}");
        assert!(err.to_string().contains("--tls-key"), "{err}");
    }
}
