//! What a delivery presents to prove it knows the token: `Authorization:
//! Bearer TOKEN` (distribution, GitLab, Harbor), `?token=TOKEN` (Quay and
//! Docker Hub, which can set no header), or GitHub's HMAC signature. The
//! comparisons themselves are constant-time and done by the binary.

use std::borrow::Cow;

/// The shortest token accepted: 16 bytes of hex or base64 are guessed by no one.
pub const MIN_TOKEN_BYTES: usize = 16;
/// The longest: a header or URL of any registry holds it.
pub const MAX_TOKEN_BYTES: usize = 4096;

/// The token of the token file's text: surrounding whitespace (the newline
/// `echo` leaves) is dropped; the rest must be printable ASCII without
/// spaces, as headers and URLs carry it.
pub fn token_of_file(text: &str) -> Result<&str, String> {
    let token = text.trim();
    if token.len() < MIN_TOKEN_BYTES {
        return Err(format!(
            "holds {} bytes; a token has at least {MIN_TOKEN_BYTES} (make one with: openssl rand -hex 32)",
            token.len()
        ));
    }
    if token.len() > MAX_TOKEN_BYTES {
        return Err(format!("holds more than {MAX_TOKEN_BYTES} bytes"));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(
            "holds a space or a character that is not printable ASCII; a token is one word (make one with: openssl rand -hex 32)"
                .into(),
        );
    }
    Ok(token)
}

/// The token a request presents: the bearer token of its `Authorization`
/// header, else its `token` query parameter (percent-decoded; `+` is kept,
/// as a token has no spaces). `None` when it presents none.
pub fn presented_token<'a>(
    authorization: Option<&'a str>,
    query: Option<&'a str>,
) -> Option<Cow<'a, str>> {
    if let Some(value) = authorization {
        let (scheme, token) = value.trim().split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| Cow::Borrowed(token.trim()));
    }
    let raw = query?
        .split('&')
        .find_map(|pair| pair.strip_prefix("token="))?;
    percent_decode(raw)
}

/// `%XX` escapes decoded; `None` for a broken escape or bytes that are not UTF-8.
fn percent_decode(raw: &str) -> Option<Cow<'_, str>> {
    if !raw.contains('%') {
        return Some(Cow::Borrowed(raw));
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            out.push(hex_byte(bytes.get(i + 1..i + 3)?)?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

/// The 32 bytes of an `X-Hub-Signature-256` value (`sha256=` and 64 hex
/// digits, in either case); `None` for anything else.
pub fn github_signature(header: &str) -> Option<[u8; 32]> {
    let hex = header.trim().strip_prefix("sha256=")?;
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = hex_byte(hex.as_bytes().get(2 * i..2 * i + 2)?)?;
    }
    Some(out)
}

/// Two hex digits as a byte (`from_str_radix` would also take a sign).
fn hex_byte(two: &[u8]) -> Option<u8> {
    let digit = |b: u8| (b as char).to_digit(16);
    match two {
        [hi, lo] => Some((digit(*hi)? * 16 + digit(*lo)?) as u8),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_file_holds_one_printable_word() {
        assert_eq!(
            token_of_file("0123456789abcdef0123\n"),
            Ok("0123456789abcdef0123")
        );
        assert_eq!(
            token_of_file("  Zm9vYmFyYmF6cXV4+/=\r\n"),
            Ok("Zm9vYmFyYmF6cXV4+/=")
        );
        for bad in [
            "",
            "\n",
            "short",
            "0123456789 abcdef0123",
            "0123456789abcdéf0123",
        ] {
            assert!(token_of_file(bad).is_err(), "{bad:?}");
        }
        assert!(token_of_file(&"a".repeat(MAX_TOKEN_BYTES + 1)).is_err());
        let err = token_of_file("abc").expect_err("short");
        assert!(
            err.contains("openssl rand -hex 32") && !err.contains("abc"),
            "{err}"
        );
    }

    #[test]
    fn the_bearer_header_comes_first_then_the_query() {
        let t = |a, q| presented_token(a, q).map(Cow::into_owned);
        assert_eq!(t(Some("Bearer s3cret"), None), Some("s3cret".into()));
        assert_eq!(t(Some("bearer  s3cret "), None), Some("s3cret".into()));
        assert_eq!(
            t(Some("Basic czNjcmV0"), Some("token=s3cret")),
            None,
            "a header that is not a bearer token is no token"
        );
        assert_eq!(t(Some("s3cret"), None), None);
        assert_eq!(t(None, Some("a=1&token=s3cret&b=2")), Some("s3cret".into()));
        assert_eq!(t(None, Some("token=a%2Bb%2fc+d")), Some("a+b/c+d".into()));
        assert_eq!(t(None, Some("token=%zz")), None);
        assert_eq!(t(None, Some("token=%+7")), None);
        assert_eq!(t(None, Some("token=abc%4")), None);
        assert_eq!(t(None, Some("token=%e2")), None, "not UTF-8");
        assert_eq!(t(None, Some("tokens=x")), None);
        assert_eq!(t(None, None), None);
    }

    #[test]
    fn signatures_are_sha256_and_64_hex_digits() {
        // GitHub's documented test vector.
        let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        let bytes = github_signature(sig).expect("parses");
        assert_eq!(bytes[0], 0x75);
        assert_eq!(bytes[31], 0x17);
        assert_eq!(
            github_signature(&sig.to_uppercase().replace("SHA256=", "sha256=")),
            Some(bytes)
        );
        for bad in [
            "",
            "sha1=757107ea0eb2509fc211221cce984b8a37570b6d",
            &sig[..sig.len() - 1],
            &format!("{sig}0"),
            "sha256=+57107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
            "sha256=zz7107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
            "sha256=é57107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1",
        ] {
            assert_eq!(github_signature(bad), None, "{bad}");
        }
    }
}
