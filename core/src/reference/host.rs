//! Registry hosts: when two spellings (`host[:port]`) name one endpoint the
//! container runtimes pull from.

/// True when two registry hosts (`host[:port]`) are spellings of one endpoint
/// that the container runtimes pull from.
///
/// Each equivalence is one the runtimes (containerd, CRI-O, dockerd: Go's
/// `net` and `net/url` under distribution's reference grammar) really make,
/// so that no other spelling of a stream host reaches the node unchecked:
///
/// - DNS names ignore case: `Quay.IO` is `quay.io`.
/// - Ports are numbers: Go's dialer reads `05000` as 5000.
/// - No port is port 443: a registry not configured otherwise is spoken to
///   over HTTPS, so `host` and `host:443` are one endpoint. Port 80 is not
///   the same as no port, since only a host the node's runtime configuration
///   marks plain HTTP is reached there.
/// - IPv6 literals are addresses: `[0:0::1]` is `[::1]`, and an IPv4-mapped
///   one (`[::ffff:7f00:1]`) is its IPv4 address, which Go dials instead.
/// - IPv4 addresses in the legacy forms (`127.1`, `0177.0.0.1`,
///   `0x7f.0.0.1`) are addresses: Go's own resolver looks them up as DNS
///   names and finds nothing, but through glibc (Go's cgo resolver, chosen
///   whenever `nsswitch.conf` names a source Go cannot read) they are the
///   address `inet_aton` makes of them.
///
/// Spellings the grammar refuses (a trailing dot, an IPv4 address in
/// brackets) never name a registry at all; other names or addresses of the
/// same server (`svc.cluster.local`, the service IP) are other hosts.
pub fn hosts_equal(a: &str, b: &str) -> bool {
    if a.eq_ignore_ascii_case(b) {
        return true;
    }
    let (host_a, port_a) = split_host_port(a);
    let (host_b, port_b) = split_host_port(b);
    // Hosts first: for the usual pair, two different registries, that ends it.
    if !host_names_equal(host_a, host_b) {
        return false;
    }
    let (Some(port_a), Some(port_b)) = (port_number(port_a), port_number(port_b)) else {
        return false;
    };
    port_a == port_b
}

/// `host` (IPv6 literals keep their brackets) and the text after its `:`.
pub(super) fn split_host_port(s: &str) -> (&str, Option<&str>) {
    if s.starts_with('[') {
        return match s.find(']') {
            Some(end) => {
                let (host, rest) = s.split_at(end + 1);
                match rest.strip_prefix(':') {
                    Some(port) => (host, Some(port)),
                    None if rest.is_empty() => (host, None),
                    // Not `[addr]` or `[addr]:port`: compared as a whole.
                    None => (s, None),
                }
            }
            None => (s, None),
        };
    }
    match s.bytes().rposition(|b| b == b':') {
        Some(colon) => (&s[..colon], Some(&s[colon + 1..])),
        None => (s, None),
    }
}

/// The port as canonical decimal digits (`"443"` when none is written), or
/// `None` when it is no number, which then equals nothing.
pub(super) fn port_number(port: Option<&str>) -> Option<&str> {
    match port {
        None => Some("443"),
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
            let digits = p.trim_start_matches('0');
            Some(if digits.is_empty() { "0" } else { digits })
        }
        Some(_) => None,
    }
}

pub(super) fn host_names_equal(a: &str, b: &str) -> bool {
    if a.eq_ignore_ascii_case(b) {
        // The same DNS name, or the same literal as written.
        return true;
    }
    // Only an address literal (`[…]`, or IPv4 from a digit) has other spellings.
    let literal = |h: &str| h.starts_with(|c: char| c == '[' || c.is_ascii_digit());
    if !literal(a) || !literal(b) {
        return false;
    }
    match (ip_address(a), ip_address(b)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// The address a host literal names: `[IPv6]` (IPv4-mapped ones as their
/// IPv4 address) or IPv4 as glibc's `inet_aton` reads it. Any other host is
/// a DNS name.
pub(super) fn ip_address(host: &str) -> Option<std::net::IpAddr> {
    use std::net::{IpAddr, Ipv6Addr};
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        let v6: Ipv6Addr = inner.parse().ok()?;
        return Some(v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4));
    }
    inet_aton(host).map(IpAddr::V4)
}

/// IPv4 in `inet_aton`'s forms: one to four parts, each decimal, octal
/// (leading `0`) or hex (`0x`); the last part fills the bytes left.
pub(super) fn inet_aton(host: &str) -> Option<std::net::Ipv4Addr> {
    if !host.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let mut parts = [0u32; 4];
    let mut count = 0;
    for text in host.split('.') {
        let slot = parts.get_mut(count)?;
        let (digits, radix) = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
            Some(hex) => (hex, 16),
            None if text.len() > 1 && text.starts_with('0') => (&text[1..], 8),
            None => (text, 10),
        };
        if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
            return None;
        }
        *slot = u32::from_str_radix(digits, radix).ok()?;
        count += 1;
    }
    let (leading, last) = (&parts[..count - 1], parts[count - 1]);
    if leading.iter().any(|&p| p > 0xff) || (count > 1 && last >> (8 * (5 - count)) != 0) {
        return None;
    }
    let prefix = leading
        .iter()
        .enumerate()
        .fold(0u32, |acc, (i, &p)| acc | p << (24 - 8 * i));
    Some(std::net::Ipv4Addr::from(prefix | last))
}
