//! What a TLS failure with a registry means, and the flag that fixes it.

/// The rustls error behind a request error. reqwest and hyper wrap it in
/// `io::Error`s (one in another), whose `source` skips the error they hold,
/// so the chain is walked through their inner errors by hand.
pub(super) fn tls_error<'e>(
    err: &'e (dyn std::error::Error + 'static),
) -> Option<&'e rustls::Error> {
    let mut current = Some(err);
    // Bounded: a chain is a handful of links.
    for _ in 0..16 {
        let e = current?;
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        current = match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    None
}

/// What a TLS failure means for the user, and the flag that fixes it.
pub(super) fn explain_tls(tls: &rustls::Error, host: &str) -> String {
    use rustls::{CertificateError as C, Error as E, InvalidMessage};
    match tls {
        E::InvalidMessage(InvalidMessage::InvalidContentType) => format!(
            "the registry {host} answered in plain HTTP, not HTTPS: if it serves plain HTTP only, set importPolicy.insecure: true on the tag, or pass --insecure to import-image or tag"
        ),
        E::InvalidCertificate(C::UnknownIssuer) => format!(
            "the TLS certificate of registry {host} is signed by a CA that is not trusted: pass that CA's certificate (PEM) with --registry-ca FILE"
        ),
        E::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => format!(
            "the TLS certificate of registry {host} is not valid for the name {host}: name the registry as its certificate does"
        ),
        E::InvalidCertificate(
            C::Expired | C::ExpiredContext { .. } | C::NotValidYet | C::NotValidYetContext { .. },
        ) => format!(
            "the TLS certificate of registry {host} is expired or not yet valid ({tls}): renew it, or check this machine's clock"
        ),
        other => format!("TLS with registry {host} failed: {other}"),
    }
}
