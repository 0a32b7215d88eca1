//! Image reference parsing on arbitrary UTF-8 (and on arbitrary bytes made
//! UTF-8 lossily): never a panic; an accepted reference is the input byte for
//! byte, re-parses to the same parts, and pins to a valid reference.

#![no_main]

use libfuzzer_sys::fuzz_target;

use imagestream_core::reference::ImageRef;

fn parts<'a>(r: &ImageRef<'a>) -> (Option<&'a str>, &'a str, Option<&'a str>, Option<&'a str>) {
    (r.registry(), r.repository(), r.tag(), r.digest())
}

fn check(input: &str) {
    let r = match ImageRef::parse(input) {
        Ok(r) => r,
        Err(e) => {
            let msg = e.to_string();
            assert!(
                !msg.chars().any(char::is_control),
                "raw control character in {msg:?}"
            );
            return;
        }
    };
    let shown = r.to_string();
    assert_eq!(shown, input);
    let again = ImageRef::parse(&shown).expect("an accepted reference re-parses");
    assert_eq!(parts(&again), parts(&r));

    let mut rebuilt = String::new();
    if let Some(registry) = r.registry() {
        rebuilt.push_str(registry);
        rebuilt.push('/');
    }
    rebuilt.push_str(r.repository());
    assert_eq!(r.name(), rebuilt);
    if let Some(tag) = r.tag() {
        rebuilt.push(':');
        rebuilt.push_str(tag);
    }
    if let Some(digest) = r.digest() {
        rebuilt.push('@');
        rebuilt.push_str(digest);
    }
    assert_eq!(rebuilt, input, "parts do not add up to the input");
    assert!(r.name().len() <= 255);

    let digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let pinned = r.with_digest(digest);
    let p = ImageRef::parse(&pinned).expect("a pinned reference parses");
    assert_eq!(
        parts(&p),
        (r.registry(), r.repository(), None, Some(digest)),
        "{pinned}"
    );
}

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        check(s);
    }
    check(&String::from_utf8_lossy(data));
});
