//! Self-signed certificates for the webhook: a private CA and a serving
//! certificate it signs, for clusters without cert-manager (`certs`
//! subcommand) and for local development (`make run`).

use std::fs;
use std::io::{self, Write};
use std::net::IpAddr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use rustls_pki_types::ServerName;

/// Common name of the generated certificate authority.
pub const CA_COMMON_NAME: &str = "imagestream-webhook-ca";

const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60);
const SERVING_VALIDITY: Duration = Duration::from_secs(365 * 24 * 60 * 60);
/// Certificates start being valid a little in the past so that a node whose
/// clock lags the machine that generated them still accepts them.
const BACKDATE: Duration = Duration::from_secs(60 * 60);

/// Why certificates could not be generated or written.
#[derive(Debug, thiserror::Error)]
pub enum CertsError {
    /// The service or namespace is not something a Kubernetes DNS name can hold.
    #[error(
        "{flag} {value:?} is not a valid dns label (lowercase letters, digits and '-', at most 63)"
    )]
    InvalidLabel {
        /// The flag that supplied the value.
        flag: &'static str,
        /// The rejected value.
        value: String,
    },
    /// An extra subject alternative name is neither an IP address nor a DNS name.
    #[error("--san {san:?} is neither an ip address nor a valid dns name")]
    InvalidSan {
        /// The rejected name.
        san: String,
    },
    /// rcgen failed to build a key or certificate.
    #[error("cannot generate the {what}: {source}")]
    Generate {
        /// Which object was being generated.
        what: &'static str,
        /// The underlying error.
        source: rcgen::Error,
    },
    /// The output directory could not be created.
    #[error("cannot create directory {path} (given by --out): {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A certificate or key file could not be written.
    #[error("cannot write {path} (check the directory given by --out): {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

/// A CA certificate and a serving certificate and key it signed, all PEM.
#[derive(Clone)]
pub struct GeneratedCerts {
    /// The CA certificate: goes into the webhook configuration's `caBundle`.
    pub ca_pem: String,
    /// The serving certificate alone (no chain): `tls.crt`.
    pub cert_pem: String,
    /// The serving certificate's PKCS#8 private key: `tls.key`.
    pub key_pem: String,
}

impl std::fmt::Debug for GeneratedCerts {
    // The private key must never end up in a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedCerts")
            .field("ca_pem", &self.ca_pem)
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// Generates a CA and a serving certificate for the webhook Service `service`
/// in `namespace`, valid for `S`, `S.NS`, `S.NS.svc`, `S.NS.svc.cluster.local`
/// and every entry of `extra_sans` (IP literals become IP SANs, anything else
/// a DNS SAN).
pub fn generate(
    service: &str,
    namespace: &str,
    extra_sans: &[String],
) -> Result<GeneratedCerts, CertsError> {
    check_label("--service", service)?;
    check_label("--namespace", namespace)?;
    let mut names = service_names(service, namespace);
    names.extend(extra_sans.iter().cloned());
    let common_name = format!("{service}.{namespace}.svc");
    generate_for(&common_name, &names)
}

/// Generates a CA and a serving certificate for local development, valid for
/// `localhost`, `127.0.0.1` and `::1`.
pub fn generate_dev() -> Result<GeneratedCerts, CertsError> {
    let names = ["localhost", "127.0.0.1", "::1"].map(String::from);
    generate_for("localhost", &names)
}

/// Writes `ca.crt`, `tls.crt` and `tls.key` (mode 0600) into `dir`, creating
/// it if needed.
///
/// Each file is written to a temporary name and renamed into place, so a
/// server already watching the directory never reads a half-written file.
pub fn write(dir: &Path, certs: &GeneratedCerts) -> Result<(), CertsError> {
    fs::create_dir_all(dir).map_err(|source| CertsError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })?;
    write_file(&dir.join("ca.crt"), &certs.ca_pem, 0o644)?;
    write_file(&dir.join("tls.crt"), &certs.cert_pem, 0o644)?;
    write_file(&dir.join("tls.key"), &certs.key_pem, 0o600)
}

/// The base64 of the CA certificate's PEM: the value of a webhook
/// configuration's `clientConfig.caBundle`.
pub fn ca_bundle(certs: &GeneratedCerts) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(certs.ca_pem.as_bytes())
}

/// The names the API server may use to reach a Service.
fn service_names(service: &str, namespace: &str) -> Vec<String> {
    vec![
        service.to_string(),
        format!("{service}.{namespace}"),
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.cluster.local"),
    ]
}

/// Kubernetes names of Services and namespaces are RFC 1123 labels; checking
/// here gives an error naming the flag instead of an opaque rcgen one.
fn check_label(flag: &'static str, value: &str) -> Result<(), CertsError> {
    let valid = !value.is_empty()
        && value.len() <= 63
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    match valid {
        true => Ok(()),
        false => Err(CertsError::InvalidLabel {
            flag,
            value: value.to_string(),
        }),
    }
}

fn generate_for(common_name: &str, names: &[String]) -> Result<GeneratedCerts, CertsError> {
    let sans = names
        .iter()
        .map(|name| san(name))
        .collect::<Result<Vec<_>, _>>()?;
    let now = unix_now();

    let ca_key = new_key("ca key")?;
    let ca = CertifiedIssuer::self_signed(ca_params(now), ca_key)
        .map_err(|source| generation_error("ca certificate", source))?;

    let key = new_key("serving key")?;
    let cert = serving_params(common_name, sans, now)
        .signed_by(&key, &ca)
        .map_err(|source| generation_error("serving certificate", source))?;

    Ok(GeneratedCerts {
        ca_pem: ca.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

fn ca_params(now: Duration) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, CA_COMMON_NAME);
    // Path length 0: this CA only ever signs the serving certificate.
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    set_validity(&mut params, now, CA_VALIDITY);
    params
}

fn serving_params(common_name: &str, sans: Vec<SanType>, now: Duration) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.subject_alt_names = sans;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    set_validity(&mut params, now, SERVING_VALIDITY);
    params
}

/// Sets notBefore/notAfter from a Unix time; rcgen's `time` types are built
/// from the epoch so this crate needs no date library of its own.
fn set_validity(params: &mut CertificateParams, now: Duration, validity: Duration) {
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    let start = now.saturating_sub(BACKDATE);
    params.not_before = epoch + start;
    params.not_after = epoch + now + validity;
}

fn unix_now() -> Duration {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    // Whole seconds: X.509 times have no fractions.
    Duration::from_secs(since_epoch.as_secs())
}

fn san(name: &str) -> Result<SanType, CertsError> {
    let invalid = || CertsError::InvalidSan {
        san: name.to_string(),
    };
    if let Ok(ip) = name.parse::<IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    match ServerName::try_from(name) {
        Ok(ServerName::DnsName(_)) => {
            let ia5 = name.try_into().map_err(|_| invalid())?;
            Ok(SanType::DnsName(ia5))
        }
        _ => Err(invalid()),
    }
}

fn new_key(what: &'static str) -> Result<KeyPair, CertsError> {
    KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|source| generation_error(what, source))
}

fn generation_error(what: &'static str, source: rcgen::Error) -> CertsError {
    CertsError::Generate { what, source }
}

fn write_file(path: &Path, contents: &str, mode: u32) -> Result<(), CertsError> {
    let write_error = |source| CertsError::Write {
        path: path.to_path_buf(),
        source,
    };
    let tmp = temp_path(path);
    let _ = fs::remove_file(&tmp);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(write_error)?;
    // The umask may have narrowed the mode; make it exact.
    let written = file
        .set_permissions(fs::Permissions::from_mode(mode))
        .and_then(|()| file.write_all(contents.as_bytes()))
        .and_then(|()| file.sync_all())
        .and_then(|()| fs::rename(&tmp, path));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written.map_err(write_error)
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::client::WebPkiServerVerifier;
    use rustls::client::danger::ServerCertVerifier;
    use rustls::{CertificateError, RootCertStore};
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, UnixTime};
    use std::sync::Arc;

    fn verifier(ca_pem: &str) -> Arc<WebPkiServerVerifier> {
        let mut roots = RootCertStore::empty();
        let ca = CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap();
        roots.add(ca).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .unwrap()
    }

    fn verify_at(certs: &GeneratedCerts, name: &str, at: UnixTime) -> Result<(), rustls::Error> {
        let cert = CertificateDer::from_pem_slice(certs.cert_pem.as_bytes()).unwrap();
        let name = ServerName::try_from(name.to_string()).unwrap();
        verifier(&certs.ca_pem)
            .verify_server_cert(&cert, &[], &name, &[], at)
            .map(|_| ())
    }

    fn verify(certs: &GeneratedCerts, name: &str) -> Result<(), rustls::Error> {
        verify_at(certs, name, UnixTime::now())
    }

    #[test]
    fn ca_verifies_serving_cert_for_every_service_name() {
        let extra = ["webhook.example.com".to_string(), "10.0.0.7".to_string()];
        let certs = generate("isw", "imagestream-system", &extra).unwrap();
        for name in [
            "isw",
            "isw.imagestream-system",
            "isw.imagestream-system.svc",
            "isw.imagestream-system.svc.cluster.local",
            "webhook.example.com",
            "10.0.0.7",
        ] {
            verify(&certs, name).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn names_outside_the_sans_are_rejected() {
        let certs = generate("isw", "ns", &[]).unwrap();
        let err = verify(&certs, "other.ns.svc").unwrap_err();
        assert!(
            matches!(
                err,
                rustls::Error::InvalidCertificate(CertificateError::NotValidForName)
                    | rustls::Error::InvalidCertificate(
                        CertificateError::NotValidForNameContext { .. }
                    )
            ),
            "{err:?}"
        );
    }

    #[test]
    fn another_ca_does_not_verify_the_serving_cert() {
        let a = generate_dev().unwrap();
        let b = generate_dev().unwrap();
        let mixed = GeneratedCerts {
            ca_pem: b.ca_pem,
            ..a
        };
        assert!(verify(&mixed, "localhost").is_err());
    }

    #[test]
    fn dev_cert_covers_localhost_and_loopback() {
        let certs = generate_dev().unwrap();
        for name in ["localhost", "127.0.0.1", "::1"] {
            verify(&certs, name).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn serving_cert_is_valid_for_a_year() {
        let certs = generate_dev().unwrap();
        let now = unix_now();
        let day = Duration::from_secs(24 * 60 * 60);
        let at = |d: Duration| UnixTime::since_unix_epoch(d);
        verify_at(&certs, "localhost", at(now + 364 * day)).unwrap();
        assert!(verify_at(&certs, "localhost", at(now + 366 * day)).is_err());
        // Backdated for clock skew, but not by a day.
        verify_at(&certs, "localhost", at(now - Duration::from_secs(30 * 60))).unwrap();
        assert!(verify_at(&certs, "localhost", at(now - day)).is_err());
    }

    #[test]
    fn invalid_names_name_the_flag() {
        let err = generate("Bad_Name", "ns", &[]).unwrap_err();
        assert!(err.to_string().contains("--service"), "{err}");
        let err = generate("svc", "-ns", &[]).unwrap_err();
        assert!(err.to_string().contains("--namespace"), "{err}");
        let err = generate("svc", "ns", &["not a name".to_string()]).unwrap_err();
        assert!(matches!(err, CertsError::InvalidSan { .. }), "{err}");
        assert!(err.to_string().contains("--san"), "{err}");
    }

    #[test]
    fn write_creates_files_with_private_key_mode() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("nested/certs");
        let certs = generate_dev().unwrap();
        write(&out, &certs).unwrap();
        // Writing again over existing files must work (re-running `certs`).
        write(&out, &certs).unwrap();

        let read = |name: &str| fs::read_to_string(out.join(name)).unwrap();
        assert_eq!(read("ca.crt"), certs.ca_pem);
        assert_eq!(read("tls.crt"), certs.cert_pem);
        assert_eq!(read("tls.key"), certs.key_pem);
        assert_eq!(read("tls.crt").matches("BEGIN CERTIFICATE").count(), 1);
        let mode = fs::metadata(out.join("tls.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let leftovers: Vec<_> = fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn write_error_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        fs::write(&file, "x").unwrap();
        let err = write(&file.join("sub"), &generate_dev().unwrap()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("--out") && msg.contains("sub"), "{msg}");
    }

    #[test]
    fn ca_bundle_is_base64_of_the_ca_pem() {
        let certs = GeneratedCerts {
            ca_pem: "foobar".to_string(),
            cert_pem: String::new(),
            key_pem: String::new(),
        };
        assert_eq!(ca_bundle(&certs), "Zm9vYmFy");
    }

    #[test]
    fn debug_redacts_the_key() {
        let certs = generate_dev().unwrap();
        let shown = format!("{certs:?}");
        assert!(!shown.contains("PRIVATE KEY"), "{shown}");
    }
}
