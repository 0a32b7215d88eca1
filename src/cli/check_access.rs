//! `check-access NS2/NAME --service-account NS/SA`: the access decision and why.

use std::process::ExitCode;

use imagestream_core::access::{AccessDecision, ServiceAccount};
use imagestream_core::stream::resolve::StreamName;
use imagestream_core::stream::snapshot::Snapshot;

use crate::access::AccessChecker;
use crate::cli::{EXIT_FAILED, bad};

/// `NS/NAME`, or `NAME` in `default_ns`.
pub fn parse_stream<'a>(s: &'a str, default_ns: Option<&'a str>) -> Result<StreamName<'a>, String> {
    let (namespace, name) = match s.split_once('/') {
        Some((ns, name)) => (ns, name),
        None => (
            default_ns.ok_or_else(|| {
                format!("stream {s:?} needs a namespace: write NS/NAME or pass -n NS")
            })?,
            s,
        ),
    };
    check_name("stream namespace", namespace)?;
    check_name("stream name", name)?;
    Ok(StreamName { namespace, name })
}

/// `NS/SA`.
pub fn parse_service_account(s: &str) -> Result<ServiceAccount<'_>, String> {
    let (namespace, name) = s
        .split_once('/')
        .ok_or_else(|| format!("--service-account {s:?} must be NS/NAME"))?;
    check_name("service account namespace", namespace)?;
    check_name("service account name", name)?;
    Ok(ServiceAccount { namespace, name })
}

/// A DNS-1123 subdomain, as Kubernetes names are.
fn check_name(what: &str, s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(format!("{what} {s:?} is not a valid Kubernetes name"))
    }
}

/// Prints the answer; exit 0 allowed, 1 denied, 2 bad input.
pub async fn run(
    access: &AccessChecker,
    snap: &Snapshot,
    stream: &str,
    service_account: &str,
    default_ns: Option<&str>,
) -> ExitCode {
    let parsed = parse_stream(stream, default_ns)
        .and_then(|st| Ok((st, parse_service_account(service_account)?)));
    let (stream, sa) = match parsed {
        Ok(p) => p,
        Err(e) => return bad(e).report(),
    };
    if snap.stream(stream.namespace, stream.name).is_none() {
        eprintln!(
            "note: imagestream {stream} does not exist (the answer is about the permission alone)"
        );
    }
    let answer = access.explain(snap, sa, stream).await;
    match answer.decision {
        AccessDecision::Allowed => {
            println!(
                "yes: service account {sa} may use imagestream {stream}: {}",
                answer.why
            );
            ExitCode::SUCCESS
        }
        AccessDecision::Denied(message) => {
            println!("no: {message}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        assert_eq!(
            parse_stream("shared/base", None),
            Ok(StreamName {
                namespace: "shared",
                name: "base"
            })
        );
        assert_eq!(
            parse_stream("base", Some("ns")),
            Ok(StreamName {
                namespace: "ns",
                name: "base"
            })
        );
        assert!(parse_stream("base", None).is_err());
        assert!(parse_stream("a/B", None).is_err());
        assert!(parse_stream("a/b/c", None).is_err());
        assert!(parse_stream("/b", None).is_err());
        assert!(parse_service_account("ns/sa").is_ok());
        assert!(parse_service_account("sa").is_err());
        assert!(parse_service_account("ns/").is_err());
        assert!(parse_service_account("ns/Sa").is_err());
    }
}
