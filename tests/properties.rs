//! Property tests, run by `make test` like every other test:
//!
//! - image references: parsing never panics; what it accepts it gives back
//!   byte for byte, in parts that fit distribution's grammar; what the grammar
//!   generates it accepts with exactly the generated parts; registry hosts
//!   compare equal in every spelling the runtimes treat as one host;
//! - admission, in process: random workloads over random snapshots get the
//!   answer the README's rules give (modelled here independently of the
//!   code), patches only `replace` image fields with what `resolve` says, a
//!   second pass has nothing left to do, and `/validate` agrees with `/mutate`;
//! - the real server over TLS: arbitrary bytes, arbitrary JSON and broken
//!   reviews get 200 with a well-formed AdmissionReview, 400 or 413, and the
//!   server is still alive and correct afterwards.
//!
//! Case counts keep the whole file to a few seconds in a debug build; set
//! `PROPTEST_CASES=N` to run N cases of every property instead. A failure
//! prints the shrunk input.

use std::fmt::Debug;

use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestCaseResult, TestRunner};
use serde_json::{Value, json};

/// `default_cases`, unless `PROPTEST_CASES` says otherwise. No regression
/// files are written: the failure message carries the shrunk input.
fn config(default_cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Runs `test` on values of `strategy`; panics with the shrunk input on failure.
fn check_all<S>(config: ProptestConfig, strategy: &S, test: impl Fn(S::Value) -> TestCaseResult)
where
    S: Strategy,
    S::Value: Debug,
{
    let mut runner = TestRunner::new(config);
    if let Err(e) = runner.run(strategy, test) {
        panic!("{e}");
    }
}

fn fail(msg: impl Into<String>) -> TestCaseError {
    TestCaseError::fail(msg.into())
}

/// What every AdmissionReview answer must look like, whoever sent what.
mod answer {
    use base64::Engine as _;
    use serde_json::Value;

    pub const POD_SPEC_POINTERS: [&str; 3] = [
        "/spec",
        "/spec/template/spec",
        "/spec/jobTemplate/spec/template/spec",
    ];
    pub const LIST_FIELDS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];

    /// True for `POD_SPEC/LIST/INDEX/image` and `POD_SPEC/volumes/INDEX/image/reference`
    /// under `pod_spec`.
    pub fn is_image_path(path: &str, pod_spec: &str) -> bool {
        let Some(rest) = path
            .strip_prefix(pod_spec)
            .and_then(|r| r.strip_prefix('/'))
        else {
            return false;
        };
        let parts: Vec<&str> = rest.split('/').collect();
        let index_ok = |i: &str| {
            !i.is_empty()
                && i.bytes().all(|b| b.is_ascii_digit())
                && (i == "0" || !i.starts_with('0'))
        };
        match parts[..] {
            [list, i, "image"] => LIST_FIELDS.contains(&list) && index_ok(i),
            ["volumes", i, "image", "reference"] => index_ok(i),
            _ => false,
        }
    }

    /// The decoded JSONPatch of an answer (empty without one), checked to be
    /// `replace` operations of a string value on image fields only.
    pub fn patch(answer: &Value) -> Result<Vec<(String, String)>, String> {
        let rsp = &answer["response"];
        let Some(encoded) = rsp.get("patch") else {
            if rsp.get("patchType").is_some() {
                return Err(format!("patchType without a patch: {answer}"));
            }
            return Ok(Vec::new());
        };
        if rsp["patchType"] != "JSONPatch" {
            return Err(format!("patch without patchType JSONPatch: {answer}"));
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().ok_or("patch is not a string")?)
            .map_err(|e| format!("patch is not base64: {e}"))?;
        let ops: Vec<Value> =
            serde_json::from_slice(&raw).map_err(|e| format!("patch is not a JSON array: {e}"))?;
        if ops.is_empty() {
            return Err("an empty patch is sent instead of none".into());
        }
        let mut out = Vec::new();
        for op in ops {
            let path = op["path"].as_str().unwrap_or_default();
            if op["op"] != "replace"
                || !POD_SPEC_POINTERS.iter().any(|p| is_image_path(path, p))
                || !op["value"].is_string()
                || op.as_object().map_or(0, |o| o.len()) != 3
            {
                return Err(format!(
                    "patch operation other than a replace of an image field: {op}"
                ));
            }
            if out.iter().any(|(p, _)| p == path) {
                return Err(format!("patch replaces {path} twice"));
            }
            out.push((
                path.to_owned(),
                op["value"].as_str().unwrap_or_default().to_owned(),
            ));
        }
        Ok(out)
    }

    /// The patch operations exactly as sent (empty without a patch).
    pub fn patch_ops(answer: &Value) -> Vec<Value> {
        answer["response"]["patch"]
            .as_str()
            .and_then(|p| base64::engine::general_purpose::STANDARD.decode(p).ok())
            .and_then(|raw| serde_json::from_slice(&raw).ok())
            .unwrap_or_default()
    }

    /// Checks the envelope of a 200 answer to `request` (the parsed body, when
    /// it was JSON): the uid and apiVersion echoed, `allowed`, a denial with
    /// 403 and no patch, a patch only of image replaces.
    pub fn well_formed(answer: &Value, request: Option<&Value>) -> Result<(), String> {
        let api_version = answer["apiVersion"].as_str().unwrap_or_default();
        if !matches!(
            api_version,
            "admission.k8s.io/v1" | "admission.k8s.io/v1beta1"
        ) {
            return Err(format!("answer has apiVersion {api_version:?}: {answer}"));
        }
        if answer["kind"] != "AdmissionReview" {
            return Err(format!("answer is not an AdmissionReview: {answer}"));
        }
        let rsp = &answer["response"];
        let Some(uid) = rsp["uid"].as_str() else {
            return Err(format!("answer has no response.uid: {answer}"));
        };
        if let Some(request) = request {
            if let Some(want) = request["request"]["uid"].as_str()
                && want != uid
            {
                return Err(format!("uid {want:?} answered as {uid:?}"));
            }
            if let Some(want @ ("admission.k8s.io/v1" | "admission.k8s.io/v1beta1")) =
                request["apiVersion"].as_str()
                && want != api_version
            {
                return Err(format!("apiVersion {want} answered as {api_version}"));
            }
        }
        let Some(allowed) = rsp["allowed"].as_bool() else {
            return Err(format!("answer has no boolean response.allowed: {answer}"));
        };
        let patch = patch(answer)?;
        if !allowed {
            if !patch.is_empty() || rsp.get("patch").is_some() {
                return Err(format!("a denial carries a patch: {answer}"));
            }
            if rsp["status"]["code"] != 403 || !rsp["status"]["message"].is_string() {
                return Err(format!(
                    "a denial without status 403 and a message: {answer}"
                ));
            }
        }
        if let Some(audit) = rsp.get("auditAnnotations") {
            for (key, value) in audit.as_object().ok_or("auditAnnotations is not a map")? {
                let parsed: Option<Value> =
                    value.as_str().and_then(|s| serde_json::from_str(s).ok());
                if !parsed.as_ref().is_some_and(Value::is_array) {
                    return Err(format!(
                        "audit annotation {key} is not a JSON array: {value}"
                    ));
                }
            }
        }
        Ok(())
    }
}

mod references {
    use super::*;
    use imagestream_core::reference::{ImageRef, RefError, is_sha256_digest};

    /// The parts a grammar-generated reference is made of.
    #[derive(Debug, Clone)]
    pub struct Parts {
        pub registry: Option<String>,
        pub path: Vec<String>,
        pub tag: Option<String>,
        pub digest: Option<String>,
    }

    impl Parts {
        pub fn repository(&self) -> String {
            self.path.join("/")
        }

        pub fn name(&self) -> String {
            match &self.registry {
                Some(r) => format!("{r}/{}", self.repository()),
                None => self.repository(),
            }
        }

        pub fn render(&self) -> String {
            let mut s = self.name();
            if let Some(t) = &self.tag {
                s.push(':');
                s.push_str(t);
            }
            if let Some(d) = &self.digest {
                s.push('@');
                s.push_str(d);
            }
            s
        }
    }

    /// distribution's rule: a first component is a host when it has `.` or
    /// `:`, is `localhost`, or has an upper-case letter.
    fn looks_like_host(component: &str) -> bool {
        component.contains(['.', ':'])
            || component == "localhost"
            || component.bytes().any(|b| b.is_ascii_uppercase())
    }

    fn is_lower_hex(s: &str, len: usize) -> bool {
        s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    }

    // ---- the grammar, as strategies ----

    fn separator() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(".".to_owned()),
            Just("_".to_owned()),
            Just("__".to_owned()),
            "-{1,3}",
        ]
    }

    /// `[a-z0-9]+ (separator [a-z0-9]+)*`; now and then a long one, so that
    /// names cross the 255-byte limit.
    fn path_component() -> impl Strategy<Value = String> {
        prop_oneof![
            12 => ("[a-z0-9]{1,6}", prop::collection::vec((separator(), "[a-z0-9]{1,4}"), 0..3))
                .prop_map(|(head, rest)| {
                    let mut s = head;
                    for (sep, part) in rest {
                        s.push_str(&sep);
                        s.push_str(&part);
                    }
                    s
                }),
            1 => "[a-z0-9]{60,130}",
        ]
    }

    fn host_label() -> impl Strategy<Value = String> {
        "[A-Za-z0-9]([A-Za-z0-9-]{0,6}[A-Za-z0-9])?"
    }

    fn with_port(host: String, port: Option<String>) -> String {
        match port {
            Some(p) => format!("{host}:{p}"),
            None => host,
        }
    }

    fn registry() -> impl Strategy<Value = String> {
        let port = || prop::option::of("[0-9]{1,5}");
        prop_oneof![
            (prop::collection::vec(host_label(), 2..4), port())
                .prop_map(|(labels, p)| with_port(labels.join("."), p)),
            (host_label(), "[0-9]{1,5}").prop_map(|(h, p)| format!("{h}:{p}")),
            port().prop_map(|p| with_port("localhost".into(), p)),
            ("[A-Za-z0-9]{0,3}[A-Z][A-Za-z0-9]{0,3}", port()).prop_map(|(h, p)| with_port(h, p)),
            // An IPv6 address always has a ':', which is what makes it read as a host.
            ("[0-9a-fA-F]{0,4}:[0-9a-fA-F:]{0,12}", port())
                .prop_map(|(a, p)| with_port(format!("[{a}]"), p)),
        ]
    }

    fn tag() -> impl Strategy<Value = String> {
        prop_oneof![
            8 => "[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}",
            1 => "[A-Za-z0-9_][A-Za-z0-9_.-]{120,127}",
        ]
    }

    fn digest() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => "sha256:[0-9a-f]{64}",
            1 => "sha384:[0-9a-f]{96}",
            1 => "sha512:[0-9a-f]{128}",
        ]
    }

    /// References the grammar generates, without the two spellings it leaves
    /// ambiguous: a first path component that reads as a host, and a bare
    /// 64-hex string (an image id).
    pub fn parts() -> impl Strategy<Value = Parts> {
        (
            prop::option::weighted(0.6, registry()),
            prop::collection::vec(path_component(), 1..4),
            prop::option::of(tag()),
            prop::option::weighted(0.3, digest()),
        )
            .prop_map(|(registry, path, tag, digest)| Parts {
                registry,
                path,
                tag,
                digest,
            })
            .prop_filter("first path component reads as a host", |p| {
                p.registry.is_some() || p.path.len() == 1 || !looks_like_host(&p.path[0])
            })
            .prop_filter("a bare image id", |p| {
                !(p.registry.is_none()
                    && p.tag.is_none()
                    && p.digest.is_none()
                    && is_lower_hex(&p.repository(), 64))
            })
    }

    // ---- the grammar, as checks of what was accepted ----

    fn host_label_ok(l: &str) -> bool {
        !l.is_empty()
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    }

    fn port_ok(p: &str) -> bool {
        !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())
    }

    fn registry_ok(r: &str) -> bool {
        if let Some(rest) = r.strip_prefix('[') {
            let Some((address, after)) = rest.split_once(']') else {
                return false;
            };
            !address.is_empty()
                && address.bytes().all(|b| b.is_ascii_hexdigit() || b == b':')
                && (after.is_empty() || after.strip_prefix(':').is_some_and(port_ok))
        } else {
            let (host, port) = match r.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (r, None),
            };
            host.split('.').all(host_label_ok) && port.is_none_or(port_ok)
        }
    }

    /// `[a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*`
    fn component_ok(c: &str) -> bool {
        let b = c.as_bytes();
        let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
        let mut i = 0;
        let run = |i: &mut usize| {
            let start = *i;
            while *i < b.len() && alnum(b[*i]) {
                *i += 1;
            }
            *i > start
        };
        if !run(&mut i) {
            return false;
        }
        while i < b.len() {
            match b[i] {
                b'.' => i += 1,
                b'_' => {
                    i += 1;
                    if i < b.len() && b[i] == b'_' {
                        i += 1;
                    }
                }
                b'-' => {
                    while i < b.len() && b[i] == b'-' {
                        i += 1;
                    }
                }
                _ => return false,
            }
            if !run(&mut i) {
                return false;
            }
        }
        true
    }

    fn tag_ok(t: &str) -> bool {
        let b = t.as_bytes();
        (1..=128).contains(&b.len())
            && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
            && b.iter()
                .all(|&x| x.is_ascii_alphanumeric() || matches!(x, b'_' | b'.' | b'-'))
    }

    fn digest_ok(d: &str) -> bool {
        match d.split_once(':') {
            Some(("sha256", e)) => is_lower_hex(e, 64),
            Some(("sha384", e)) => is_lower_hex(e, 96),
            Some(("sha512", e)) => is_lower_hex(e, 128),
            _ => false,
        }
    }

    /// The parse of `input` is either an error with a printable message, or
    /// exactly `input`, split into parts that fit the grammar.
    pub fn check(input: &str) -> TestCaseResult {
        let r = match ImageRef::parse(input) {
            Err(e) => {
                let msg = e.to_string();
                prop_assert!(
                    !msg.chars().any(char::is_control),
                    "error message carries a raw control character: {:?}",
                    msg
                );
                return Ok(());
            }
            Ok(r) => r,
        };
        let parts = |r: &ImageRef<'_>| {
            (
                r.registry().map(str::to_owned),
                r.repository().to_owned(),
                r.tag().map(str::to_owned),
                r.digest().map(str::to_owned),
            )
        };
        prop_assert_eq!(r.raw(), input);
        let shown = r.to_string();
        prop_assert_eq!(&shown, input);
        let again = ImageRef::parse(&shown).map_err(|e| {
            fail(format!(
                "{shown:?} was accepted, its Display is refused: {e}"
            ))
        })?;
        prop_assert_eq!(parts(&again), parts(&r));

        let mut name = String::new();
        if let Some(reg) = r.registry() {
            name.push_str(reg);
            name.push('/');
        }
        name.push_str(r.repository());
        prop_assert_eq!(r.name(), name.as_str());
        let mut rebuilt = name.clone();
        if let Some(t) = r.tag() {
            rebuilt.push(':');
            rebuilt.push_str(t);
        }
        if let Some(d) = r.digest() {
            rebuilt.push('@');
            rebuilt.push_str(d);
        }
        prop_assert_eq!(&rebuilt, input, "parts do not add up to the input");

        if let Some(reg) = r.registry() {
            prop_assert!(
                registry_ok(reg) && looks_like_host(reg),
                "accepted registry {:?} of {:?} is not host[:port]",
                reg,
                input
            );
        }
        let components: Vec<&str> = r.repository().split('/').collect();
        prop_assert!(
            components.iter().all(|c| component_ok(c)),
            "accepted repository {:?} of {:?} breaks the path grammar",
            r.repository(),
            input
        );
        prop_assert!(
            r.registry().is_some() || components.len() == 1 || !looks_like_host(components[0]),
            "{:?}: a host-like first component was taken as a path",
            input
        );
        prop_assert!(name.len() <= 255, "{:?}: name longer than 255", input);
        if let Some(t) = r.tag() {
            prop_assert!(tag_ok(t), "accepted tag {:?} of {:?}", t, input);
        }
        if let Some(d) = r.digest() {
            prop_assert!(digest_ok(d), "accepted digest {:?} of {:?}", d, input);
        }
        prop_assert!(
            !is_lower_hex(input, 64),
            "{:?}: a bare image id was accepted",
            input
        );

        // Pinning keeps registry and repository, drops the tag.
        let d = format!("sha256:{}", "0".repeat(64));
        let pinned = r.with_digest(&d);
        prop_assert!(is_sha256_digest(&d));
        let p = ImageRef::parse(&pinned)
            .map_err(|e| fail(format!("with_digest of {input:?} gave {pinned:?}: {e}")))?;
        prop_assert_eq!(
            parts(&p),
            (
                r.registry().map(str::to_owned),
                r.repository().to_owned(),
                None,
                Some(d)
            )
        );
        Ok(())
    }

    /// A character near the grammar: its punctuation, letters of both cases,
    /// whitespace, a control character and some non-ASCII.
    fn edit_char() -> impl Strategy<Value = char> {
        prop_oneof![
            prop::sample::select(vec![
                '.', '_', '-', ':', '/', '@', '[', ']', '+', '=', 'a', 'A', 'z', 'Z', '0', '9',
                ' ', '\t', '\n', '\0', '\u{a0}', '\u{2028}', 'é', 'ſ', 'K', '™', '\u{feff}',
            ]),
            any::<char>(),
        ]
    }

    /// Valid references with a few characters deleted, inserted or replaced.
    fn mutated() -> impl Strategy<Value = String> {
        (
            parts(),
            prop::collection::vec((any::<usize>(), 0..3u8, edit_char()), 1..4),
        )
            .prop_map(|(p, edits)| {
                let mut chars: Vec<char> = p.render().chars().collect();
                for (at, op, c) in edits {
                    let i = at % (chars.len() + 1);
                    match op {
                        0 if i < chars.len() => {
                            chars.remove(i);
                        }
                        1 if i < chars.len() => chars[i] = c,
                        _ => chars.insert(i, c),
                    }
                }
                chars.into_iter().collect()
            })
    }

    pub fn noise() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => any::<String>(),
            3 => "[a-zA-Z0-9._:/@\\[\\]+=-]{0,40}",
            1 => "\\PC{0,24}",
            4 => mutated(),
            2 => parts().prop_map(|p| p.render()),
            // Very long inputs: repeated chunks, and long valid-looking names.
            1 => ("[a-z0-9./:@_-]{1,8}", 30usize..20_000).prop_map(|(s, n)| s.repeat(n)),
            1 => (1usize..5_000, "[a-z0-9]{1,3}").prop_map(|(n, c)| format!("{c}/").repeat(n) + &c),
        ]
    }

    #[test]
    fn parse_never_panics_and_accepts_only_the_grammar() {
        check_all(config(1500), &noise(), |s| check(&s));
    }

    /// `host` and the port text of a registry as the grammar writes it.
    fn host_and_port(registry: &str) -> (&str, Option<&str>) {
        let after = registry.rfind(']').map_or(0, |i| i + 1);
        match registry[after..].find(':') {
            Some(i) => (&registry[..after + i], Some(&registry[after + i + 1..])),
            None => (registry, None),
        }
    }

    /// Another spelling of the same registry, as the runtimes read it:
    /// letters flipped in case, the port padded with zeros, `:443` written
    /// for no port.
    fn respell(registry: &str, flips: &[bool], zeros: usize) -> String {
        let (host, port) = host_and_port(registry);
        let host: String = host
            .chars()
            .zip(flips.iter().cycle())
            .map(|(c, &flip)| {
                if flip {
                    if c.is_ascii_uppercase() {
                        c.to_ascii_lowercase()
                    } else {
                        c.to_ascii_uppercase()
                    }
                } else {
                    c
                }
            })
            .collect();
        format!("{host}:{}{}", "0".repeat(zeros), port.unwrap_or("443"))
    }

    /// The stream-host comparison: reflexive and symmetric on whatever the
    /// grammar makes, true for every respelling the runtimes treat as the
    /// same host, and false for two DNS names that differ.
    #[test]
    fn registry_respellings_are_the_same_host() {
        use imagestream_core::reference::host::hosts_equal;
        let strategy = (
            registry(),
            registry(),
            prop::collection::vec(any::<bool>(), 1..16),
            0usize..4,
        );
        check_all(config(1500), &strategy, |(a, b, flips, zeros)| {
            prop_assert!(hosts_equal(&a, &a), "{}", a);
            prop_assert_eq!(hosts_equal(&a, &b), hosts_equal(&b, &a), "{} vs {}", a, b);
            let respelled = respell(&a, &flips, zeros);
            prop_assert!(hosts_equal(&a, &respelled), "{} vs {}", a, respelled);
            prop_assert!(hosts_equal(&respelled, &a), "{} vs {}", respelled, a);
            let (host_a, host_b) = (host_and_port(&a).0, host_and_port(&b).0);
            let dns = |h: &str| h.starts_with(|c: char| c.is_ascii_alphabetic());
            if dns(host_a) && dns(host_b) && !host_a.eq_ignore_ascii_case(host_b) {
                prop_assert!(!hosts_equal(&a, &b), "{} vs {}", a, b);
            }
            Ok(())
        });
    }

    #[test]
    fn grammar_references_parse_to_their_parts() {
        check_all(config(1000), &parts(), |p| {
            let input = p.render();
            let name_len = p.name().len();
            match ImageRef::parse(&input) {
                Ok(r) if name_len <= 255 => {
                    prop_assert_eq!(
                        r.registry(),
                        p.registry.as_deref(),
                        "registry of {:?}",
                        input
                    );
                    prop_assert_eq!(r.repository(), p.repository(), "repository of {:?}", input);
                    prop_assert_eq!(r.tag(), p.tag.as_deref(), "tag of {:?}", input);
                    prop_assert_eq!(r.digest(), p.digest.as_deref(), "digest of {:?}", input);
                }
                Err(RefError::NameTooLong { len }) if name_len > 255 => {
                    prop_assert_eq!(len, name_len);
                }
                other => {
                    return Err(fail(format!(
                        "{input:?} (name of {name_len} bytes) parsed as {other:?}"
                    )));
                }
            }
            check(&input)
        });
    }
}

mod admission {
    use std::collections::HashMap;
    use std::sync::Arc;

    use super::*;
    use imagestream_core::admission::audit_record::{self, AuditRecord, RequestFacts};
    use imagestream_core::admission::decision::{DENIALS_LISTED, Endpoint, Policy, evaluate};
    use imagestream_core::admission::wire;
    use imagestream_core::config::{Config, DEFAULT_STREAM_HOST, SameNamespaceAccess};
    use imagestream_core::reference::{ImageRef, is_sha256_digest};
    use imagestream_core::stream::ImageStream;
    use imagestream_core::stream::resolve::{self, Resolution};
    use imagestream_core::stream::snapshot::Snapshot;
    use imagestream_webhook::access::AccessChecker;
    use imagestream_webhook::serving::admission::Admission;
    use imagestream_webhook::store::Store;

    /// The configured stream registry hosts: the default and one more.
    const HOSTS: [&str; 2] = [DEFAULT_STREAM_HOST, "streams.example.com:5000"];
    const NAMESPACES: [&str; 2] = ["team-a", "team-b"];
    /// Pods run in these; team-c has no streams.
    const POD_NAMESPACES: [&str; 3] = ["team-a", "team-b", "team-c"];
    const STREAMS: [&str; 4] = ["app", "base", "tools", "web"];
    const TAGS: [&str; 4] = ["latest", "v1", "v2", "stable"];
    /// What images name: the streams, and a stream, a tag, a namespace that never exist.
    const IMAGE_NAMES: [&str; 5] = ["app", "base", "tools", "web", "ghost"];
    const IMAGE_TAGS: [&str; 5] = ["latest", "v1", "v2", "stable", "nope"];
    const IMAGE_NAMESPACES: [&str; 3] = ["team-a", "team-b", "team-z"];
    /// Histories use digests 0..6; images also name 6, which no history has.
    const DIGESTS: usize = 7;
    /// Group, version, kind: the eight handled kinds, then two that are not.
    const KINDS: [(&str, &str, &str); 10] = [
        ("", "v1", "Pod"),
        ("", "v1", "ReplicationController"),
        ("apps", "v1", "Deployment"),
        ("apps", "v1", "ReplicaSet"),
        ("apps", "v1", "StatefulSet"),
        ("apps", "v1", "DaemonSet"),
        ("batch", "v1", "Job"),
        ("batch", "v1", "CronJob"),
        ("", "v1", "Service"),
        ("apps", "v1", "Pod"),
    ];
    const OPERATIONS: [&str; 4] = ["CREATE", "UPDATE", "DELETE", "CONNECT"];
    const SUB_RESOURCES: [Option<&str>; 3] = [None, Some("ephemeralcontainers"), Some("status")];
    const RESOLVE_NAMES: &str = "alpha.image.policy.openshift.io/resolve-names";

    pub fn digest(i: usize) -> String {
        let c = b"0123456789abcdef"[i % 16] as char;
        format!("sha256:{}", c.to_string().repeat(64))
    }

    // ---- streams ----

    /// Where a history item says its image came from.
    #[derive(Debug, Clone, Copy)]
    enum Repo {
        // What the importer writes: a registry host and a path.
        Engine,
        Quay,
        Hub,
        UpperHost,
        // What only a hand-written status says.
        Bare,
        OwnName,
        OwnHost,
        OtherHost,
    }

    impl Repo {
        fn render(self, ns: &str, name: &str) -> String {
            match self {
                Repo::Engine => format!("registry.example.com/engine/{name}"),
                Repo::Quay => "quay.io/shared/base".into(),
                Repo::Hub => "docker.io/library/nginx".into(),
                Repo::UpperHost => format!("Registry.Example.COM:5000/{ns}/{name}"),
                Repo::Bare => "nginx".into(),
                Repo::OwnName => name.to_owned(),
                Repo::OwnHost => format!("{DEFAULT_STREAM_HOST}/{ns}/{name}"),
                Repo::OtherHost => format!("{}/team-b/base", HOSTS[1].to_uppercase()),
            }
        }
    }

    #[derive(Debug, Clone, Copy)]
    enum RefForm {
        Digest,
        OtherDigest,
        Tagged,
        Plain,
        Malformed,
    }

    #[derive(Debug, Clone, Copy)]
    enum ImageField {
        Digest,
        Empty,
        Invalid,
    }

    #[derive(Debug, Clone)]
    struct Item {
        repo: Repo,
        digest: usize,
        form: RefForm,
        image: ImageField,
    }

    impl Item {
        fn reference(&self, ns: &str, name: &str) -> String {
            let repo = self.repo.render(ns, name);
            match self.form {
                RefForm::Digest => format!("{repo}@{}", digest(self.digest)),
                RefForm::OtherDigest => format!("{repo}@{}", digest((self.digest + 1) % 6)),
                RefForm::Tagged => format!("{repo}:v{}", self.digest),
                RefForm::Plain => repo,
                RefForm::Malformed => format!("{repo}:not a tag"),
            }
        }

        fn image(&self) -> String {
            match self.image {
                ImageField::Digest => digest(self.digest),
                ImageField::Empty => String::new(),
                ImageField::Invalid => "sha256:beef".into(),
            }
        }
    }

    #[derive(Debug, Clone)]
    struct TagStatus {
        items: Vec<Item>,
        null_items: bool,
        /// `ImportSuccess` status: `Some(false)` is a failed import.
        import_success: Option<bool>,
    }

    #[derive(Debug, Clone)]
    struct Tag {
        name: &'static str,
        in_spec: bool,
        status: Option<TagStatus>,
    }

    #[derive(Debug, Clone)]
    struct Stream {
        ns: &'static str,
        name: &'static str,
        lookup_local: Option<bool>,
        /// In status order.
        tags: Vec<Tag>,
    }

    impl Stream {
        fn to_json(&self) -> Value {
            let spec_tags: Vec<Value> = self
                .tags
                .iter()
                .filter(|t| t.in_spec)
                .map(|t| {
                    json!({"name": t.name, "from": {"kind": "DockerImage",
                        "name": format!("registry.example.com/engine/{}:{}", self.name, t.name)}})
                })
                .collect();
            let mut spec = json!({ "tags": spec_tags });
            if let Some(local) = self.lookup_local {
                spec["lookupPolicy"] = json!({ "local": local });
            }
            let status_tags: Vec<Value> = self
                .tags
                .iter()
                .filter_map(|t| {
                    let st = t.status.as_ref()?;
                    let items = if st.null_items && st.items.is_empty() {
                        Value::Null
                    } else {
                        st.items
                            .iter()
                            .map(|i| {
                                json!({"created": "2026-11-26T17:00:00Z",
                                    "dockerImageReference": i.reference(self.ns, self.name),
                                    "image": i.image(), "generation": 1})
                            })
                            .collect()
                    };
                    let mut tag = json!({"tag": t.name, "items": items});
                    if let Some(ok) = st.import_success {
                        tag["conditions"] = json!([{"type": "ImportSuccess",
                            "status": if ok { "True" } else { "False" },
                            "reason": "NotFound", "message": "manifest unknown", "generation": 1}]);
                    }
                    Some(tag)
                })
                .collect();
            json!({
                "apiVersion": "image.openshift.io/v1",
                "kind": "ImageStream",
                "metadata": {"name": self.name, "namespace": self.ns},
                "spec": spec,
                "status": {
                    "dockerImageRepository": format!("{DEFAULT_STREAM_HOST}/{}/{}", self.ns, self.name),
                    "tags": status_tags,
                },
            })
        }
    }

    fn repo(hand_written: bool) -> BoxedStrategy<Repo> {
        let imported = prop_oneof![
            Just(Repo::Engine),
            Just(Repo::Quay),
            Just(Repo::Hub),
            Just(Repo::UpperHost),
        ];
        if hand_written {
            prop_oneof![
                1 => imported,
                1 => prop_oneof![
                    Just(Repo::Bare),
                    Just(Repo::OwnName),
                    Just(Repo::OwnHost),
                    Just(Repo::OtherHost),
                ],
            ]
            .boxed()
        } else {
            imported.boxed()
        }
    }

    fn item(hand_written: bool) -> impl Strategy<Value = Item> {
        (
            repo(hand_written),
            0..6usize,
            prop_oneof![
                6 => Just(RefForm::Digest),
                1 => Just(RefForm::OtherDigest),
                2 => Just(RefForm::Tagged),
                1 => Just(RefForm::Plain),
                1 => Just(RefForm::Malformed),
            ],
            prop_oneof![
                6 => Just(ImageField::Digest),
                2 => Just(ImageField::Empty),
                1 => Just(ImageField::Invalid),
            ],
        )
            .prop_map(|(repo, digest, form, image)| Item {
                repo,
                digest,
                form,
                image,
            })
    }

    fn tag_status(hand_written: bool) -> impl Strategy<Value = TagStatus> {
        (
            prop::collection::vec(item(hand_written), 0..4),
            any::<bool>(),
            prop_oneof![2 => Just(None), 1 => Just(Some(false)), 1 => Just(Some(true))],
        )
            .prop_map(|(items, null_items, import_success)| TagStatus {
                items,
                null_items,
                import_success,
            })
    }

    type StreamBody = (Option<bool>, Vec<Tag>);

    fn stream_body(hand_written: bool) -> impl Strategy<Value = StreamBody> {
        (
            prop::option::of(any::<bool>()),
            prop::collection::vec(
                prop::option::weighted(
                    0.7,
                    (
                        any::<bool>(),
                        prop::option::weighted(0.8, tag_status(hand_written)),
                    ),
                ),
                TAGS.len(),
            )
            .prop_map(|slots| {
                slots
                    .into_iter()
                    .zip(TAGS)
                    .filter_map(|(slot, name)| {
                        let (in_spec, status) = slot?;
                        Some(Tag {
                            name,
                            in_spec,
                            status,
                        })
                    })
                    .collect::<Vec<_>>()
            })
            .prop_shuffle(),
        )
    }

    /// Streams in two namespaces, each name present or not.
    fn streams(hand_written: bool) -> impl Strategy<Value = Vec<Stream>> {
        prop::collection::vec(
            prop::option::weighted(0.7, stream_body(hand_written)),
            NAMESPACES.len() * STREAMS.len(),
        )
        .prop_map(|bodies| {
            let slots = NAMESPACES
                .iter()
                .flat_map(|ns| STREAMS.iter().map(move |name| (*ns, *name)));
            slots
                .zip(bodies)
                .filter_map(|((ns, name), body)| {
                    let (lookup_local, tags) = body?;
                    Some(Stream {
                        ns,
                        name,
                        lookup_local,
                        tags,
                    })
                })
                .collect()
        })
    }

    // ---- the model of the README's rules ----

    #[derive(Debug, Default)]
    struct Compiled {
        lookup_local: bool,
        /// Tag → the pinned reference of its newest item, `None` when it cannot be pinned.
        tags: HashMap<&'static str, Option<String>>,
        /// Digest → pinned reference, from the first history item that has it.
        images: HashMap<String, String>,
    }

    /// `REPO@DIGEST` of a history item: the digest is the item's `image` when
    /// that is a sha256 digest, else the reference's own digest.
    fn pin_item(reference: &str, image: &str) -> Option<(String, String)> {
        let r = ImageRef::parse(reference).ok()?;
        let digest = if is_sha256_digest(image) {
            image.to_owned()
        } else {
            r.digest()?.to_owned()
        };
        let pinned = format!("{}@{digest}", r.name());
        Some((digest, pinned))
    }

    fn compile(streams: &[Stream]) -> HashMap<(&'static str, &'static str), Compiled> {
        let mut out = HashMap::new();
        for s in streams {
            let mut c = Compiled {
                lookup_local: s.lookup_local == Some(true),
                ..Compiled::default()
            };
            for t in &s.tags {
                let mut current = None;
                if let Some(st) = &t.status {
                    for (i, item) in st.items.iter().enumerate() {
                        let reference = item.reference(s.ns, s.name);
                        if let Some((digest, pinned)) = pin_item(&reference, &item.image()) {
                            if i == 0 {
                                current = Some(pinned.clone());
                            }
                            c.images.entry(digest).or_insert(pinned);
                        }
                    }
                }
                if t.in_spec || t.status.is_some() {
                    c.tags.insert(t.name, current);
                }
            }
            out.insert((s.ns, s.name), c);
        }
        out
    }

    #[derive(Debug, Clone, PartialEq)]
    enum Expect {
        NotAStream,
        /// `via`: the namespace of the stream the pinned image itself names,
        /// when it is a stream-host reference (its use is checked too).
        Resolved {
            namespace: String,
            image: String,
            via: Option<String>,
        },
        Unresolvable {
            stream_host: bool,
        },
    }

    type Index = HashMap<(&'static str, &'static str), Compiled>;

    fn lookup<'a>(index: &'a Index, ns: &str, name: &str) -> Option<&'a Compiled> {
        index
            .iter()
            .find(|((n, s), _)| *n == ns && *s == name)
            .map(|(_, c)| c)
    }

    /// The README's table, plus its rule that a pinned image which is itself a
    /// stream reference (a stream-host reference, as OpenShift records pushed
    /// images, or a short name in a hand-written status) must resolve to
    /// itself, else it is refused, so a second pass cannot answer differently.
    fn expect_resolution(index: &Index, ns: &str, resolve_names: bool, image: &str) -> Expect {
        let first = expect_resolution_once(index, ns, resolve_names, image);
        let Expect::Resolved {
            namespace,
            image: pinned,
            ..
        } = &first
        else {
            return first;
        };
        let stream_host = ImageRef::parse(image)
            .ok()
            .and_then(|r| {
                r.registry()
                    .map(|reg| HOSTS.iter().any(|h| reg.eq_ignore_ascii_case(h)))
            })
            .unwrap_or(false);
        match expect_resolution_once(index, ns, resolve_names, pinned) {
            Expect::NotAStream => first,
            Expect::Resolved {
                namespace: via,
                image: again,
                ..
            } if again == *pinned => Expect::Resolved {
                namespace: namespace.clone(),
                image: pinned.clone(),
                via: Some(via),
            },
            _ => Expect::Unresolvable { stream_host },
        }
    }

    /// The README's table "Which images are stream references".
    fn expect_resolution_once(index: &Index, ns: &str, resolve_names: bool, image: &str) -> Expect {
        let Ok(r) = ImageRef::parse(image) else {
            return Expect::NotAStream;
        };
        let pin = |c: &Compiled, stream_ns: &str, stream_host: bool| {
            let found = match r.digest() {
                Some(d) => c.images.get(d).cloned(),
                None => c.tags.get(r.tag().unwrap_or("latest")).cloned().flatten(),
            };
            match found {
                Some(image) => Expect::Resolved {
                    namespace: stream_ns.to_owned(),
                    image,
                    via: None,
                },
                None => Expect::Unresolvable { stream_host },
            }
        };
        match r.registry() {
            Some(reg) if HOSTS.iter().any(|h| reg.eq_ignore_ascii_case(h)) => {
                let path: Vec<&str> = r.repository().split('/').collect();
                match path[..] {
                    [stream_ns, name] => match lookup(index, stream_ns, name) {
                        Some(c) => pin(c, stream_ns, true),
                        None => Expect::Unresolvable { stream_host: true },
                    },
                    _ => Expect::Unresolvable { stream_host: true },
                }
            }
            Some(_) => Expect::NotAStream,
            None if r.repository().contains('/') => Expect::NotAStream,
            None => match lookup(index, ns, r.repository()) {
                Some(c) if c.lookup_local || resolve_names => pin(c, ns, false),
                _ => Expect::NotAStream,
            },
        }
    }

    fn pod_spec_pointer(kind: &str) -> &'static str {
        match kind {
            "Pod" => "/spec",
            "CronJob" => "/spec/jobTemplate/spec/template/spec",
            _ => "/spec/template/spec",
        }
    }

    /// The metadata levels whose annotation turns on resolve-names.
    fn annotation_levels(kind: &str) -> &'static [&'static str] {
        match kind {
            "Pod" => &["/metadata"],
            "CronJob" => &[
                "/metadata",
                "/spec/jobTemplate/metadata",
                "/spec/jobTemplate/spec/template/metadata",
            ],
            _ => &["/metadata", "/spec/template/metadata"],
        }
    }

    struct View {
        /// (list, index, name, image) in document order; `None` when the image is not a
        /// string. List 3 is the image volumes (`volumes[].image.reference`).
        containers: Vec<(usize, usize, String, Option<String>)>,
        resolve_names: bool,
        owned: bool,
    }

    fn view(kind: &str, obj: &Value) -> View {
        let spec = obj.pointer(pod_spec_pointer(kind));
        let mut containers = Vec::new();
        for (list, field) in answer::LIST_FIELDS.iter().enumerate() {
            let items = spec
                .and_then(|s| s.get(*field))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for (i, c) in items.iter().enumerate() {
                containers.push((
                    list,
                    i,
                    c["name"].as_str().unwrap_or_default().to_owned(),
                    c["image"].as_str().map(str::to_owned),
                ));
            }
        }
        let volumes = spec
            .and_then(|s| s.get("volumes"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for (i, v) in volumes.iter().enumerate() {
            if v["image"].is_object() {
                containers.push((
                    3,
                    i,
                    v["name"].as_str().unwrap_or_default().to_owned(),
                    v["image"]["reference"].as_str().map(str::to_owned),
                ));
            }
        }
        let resolve_names = annotation_levels(kind).iter().any(|level| {
            obj.pointer(level)
                .is_some_and(|m| m["annotations"][RESOLVE_NAMES] == "*")
        });
        let owned = obj["metadata"]["ownerReferences"]
            .as_array()
            .is_some_and(|refs| refs.iter().any(|o| o["controller"] == true));
        View {
            containers,
            resolve_names,
            owned,
        }
    }

    /// What a request should get, by the README.
    #[derive(Debug, PartialEq)]
    struct Expected {
        allowed: bool,
        /// (path, pinned image), sorted.
        patch: Vec<(String, String)>,
        /// (container, image) in document order.
        denied: Vec<(String, String)>,
        /// (container, image, resolved) in document order.
        resolved: Vec<(String, String, String)>,
        /// The request was looked at (not skipped): audit annotations may follow.
        evaluated: bool,
    }

    impl Expected {
        fn allow_untouched() -> Expected {
            Expected {
                allowed: true,
                patch: Vec::new(),
                denied: Vec::new(),
                resolved: Vec::new(),
                evaluated: false,
            }
        }
    }

    /// How the model names an image's holder: a container by its name, an
    /// image volume as `volume NAME`.
    fn named(list: usize, name: &str) -> String {
        if list == 3 {
            format!("volume {name}")
        } else {
            name.to_owned()
        }
    }

    /// The review's `request.namespace`, the only namespace there is; `None`
    /// when it is missing or empty.
    fn request_namespace(review: &Value) -> Option<&str> {
        review["request"]["namespace"]
            .as_str()
            .filter(|ns| !ns.is_empty())
    }

    /// A review of one of the eight kinds (all namespaced) without
    /// `request.namespace` is refused with 400.
    fn refused(review: &Value) -> bool {
        let req = &review["request"];
        let group = req["kind"]["group"].as_str().unwrap_or_default();
        let kind = req["kind"]["kind"].as_str().unwrap_or_default();
        KINDS[..8].contains(&(group, "v1", kind)) && request_namespace(review).is_none()
    }

    fn expected(index: &Index, review: &Value, endpoint: Endpoint) -> Expected {
        let req = &review["request"];
        let group = req["kind"]["group"].as_str().unwrap_or_default();
        let kind = req["kind"]["kind"].as_str().unwrap_or_default();
        if !KINDS[..8].contains(&(group, "v1", kind)) {
            return Expected::allow_untouched();
        }
        let operation = req["operation"].as_str().unwrap_or_default();
        if !matches!(operation, "CREATE" | "UPDATE") {
            return Expected::allow_untouched();
        }
        let ephemeral = match req["subResource"].as_str() {
            None | Some("") => false,
            Some("ephemeralcontainers") if kind == "Pod" => true,
            Some(_) => return Expected::allow_untouched(),
        };
        let object = &req["object"];
        if object.is_null() {
            return Expected::allow_untouched();
        }
        let Some(ns) = request_namespace(review) else {
            return Expected::allow_untouched();
        };
        let new = view(kind, object);
        let old = (operation == "UPDATE" && !req["oldObject"].is_null())
            .then(|| view(kind, &req["oldObject"]));
        let toggled = old
            .as_ref()
            .is_some_and(|o| o.resolve_names != new.resolve_names);
        let job_update = operation == "UPDATE" && kind == "Job";
        let mut out = Expected {
            allowed: true,
            patch: Vec::new(),
            denied: Vec::new(),
            resolved: Vec::new(),
            evaluated: true,
        };
        for (list, i, name, image) in &new.containers {
            let Some(image) = image else { continue };
            let unchanged = !toggled
                && old.as_ref().is_some_and(|o| {
                    o.containers
                        .iter()
                        .find(|(l, _, n, _)| l == list && n == name)
                        .and_then(|(_, _, _, im)| im.as_ref())
                        == Some(image)
                });
            if unchanged {
                continue;
            }
            let resolution = expect_resolution(index, ns, new.resolve_names, image);
            let owner_pins = new.owned && !(ephemeral && *list == 2);
            let rewritable = !owner_pins && !job_update;
            let denied = match &resolution {
                Expect::Resolved { namespace, .. } if namespace != ns => true,
                Expect::Resolved { via: Some(via), .. } if via != ns => true,
                Expect::Unresolvable { stream_host } => rewritable || *stream_host,
                Expect::Resolved { image: pinned, .. } => {
                    endpoint == Endpoint::Validate && rewritable && pinned != image
                }
                Expect::NotAStream => false,
            };
            let who = named(*list, name);
            if let Expect::Resolved { image: pinned, .. } = &resolution {
                out.resolved
                    .push((who.clone(), image.clone(), pinned.clone()));
                if rewritable && pinned != image {
                    let path = if *list == 3 {
                        format!("{}/volumes/{i}/image/reference", pod_spec_pointer(kind))
                    } else {
                        format!(
                            "{}/{}/{i}/image",
                            pod_spec_pointer(kind),
                            answer::LIST_FIELDS[*list]
                        )
                    };
                    out.patch.push((path, pinned.clone()));
                }
            }
            if denied {
                out.denied.push((who, image.clone()));
            }
        }
        if !out.denied.is_empty() || endpoint == Endpoint::Validate {
            out.patch.clear();
        }
        out.allowed = out.denied.is_empty();
        out.patch.sort();
        out
    }

    // ---- workloads ----

    #[derive(Debug, Clone)]
    enum ImageSpec {
        Short {
            name: usize,
            tag: Option<usize>,
        },
        ShortDigest {
            name: usize,
            tag: Option<usize>,
            digest: usize,
        },
        Host {
            host: usize,
            case: u64,
            ns: usize,
            name: usize,
            tag: Option<usize>,
            digest: Option<usize>,
        },
        HostPath {
            host: usize,
            case: u64,
            path: usize,
        },
        Registry(usize),
        Garbage(String),
    }

    fn with_case(host: &str, mask: u64) -> String {
        host.chars()
            .enumerate()
            .map(|(i, c)| {
                if (mask >> (i % 64)) & 1 == 1 {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect()
    }

    impl ImageSpec {
        fn render(&self) -> String {
            let tag =
                |t: &Option<usize>| t.map(|t| format!(":{}", IMAGE_TAGS[t])).unwrap_or_default();
            match self {
                ImageSpec::Short { name, tag: t } => format!("{}{}", IMAGE_NAMES[*name], tag(t)),
                ImageSpec::ShortDigest {
                    name,
                    tag: t,
                    digest: d,
                } => format!("{}{}@{}", IMAGE_NAMES[*name], tag(t), digest(*d)),
                ImageSpec::Host {
                    host,
                    case,
                    ns,
                    name,
                    tag: t,
                    digest: d,
                } => {
                    let d = d.map(|d| format!("@{}", digest(d))).unwrap_or_default();
                    format!(
                        "{}/{}/{}{}{d}",
                        with_case(HOSTS[*host], *case),
                        IMAGE_NAMESPACES[*ns],
                        IMAGE_NAMES[*name],
                        tag(t)
                    )
                }
                ImageSpec::HostPath { host, case, path } => {
                    let path = ["app", "team-a/app/extra", "team-a"][*path];
                    format!("{}/{path}", with_case(HOSTS[*host], *case))
                }
                ImageSpec::Registry(i) => match i {
                    0 => "quay.io/shared/base:1".into(),
                    1 => "docker.io/library/app".into(),
                    2 => "library/app".into(),
                    3 => "team-a/app:latest".into(),
                    4 => format!("registry.example.com/engine/app@{}", digest(0)),
                    5 => "localhost:5000/app".into(),
                    // Near misses of a stream host: another port, no port.
                    6 => format!(
                        "{}/team-a/app",
                        DEFAULT_STREAM_HOST.replace(":5000", ":5001")
                    ),
                    _ => "streams.example.com/team-a/app".into(),
                },
                ImageSpec::Garbage(s) => s.clone(),
            }
        }
    }

    fn image_spec() -> impl Strategy<Value = ImageSpec> {
        let tag = || prop::option::weighted(0.7, 0..IMAGE_TAGS.len());
        let case = || prop_oneof![3 => Just(0u64), 1 => any::<u64>()];
        prop_oneof![
            6 => (0..IMAGE_NAMES.len(), tag()).prop_map(|(name, tag)| ImageSpec::Short { name, tag }),
            2 => (0..IMAGE_NAMES.len(), prop::option::weighted(0.2, 0..IMAGE_TAGS.len()), 0..DIGESTS)
                .prop_map(|(name, tag, digest)| ImageSpec::ShortDigest { name, tag, digest }),
            4 => (0..HOSTS.len(), case(), 0..IMAGE_NAMESPACES.len(), 0..IMAGE_NAMES.len(), tag(),
                  prop::option::weighted(0.3, 0..DIGESTS))
                .prop_map(|(host, case, ns, name, tag, digest)| ImageSpec::Host { host, case, ns, name, tag, digest }),
            1 => (0..HOSTS.len(), case(), 0..3usize).prop_map(|(host, case, path)| ImageSpec::HostPath { host, case, path }),
            2 => (0..8usize).prop_map(ImageSpec::Registry),
            2 => prop_oneof![
                "\\PC{0,16}",
                "[a-zA-Z0-9:@/._-]{0,16}",
                Just(String::new()),
                Just("App".to_owned()),
                Just("app:".to_owned()),
                Just(" app".to_owned()),
                Just("app@sha256:12".to_owned()),
            ].prop_map(ImageSpec::Garbage),
        ]
    }

    #[derive(Debug, Clone)]
    enum Old {
        Same,
        Changed(ImageSpec),
        Absent,
    }

    #[derive(Debug, Clone, Copy)]
    enum Ann {
        Absent,
        Star,
        True,
        NullMap,
        OtherKey,
        NullValue,
    }

    impl Ann {
        fn value(self) -> Option<Value> {
            match self {
                Ann::Absent => None,
                Ann::Star => Some(json!({ RESOLVE_NAMES: "*" })),
                Ann::True => Some(json!({ RESOLVE_NAMES: "true" })),
                Ann::NullMap => Some(Value::Null),
                Ann::OtherKey => Some(json!({ "other": "*" })),
                Ann::NullValue => Some(json!({ RESOLVE_NAMES: null })),
            }
        }
    }

    fn ann() -> impl Strategy<Value = Ann> {
        prop_oneof![
            6 => Just(Ann::Absent),
            3 => Just(Ann::Star),
            1 => Just(Ann::True),
            1 => Just(Ann::NullMap),
            1 => Just(Ann::OtherKey),
            1 => Just(Ann::NullValue),
        ]
    }

    #[derive(Debug, Clone, Copy)]
    enum Owner {
        None,
        Controller,
        NotController,
    }

    type Entry = (Option<ImageSpec>, Old);

    #[derive(Debug, Clone)]
    struct Workload {
        kind: usize,
        namespace: usize,
        request_namespace: bool,
        operation: usize,
        sub_resource: usize,
        annotations: [Ann; 3],
        old_annotations: [Ann; 3],
        owner: Owner,
        service_account: Option<&'static str>,
        /// containers, initContainers, ephemeralContainers; each with what the old object had.
        /// containers, initContainers, ephemeralContainers, image volumes.
        lists: [Vec<Entry>; 4],
        old_object: bool,
        dry_run: bool,
        v1beta1: bool,
        uid: String,
    }

    fn entries(min: usize) -> impl Strategy<Value = Vec<Entry>> {
        prop::collection::vec(
            (
                prop::option::weighted(0.92, image_spec()),
                prop_oneof![
                    3 => Just(Old::Same),
                    2 => image_spec().prop_map(Old::Changed),
                    1 => Just(Old::Absent),
                ],
            ),
            min..4,
        )
    }

    fn workload() -> impl Strategy<Value = Workload> {
        (
            (
                prop_oneof![12 => 0..8usize, 1 => 8..10usize],
                0..POD_NAMESPACES.len(),
                prop::bool::weighted(0.8),
                prop_oneof![6 => Just(0usize), 3 => Just(1), 1 => Just(2), 1 => Just(3)],
                prop_oneof![8 => Just(0usize), 2 => Just(1), 1 => Just(2)],
            ),
            (
                [ann(), ann(), ann()],
                [ann(), ann(), ann()],
                prop_oneof![4 => Just(Owner::None), 2 => Just(Owner::Controller), 1 => Just(Owner::NotController)],
                prop::option::of(prop::sample::select(vec!["default", "builder", ""])),
            ),
            [entries(1), entries(0), entries(0), entries(0)],
            (
                prop::bool::weighted(0.9),
                any::<bool>(),
                prop::bool::weighted(0.2),
                "[a-z0-9-]{1,12}|\\PC{0,6}",
            ),
        )
            .prop_map(
                |(
                    (kind, namespace, request_namespace, operation, sub_resource),
                    (annotations, old_annotations, owner, service_account),
                    lists,
                    (old_object, dry_run, v1beta1, uid),
                )| Workload {
                    kind,
                    namespace,
                    request_namespace,
                    operation,
                    sub_resource,
                    annotations,
                    old_annotations,
                    owner,
                    service_account,
                    lists,
                    old_object,
                    dry_run,
                    v1beta1,
                    uid,
                },
            )
    }

    /// An item of list `list`; list 3 is `volumes`: an image volume, or an
    /// emptyDir volume (no image) for `None`.
    fn container(list: usize, i: usize, image: Option<String>) -> Value {
        if list == 3 {
            let name = format!("v{i}");
            return match image {
                Some(image) => {
                    json!({"name": name, "image": {"reference": image, "pullPolicy": "IfNotPresent"}})
                }
                None => json!({"name": name, "emptyDir": {}}),
            };
        }
        let name = format!("{}{i}", ["c", "i", "e"][list]);
        match image {
            Some(image) => json!({"name": name, "image": image, "imagePullPolicy": "IfNotPresent",
                "ports": [{"containerPort": 8080}]}),
            None => json!({"name": name, "resources": {}}),
        }
    }

    impl Workload {
        fn kind(&self) -> (&'static str, &'static str, &'static str) {
            KINDS[self.kind]
        }

        fn namespace(&self) -> &'static str {
            POD_NAMESPACES[self.namespace]
        }

        fn pod_spec(&self, old: bool) -> Value {
            let mut spec = serde_json::Map::new();
            if let Some(sa) = self.service_account {
                spec.insert("serviceAccountName".into(), json!(sa));
            }
            for (list, entries) in self.lists.iter().enumerate() {
                let containers: Vec<Value> = entries
                    .iter()
                    .enumerate()
                    .filter_map(|(i, (image, was))| {
                        let image = image.as_ref().map(ImageSpec::render);
                        if !old {
                            return Some(container(list, i, image));
                        }
                        match was {
                            Old::Same => Some(container(list, i, image)),
                            Old::Changed(other) => Some(container(list, i, Some(other.render()))),
                            Old::Absent => None,
                        }
                    })
                    .collect();
                if list == 0 || !containers.is_empty() {
                    let field = answer::LIST_FIELDS.get(list).copied().unwrap_or("volumes");
                    spec.insert(field.into(), Value::Array(containers));
                }
            }
            spec.insert("restartPolicy".into(), json!("Always"));
            Value::Object(spec)
        }

        fn object(&self, old: bool) -> Value {
            let (group, version, kind) = self.kind();
            let anns = if old {
                self.old_annotations
            } else {
                self.annotations
            };
            let meta = |ann: Ann, mut m: Value| {
                if let Some(a) = ann.value() {
                    m["annotations"] = a;
                }
                m
            };
            let mut top =
                json!({"name": "w", "namespace": self.namespace(), "labels": {"app": "w"}});
            match self.owner {
                Owner::None => {}
                Owner::Controller => {
                    top["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                        "name": "w-1", "uid": "9f0c", "controller": true, "blockOwnerDeletion": true}]);
                }
                Owner::NotController => {
                    top["ownerReferences"] = json!([{"apiVersion": "v1", "kind": "ConfigMap",
                        "name": "c", "uid": "1a2b"}, {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                        "name": "w-1", "uid": "9f0c", "controller": false}]);
                }
            }
            let template = |ann: Ann| json!({"metadata": meta(ann, json!({"labels": {"app": "w"}})), "spec": self.pod_spec(old)});
            let spec = match kind {
                "Pod" => self.pod_spec(old),
                "CronJob" => json!({"schedule": "*/5 * * * *", "jobTemplate": {
                    "metadata": meta(anns[1], json!({})),
                    "spec": {"template": template(anns[2])}}}),
                "Job" => json!({"template": template(anns[1])}),
                _ => json!({"replicas": 1, "selector": {"matchLabels": {"app": "w"}},
                    "template": template(anns[1])}),
            };
            let api_version = if group.is_empty() {
                version.to_owned()
            } else {
                format!("{group}/{version}")
            };
            json!({"apiVersion": api_version, "kind": kind, "metadata": meta(anns[0], top), "spec": spec})
        }

        /// The review the API server would send, with `object` in it.
        fn review(&self, object: &Value) -> Value {
            let (group, version, kind) = self.kind();
            let operation = OPERATIONS[self.operation];
            let gvk = json!({"group": group, "version": version, "kind": kind});
            let gvr = json!({"group": group, "version": version,
                "resource": format!("{}s", kind.to_lowercase())});
            let (obj, old) = match operation {
                "CREATE" => (object.clone(), Value::Null),
                "UPDATE" if self.old_object => (object.clone(), self.object(true)),
                "UPDATE" => (object.clone(), Value::Null),
                "DELETE" => (Value::Null, object.clone()),
                _ => (Value::Null, Value::Null),
            };
            let mut request = json!({
                "uid": self.uid,
                "kind": gvk,
                "resource": gvr,
                "requestKind": gvk,
                "requestResource": gvr,
                "name": "w",
                "operation": operation,
                "userInfo": {"username": "alice", "groups": ["system:authenticated"]},
                "object": obj,
                "oldObject": old,
                "dryRun": self.dry_run,
                "options": null,
            });
            if self.request_namespace {
                request["namespace"] = json!(self.namespace());
            }
            if let Some(sub) = SUB_RESOURCES[self.sub_resource] {
                request["subResource"] = json!(sub);
            }
            let api_version = if self.v1beta1 {
                "admission.k8s.io/v1beta1"
            } else {
                "admission.k8s.io/v1"
            };
            json!({"apiVersion": api_version, "kind": "AdmissionReview", "request": request})
        }
    }

    // ---- running it ----

    struct Harness {
        admission: Admission,
        snapshot: Arc<Snapshot>,
        index: Index,
        hosts: Vec<String>,
        rt: tokio::runtime::Runtime,
    }

    impl Harness {
        fn new(streams: &[Stream]) -> Result<Harness, TestCaseError> {
            let mut objects = Vec::new();
            for s in streams {
                let is: ImageStream = serde_json::from_value(s.to_json())
                    .map_err(|e| fail(format!("generated stream does not parse: {e}")))?;
                objects.push(Arc::new(is));
            }
            let store = Store::new();
            store.publish(Snapshot::build(objects));
            let hosts: Vec<String> = HOSTS.iter().map(|h| h.to_string()).collect();
            let config = Config {
                stream_registry_hosts: hosts.clone(),
                ..Config::default()
            };
            Ok(Harness {
                snapshot: store.load_full(),
                admission: Admission {
                    store,
                    config: Arc::new(config),
                    access: AccessChecker::directory(SameNamespaceAccess::Allow),
                    audit: None,
                },
                index: compile(streams),
                hosts,
                rt: tokio::runtime::Builder::new_current_thread()
                    .build()
                    .map_err(|e| fail(e.to_string()))?,
            })
        }

        /// Answers `review`, checks the envelope and the model's expectation.
        fn answer(&self, endpoint: Endpoint, review: &Value) -> Result<Value, TestCaseError> {
            let body = serde_json::to_vec(review).map_err(|e| fail(e.to_string()))?;
            let answer = self
                .rt
                .block_on(self.admission.review(endpoint, &body))
                .map_err(|e| fail(format!("{endpoint:?}: a valid review was refused: {e}")))?;
            let v: Value = serde_json::from_slice(&answer.body)
                .map_err(|e| fail(format!("{endpoint:?}: the answer is not JSON: {e}")))?;
            answer::well_formed(&v, Some(review))
                .map_err(|e| fail(format!("{endpoint:?}: {e}")))?;
            self.audit_line_matches_the_record(endpoint, &body)?;

            let want = expected(&self.index, review, endpoint);
            // An annotation item names a container, or an image volume.
            let who = |d: &Value| match d["volume"].as_str() {
                Some(volume) => named(3, volume),
                None => d["container"].as_str().unwrap_or_default().to_owned(),
            };
            let mut patch = answer::patch(&v).map_err(fail)?;
            patch.sort();
            let rsp = &v["response"];
            let audit = |key: &str| -> Vec<Value> {
                rsp["auditAnnotations"][key]
                    .as_str()
                    .and_then(|s| serde_json::from_str::<Vec<Value>>(s).ok())
                    .unwrap_or_default()
            };
            let denied: Vec<(String, String)> = audit("denied-images")
                .iter()
                .map(|d| (who(d), d["image"].as_str().unwrap_or_default().to_owned()))
                .collect();
            let resolved: Vec<(String, String, String)> = audit("resolved-images")
                .iter()
                .map(|d| {
                    (
                        who(d),
                        d["image"].as_str().unwrap_or_default().to_owned(),
                        d["resolved"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect();
            let got = Expected {
                allowed: rsp["allowed"] == true,
                patch,
                denied,
                resolved,
                evaluated: want.evaluated,
            };
            if !want.evaluated && rsp.get("auditAnnotations").is_some() {
                return Err(fail(format!(
                    "{endpoint:?}: a skipped request got audit annotations: {v}"
                )));
            }
            if got != want {
                return Err(fail(format!(
                    "{endpoint:?} answered\n  {got:?}\nthe README's rules say\n  {want:?}\nreview: {review}\nanswer: {v}"
                )));
            }
            if let Some(message) = rsp["status"]["message"].as_str() {
                // The first few denials are named in full, the rest counted.
                for (who, image) in want.denied.iter().take(DENIALS_LISTED) {
                    let needle = match who.strip_prefix("volume ") {
                        Some(volume) => format!("volume {volume:?} image {image:?}"),
                        None => format!("container {who:?} image {image:?}"),
                    };
                    if !message.contains(&needle) {
                        return Err(fail(format!("denial does not name {needle}: {message}")));
                    }
                }
                let more = want.denied.len().saturating_sub(DENIALS_LISTED);
                if more > 0 && !message.ends_with(&format!("; …and {more} more")) {
                    return Err(fail(format!(
                        "denial does not count {more} more: {message}"
                    )));
                }
            }
            Ok(v)
        }

        /// The audit line written by hand (`audit::write_line`) is the
        /// serialized `AuditRecord` of the same decision, byte for byte.
        fn audit_line_matches_the_record(&self, endpoint: Endpoint, body: &[u8]) -> TestCaseResult {
            let review = wire::parse_review(body).map_err(fail)?;
            let Some(req) = review.request.as_ref() else {
                return Ok(());
            };
            let policy = Policy {
                stream_hosts: &self.hosts,
            };
            let Ok(mut eval) = evaluate(&self.snapshot, &policy, req) else {
                return Ok(());
            };
            self.rt
                .block_on(eval.check_access(&self.admission.access, &self.snapshot));
            let facts = RequestFacts::of(endpoint, req, "the-name");
            let latency = std::time::Duration::from_micros(412);
            let mut line = Vec::new();
            audit_record::write_line(
                &mut line,
                &facts,
                Some(&eval),
                "deny",
                Some("why \"not\""),
                latency,
            );
            let written: AuditRecord = serde_json::from_slice(&line)
                .map_err(|e| fail(format!("the audit line does not parse: {e}")))?;
            let mut record =
                AuditRecord::new(&facts, Some(&eval), "deny", Some("why \"not\""), latency);
            record.ts = written.ts.clone();
            let mut want = serde_json::to_vec(&record).map_err(|e| fail(e.to_string()))?;
            want.push(b'\n');
            prop_assert_eq!(
                String::from_utf8_lossy(&line),
                String::from_utf8_lossy(&want)
            );
            Ok(())
        }

        /// The context `resolve` needs for the object of `review`.
        fn resolve(&self, review: &Value, image: &str) -> Option<String> {
            let req = &review["request"];
            let object = &req["object"];
            let kind = req["kind"]["kind"].as_str().unwrap_or_default();
            let ns = request_namespace(review).unwrap_or_default();
            let ctx = resolve::Context {
                namespace: ns,
                resolve_names: view(kind, object).resolve_names,
                stream_hosts: &self.hosts,
            };
            match resolve::resolve(&self.snapshot, &ctx, image) {
                Resolution::Resolved { image, .. } => Some(image.to_string()),
                _ => None,
            }
        }
    }

    fn admission_properties(streams: &[Stream], wl: &Workload) -> TestCaseResult {
        let h = Harness::new(streams)?;
        let object = wl.object(false);
        let review = wl.review(&object);
        if refused(&review) {
            let body = serde_json::to_vec(&review).map_err(|e| fail(e.to_string()))?;
            for endpoint in [Endpoint::Mutate, Endpoint::Validate] {
                match h.rt.block_on(h.admission.review(endpoint, &body)) {
                    Err(e) if e.contains("request.namespace") => {}
                    Err(e) => return Err(fail(format!("{endpoint:?}: refused for {e}"))),
                    Ok(a) => {
                        return Err(fail(format!(
                            "{endpoint:?}: a review without request.namespace was answered: {}",
                            String::from_utf8_lossy(&a.body)
                        )));
                    }
                }
            }
            return Ok(());
        }

        let first = h.answer(Endpoint::Mutate, &review)?;
        let allowed = first["response"]["allowed"] == true;
        let patch = answer::patch(&first).map_err(fail)?;

        // Applying the patch replaces exactly those image fields, each with
        // what `resolve` says for the image that was there.
        let mut patched = object.clone();
        if !patch.is_empty() {
            let ops: json_patch::Patch =
                serde_json::from_value(json!(answer::patch_ops(&first)))
                    .map_err(|e| fail(format!("patch does not deserialize: {e}")))?;
            json_patch::patch(&mut patched, &ops)
                .map_err(|e| fail(format!("patch does not apply: {e}; {first}")))?;
        }
        let kind = wl.kind().2;
        let mut want_patched = object.clone();
        for (path, value) in &patch {
            prop_assert!(
                answer::is_image_path(path, pod_spec_pointer(kind)),
                "{} is not an image field of a {}",
                path,
                kind
            );
            let Some(Value::String(before)) = object.pointer(path) else {
                return Err(fail(format!("patch replaces {path}, which holds no image")));
            };
            let resolved = h.resolve(&review, before);
            prop_assert_eq!(
                resolved.as_deref(),
                Some(value.as_str()),
                "{} was {:?}",
                path,
                before
            );
            if let Some(slot) = want_patched.pointer_mut(path) {
                *slot = json!(value);
            }
        }
        prop_assert_eq!(
            &patched,
            &want_patched,
            "the patch changed more than images"
        );

        // A second pass over the patched object has nothing left to do, and
        // /validate agrees with /mutate.
        let second_review = wl.review(&patched);
        let second = h.answer(Endpoint::Mutate, &second_review)?;
        prop_assert!(
            answer::patch(&second).map_err(fail)?.is_empty(),
            "a second mutation patched again: {}\nafter {}",
            second,
            first
        );
        prop_assert_eq!(
            second["response"]["allowed"] == true,
            allowed,
            "a second mutation decided otherwise: {}\nafter {}",
            second,
            first
        );
        let validated = h.answer(Endpoint::Validate, &second_review)?;
        prop_assert_eq!(
            validated["response"]["allowed"] == true,
            allowed,
            "/validate of the mutated object: {}\n/mutate: {}",
            validated,
            first
        );
        // And /validate of the object as sent (checked against the model).
        h.answer(Endpoint::Validate, &review)?;
        Ok(())
    }

    #[test]
    fn admission_follows_the_rules_with_imported_history() {
        check_all(
            config(300),
            &(streams(false), workload()),
            |(streams, wl)| admission_properties(&streams, &wl),
        );
    }

    /// History items as OpenShift writes them for images in its internal
    /// registry (`HOST/NS/NAME@sha256:…`, so `oc get is -o yaml` output), and
    /// as only a hand-edited status says them (`nginx@…`, `NAME@…`).
    #[test]
    fn admission_follows_the_rules_with_hand_written_history() {
        check_all(
            config(2000),
            &(streams(true), workload()),
            |(streams, wl)| admission_properties(&streams, &wl),
        );
    }
}

mod server {
    use std::cell::RefCell;
    use std::io::{BufRead as _, BufReader};
    use std::net::SocketAddr;
    use std::path::Path;
    use std::process::{Child, Command, Stdio};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;
    use bytes::Bytes;
    use http_body_util::{BodyExt as _, Full};
    use hyper::StatusCode;
    use hyper::client::conn::http1::SendRequest;
    use hyper_util::rt::TokioIo;
    use imagestream_webhook::cli::certs;
    use imagestream_webhook::serving::webhook::MAX_BODY_BYTES;
    use rustls::RootCertStore;
    use rustls::pki_types::ServerName;
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    use tokio::net::TcpStream;
    use tokio_rustls::TlsConnector;

    const BIN: &str = env!("CARGO_BIN_EXE_imagestream-webhook");
    const BOUND: Duration = Duration::from_secs(10);

    /// `serve` on a copy of the example streams, with fresh certificates.
    struct Server {
        child: Child,
        addr: SocketAddr,
        connector: TlsConnector,
        log: Arc<Mutex<Vec<String>>>,
        _dirs: (tempfile::TempDir, tempfile::TempDir),
    }

    impl Server {
        fn start() -> Server {
            let streams = tempfile::tempdir().expect("tempdir");
            let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests/examples");
            for entry in std::fs::read_dir(examples).expect("examples") {
                let entry = entry.expect("entry");
                std::fs::copy(entry.path(), streams.path().join(entry.file_name())).expect("copy");
            }
            let certs_dir = tempfile::tempdir().expect("tempdir");
            let generated = certs::generate_dev().expect("certs");
            certs::write(certs_dir.path(), &generated).expect("write certs");
            let mut child = Command::new(BIN)
                .arg("serve")
                .arg("--streams-dir")
                .arg(streams.path())
                .args(["--no-import", "--no-triggers"])
                .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
                .arg("--tls-cert")
                .arg(certs_dir.path().join("tls.crt"))
                .arg("--tls-key")
                .arg(certs_dir.path().join("tls.key"))
                .env("RUST_LOG", "info")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn server");
            let stderr = child.stderr.take().expect("stderr");
            let log = Arc::new(Mutex::new(Vec::new()));
            let (tx, rx) = std::sync::mpsc::channel();
            let sink = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if line.contains("serving https") {
                        let _ = tx.send(line.clone());
                    }
                    sink.lock().expect("log").push(line);
                }
            });
            let line = rx.recv_timeout(BOUND).unwrap_or_else(|_| {
                let _ = child.kill();
                panic!(
                    "server did not start in time:\n{}",
                    log.lock().expect("log").join("\n")
                )
            });
            let addr = line
                .split("addr=")
                .nth(1)
                .and_then(|a| a.split_whitespace().next())
                .and_then(|a| a.parse().ok())
                .expect("https address");
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(generated.ca_pem.as_bytes()) {
                roots.add(cert.expect("ca pem")).expect("add ca");
            }
            let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
            Server {
                child,
                addr,
                connector: TlsConnector::from(Arc::new(tls)),
                log,
                _dirs: (streams, certs_dir),
            }
        }

        fn log(&self) -> String {
            self.log.lock().expect("log").join("\n")
        }

        fn alive(&mut self) -> bool {
            matches!(self.child.try_wait(), Ok(None))
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// One keep-alive connection, opened again when the server closed it.
    struct Client {
        addr: SocketAddr,
        connector: TlsConnector,
        sender: Option<SendRequest<Full<Bytes>>>,
    }

    impl Client {
        async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, String> {
            let tcp = tokio::time::timeout(BOUND, TcpStream::connect(self.addr))
                .await
                .map_err(|_| "connect timed out")?
                .map_err(|e| format!("connect: {e}"))?;
            let name = ServerName::try_from("localhost").expect("server name");
            let tls = tokio::time::timeout(BOUND, self.connector.connect(name, tcp))
                .await
                .map_err(|_| "TLS handshake timed out")?
                .map_err(|e| format!("TLS handshake: {e}"))?;
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
                .await
                .map_err(|e| format!("HTTP handshake: {e}"))?;
            tokio::spawn(conn);
            Ok(sender)
        }

        async fn send(&mut self, path: &str, body: &Bytes) -> Result<(StatusCode, Bytes), String> {
            let mut sender = match self.sender.take() {
                Some(mut s) => match s.ready().await {
                    Ok(()) => s,
                    Err(_) => self.connect().await?,
                },
                None => self.connect().await?,
            };
            let req = hyper::Request::post(path)
                .header("host", "localhost")
                .header("content-type", "application/json")
                .body(Full::new(body.clone()))
                .map_err(|e| e.to_string())?;
            let rsp = tokio::time::timeout(BOUND, sender.send_request(req))
                .await
                .map_err(|_| "no answer in time".to_owned())?
                .map_err(|e| format!("no answer: {e}"))?;
            let status = rsp.status();
            let body = tokio::time::timeout(BOUND, rsp.into_body().collect())
                .await
                .map_err(|_| "body not received in time".to_owned())?
                .map_err(|e| format!("body: {e}"))?
                .to_bytes();
            self.sender = Some(sender);
            Ok((status, body))
        }

        /// POSTs `body`; a connection the server had already closed is
        /// retried once on a new one.
        async fn post(&mut self, path: &str, body: &Bytes) -> Result<(StatusCode, Bytes), String> {
            match self.send(path, body).await {
                Ok(answer) => Ok(answer),
                Err(_) => {
                    self.sender = None;
                    self.send(path, body).await
                }
            }
        }
    }

    /// One 200, 400 or 413 answer to `body` (JSON `value`, when it was built from one).
    fn check_answer(
        body: &Bytes,
        value: Option<&Value>,
        status: StatusCode,
        answer: &Bytes,
    ) -> Result<(), String> {
        match status {
            StatusCode::OK => {
                let v: Value = serde_json::from_slice(answer)
                    .map_err(|e| format!("200 with a body that is not JSON ({e})"))?;
                answer::well_formed(&v, value)
            }
            StatusCode::BAD_REQUEST => {
                let text = std::str::from_utf8(answer).map_err(|_| "400 body is not UTF-8")?;
                let line = text.strip_suffix('\n').unwrap_or(text);
                if line.is_empty() || line.contains(['\n', '\r']) {
                    return Err(format!("400 without a one-line reason: {text:?}"));
                }
                Ok(())
            }
            StatusCode::PAYLOAD_TOO_LARGE if body.len() > MAX_BODY_BYTES => Ok(()),
            other => Err(format!(
                "answered {other} to a body of {} bytes: {}",
                body.len(),
                String::from_utf8_lossy(&answer[..answer.len().min(500)])
            )),
        }
    }

    // ---- inputs ----

    const KEYS: [&str; 24] = [
        "apiVersion",
        "kind",
        "request",
        "uid",
        "group",
        "version",
        "operation",
        "namespace",
        "name",
        "object",
        "oldObject",
        "metadata",
        "annotations",
        "ownerReferences",
        "controller",
        "spec",
        "template",
        "jobTemplate",
        "containers",
        "initContainers",
        "ephemeralContainers",
        "image",
        "subResource",
        "dryRun",
    ];

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            "\\PC{0,10}".prop_map(Value::from),
            prop::sample::select(vec![
                "CREATE",
                "UPDATE",
                "Pod",
                "Deployment",
                "CronJob",
                "apps",
                "batch",
                "admission.k8s.io/v1",
                "admission.k8s.io/v1beta1",
                "marsview:latest",
                "image-registry.openshift-image-registry.svc:5000/toms-project/marsview",
                "*",
                "ephemeralcontainers",
                "toms-project",
            ])
            .prop_map(Value::from),
        ];
        let key = prop_oneof![
            4 => prop::sample::select(KEYS.to_vec()).prop_map(str::to_owned),
            1 => "\\PC{0,8}",
        ];
        leaf.prop_recursive(5, 96, 8, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((key.clone(), inner), 0..8)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    /// A valid review of the example streams.
    fn valid_review() -> impl Strategy<Value = Value> {
        (
            0..8usize,
            prop::collection::vec(
                prop::sample::select(vec![
                    "marsview:latest",
                    "marsview",
                    "marsview:next",
                    "marsview:nope",
                    "nginx:1.27",
                    "toolbox:stable",
                    "IMAGE-REGISTRY.openshift-image-registry.svc:5000/shared-images/base:9.4",
                    "image-registry.openshift-image-registry.svc:5000/vault/secret-sauce:1",
                    "image-registry.openshift-image-registry.svc:5000/nowhere/x",
                    "",
                ]),
                1..4,
            ),
            any::<bool>(),
        )
            .prop_map(|(kind, images, owned)| {
                let (group, version, kind) = [
                    ("", "v1", "Pod"),
                    ("", "v1", "ReplicationController"),
                    ("apps", "v1", "Deployment"),
                    ("apps", "v1", "ReplicaSet"),
                    ("apps", "v1", "StatefulSet"),
                    ("apps", "v1", "DaemonSet"),
                    ("batch", "v1", "Job"),
                    ("batch", "v1", "CronJob"),
                ][kind];
                let containers: Vec<Value> = images
                    .iter()
                    .enumerate()
                    .map(|(i, im)| json!({"name": format!("c{i}"), "image": im}))
                    .collect();
                let pod = json!({"containers": containers});
                let template = json!({"metadata": {}, "spec": pod});
                let spec = match kind {
                    "Pod" => pod,
                    "CronJob" => json!({"jobTemplate": {"spec": {"template": template}}}),
                    _ => json!({"template": template}),
                };
                let mut metadata = json!({"name": "w", "namespace": "toms-project"});
                if owned {
                    metadata["ownerReferences"] = json!([{"kind": "ReplicaSet", "controller": true}]);
                }
                let gvk = json!({"group": group, "version": version, "kind": kind});
                json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
                    "uid": "6c1a7d1e-0000-4000-8000-000000000001", "kind": gvk, "requestKind": gvk,
                    "name": "w", "namespace": "toms-project", "operation": "CREATE",
                    "userInfo": {"username": "alice"},
                    "object": {"apiVersion": "v1", "kind": kind, "metadata": metadata, "spec": spec},
                    "oldObject": null, "dryRun": false}})
            })
    }

    #[derive(Debug, Clone)]
    enum Mutation {
        Delete(usize),
        Replace(usize, Value),
        Repeat(usize, usize),
        Nest(usize, usize, bool),
        RenameKey(usize, String),
    }

    fn mutation() -> impl Strategy<Value = Mutation> {
        prop_oneof![
            4 => any::<usize>().prop_map(Mutation::Delete),
            4 => (any::<usize>(), json_value()).prop_map(|(i, v)| Mutation::Replace(i, v)),
            1 => (any::<usize>(), 2..20_000usize).prop_map(|(i, n)| Mutation::Repeat(i, n)),
            1 => (any::<usize>(), 100..3_000usize, any::<bool>()).prop_map(|(i, d, a)| Mutation::Nest(i, d, a)),
            2 => (any::<usize>(), prop_oneof![
                prop::sample::select(KEYS.to_vec()).prop_map(str::to_owned),
                "\\PC{0,6}",
            ]).prop_map(|(i, k)| Mutation::RenameKey(i, k)),
        ]
    }

    fn escape(token: &str) -> String {
        token.replace('~', "~0").replace('/', "~1")
    }

    /// JSON pointers in `v` (root excluded) in document order, down to a
    /// bounded depth and count: nested or repeated input stays cheap to walk.
    fn pointers(v: &Value, at: &str, out: &mut Vec<String>) {
        const MAX_DEPTH: usize = 24;
        const MAX_COUNT: usize = 20_000;
        if out.len() >= MAX_COUNT || at.matches('/').count() >= MAX_DEPTH {
            return;
        }
        let children: Box<dyn Iterator<Item = (String, &Value)>> = match v {
            Value::Object(m) => Box::new(m.iter().map(|(k, c)| (escape(k), c))),
            Value::Array(a) => Box::new(a.iter().enumerate().map(|(i, c)| (i.to_string(), c))),
            _ => return,
        };
        for (token, child) in children {
            if out.len() >= MAX_COUNT {
                return;
            }
            let p = format!("{at}/{token}");
            out.push(p.clone());
            pointers(child, &p, out);
        }
    }

    fn split_pointer(p: &str) -> (&str, String) {
        let (parent, last) = p.rsplit_once('/').unwrap_or(("", p));
        (parent, last.replace("~1", "/").replace("~0", "~"))
    }

    /// Bodies stay well under the size at which the server stops draining
    /// and drops the connection (4 × 3 MiB).
    const MUTATED_BUDGET: usize = 4 * 1024 * 1024;

    fn mutate(doc: &mut Value, m: &Mutation) {
        let mut ps = Vec::new();
        pointers(doc, "", &mut ps);
        if ps.is_empty() {
            return;
        }
        let pick = |i: usize| ps[i % ps.len()].clone();
        match m {
            Mutation::Delete(i) => {
                let p = pick(*i);
                let (parent, last) = split_pointer(&p);
                match doc.pointer_mut(parent) {
                    Some(Value::Object(o)) => {
                        o.remove(&last);
                    }
                    Some(Value::Array(a)) => {
                        if let Ok(idx) = last.parse::<usize>()
                            && idx < a.len()
                        {
                            a.remove(idx);
                        }
                    }
                    _ => {}
                }
            }
            Mutation::Replace(i, v) => {
                if let Some(slot) = doc.pointer_mut(&pick(*i)) {
                    *slot = v.clone();
                }
            }
            Mutation::Repeat(i, n) => {
                if let Some(slot) = doc.pointer_mut(&pick(*i)) {
                    let size = serde_json::to_vec(slot).map_or(1, |b| b.len()) + 1;
                    let n = (*n).min(MUTATED_BUDGET / size).max(1);
                    *slot = Value::Array(vec![slot.clone(); n]);
                }
            }
            Mutation::Nest(i, depth, arrays) => {
                if let Some(slot) = doc.pointer_mut(&pick(*i)) {
                    let mut v = slot.take();
                    for _ in 0..*depth {
                        v = if *arrays {
                            Value::Array(vec![v])
                        } else {
                            // Not `json!`, which would copy `v` at every level.
                            Value::Object([("spec".to_owned(), v)].into_iter().collect())
                        };
                    }
                    *slot = v;
                }
            }
            Mutation::RenameKey(i, key) => {
                let p = pick(*i);
                let (parent, last) = split_pointer(&p);
                if let Some(Value::Object(o)) = doc.pointer_mut(parent)
                    && let Some(v) = o.remove(&last)
                {
                    o.insert(key.clone(), v);
                }
            }
        }
    }

    #[derive(Debug, Clone)]
    enum Input {
        Bytes(Vec<u8>),
        Json(Value),
        /// A valid review as it is; the answer must be 200.
        Valid(Value),
        Mutated(Value, Vec<Mutation>),
    }

    fn input() -> impl Strategy<Value = Input> {
        prop_oneof![
            2 => prop::collection::vec(any::<u8>(), 0..2048).prop_map(Input::Bytes),
            1 => "\\PC{0,64}".prop_map(|s| Input::Bytes(s.into_bytes())),
            3 => json_value().prop_map(Input::Json),
            2 => json_value().prop_map(|request| Input::Json(json!({
                "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}))),
            2 => (json_value(), json_value(), json_value(), json_value()).prop_map(|(kind, op, sub, object)| Input::Json(json!({
                "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
                    "uid": "u-1", "kind": kind, "operation": op, "subResource": sub, "object": object}}))),
            1 => valid_review().prop_map(Input::Valid),
            5 => (valid_review(), prop::collection::vec(mutation(), 1..4)).prop_map(|(v, ms)| Input::Mutated(v, ms)),
        ]
    }

    impl Input {
        fn body(&self) -> (Bytes, Option<Value>) {
            match self {
                Input::Bytes(b) => (Bytes::from(b.clone()), None),
                Input::Json(v) | Input::Valid(v) => (
                    Bytes::from(serde_json::to_vec(v).unwrap_or_default()),
                    Some(v.clone()),
                ),
                Input::Mutated(v, ms) => {
                    let mut doc = v.clone();
                    for m in ms {
                        mutate(&mut doc, m);
                    }
                    (
                        Bytes::from(serde_json::to_vec(&doc).unwrap_or_default()),
                        Some(doc),
                    )
                }
            }
        }
    }

    fn repo_file(rel: &str) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// The README's example pod: marsview:latest pinned to its newest digest.
    async fn answers_a_valid_review(client: &mut Client) -> Result<(), String> {
        let review = repo_file("examples/pod-review.json");
        let (status, body) = client.post("/mutate", &Bytes::from(review)).await?;
        if status != StatusCode::OK {
            return Err(format!("valid review answered {status}"));
        }
        let v: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        let patch = answer::patch(&v)?;
        let pinned = repo_file("manifests/examples/marsview.yaml")
            .lines()
            .find_map(|l| l.trim().strip_prefix("dockerImageReference: "))
            .unwrap_or_default()
            .to_owned();
        if v["response"]["allowed"] != true
            || patch != [("/spec/containers/0/image".to_owned(), pinned)]
        {
            return Err(format!("valid review answered wrongly: {v}"));
        }
        Ok(())
    }

    #[test]
    fn the_server_answers_anything_and_stays_up() {
        // Deeply nested inputs are built, walked and serialized recursively here.
        let run = std::thread::Builder::new()
            .stack_size(256 << 20)
            .spawn(server_properties)
            .expect("thread");
        if let Err(panic) = run.join() {
            std::panic::resume_unwind(panic);
        }
    }

    fn server_properties() {
        let mut server = Server::start();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let client = RefCell::new(Client {
            addr: server.addr,
            connector: server.connector.clone(),
            sender: None,
        });
        rt.block_on(answers_a_valid_review(&mut client.borrow_mut()))
            .expect("before the run");

        // Edges no random input reaches: the size limit from both sides,
        // deep nesting where nothing is read, an empty body.
        let edges: Vec<(&str, Bytes)> = {
            let review = repo_file("examples/pod-review.json");
            let review = review.trim_end();
            let padding = MAX_BODY_BYTES - review.len();
            let at_limit = format!("{review}{}", " ".repeat(padding));
            let over_limit = format!("{review}{}", " ".repeat(padding + 1));
            let deep = format!(
                "{{\"request\":{{\"uid\":\"u\",\"options\":{}1{}}}}}",
                "[".repeat(200_000),
                "]".repeat(200_000)
            );
            let deep_spec = format!(
                "{{\"request\":{{\"uid\":\"u\",\"kind\":{{\"kind\":\"Pod\"}},\"operation\":\"CREATE\",\"object\":{}{{}}{}}}}}",
                "{\"spec\":{\"template\":".repeat(5_000),
                "}}".repeat(5_000)
            );
            vec![
                ("at the limit", Bytes::from(at_limit)),
                ("over the limit", Bytes::from(over_limit)),
                ("deeply nested, ignored", Bytes::from(deep)),
                ("deeply nested templates", Bytes::from(deep_spec)),
                ("empty", Bytes::new()),
            ]
        };
        for (what, body) in &edges {
            for path in ["/mutate", "/validate"] {
                let (status, answer) = rt
                    .block_on(client.borrow_mut().post(path, body))
                    .unwrap_or_else(|e| {
                        panic!("{what} {path}: {e}\nserver log:\n{}", server.log())
                    });
                let value = serde_json::from_slice::<Value>(body).ok();
                check_answer(body, value.as_ref(), status, &answer)
                    .unwrap_or_else(|e| panic!("{what} {path}: {e}"));
                let want = match *what {
                    "at the limit" => StatusCode::OK,
                    "over the limit" => StatusCode::PAYLOAD_TOO_LARGE,
                    _ => StatusCode::BAD_REQUEST,
                };
                assert_eq!(status, want, "{what} {path}");
            }
        }

        check_all(config(300), &input(), |input| {
            let (body, value) = input.body();
            for path in ["/mutate", "/validate"] {
                let (status, answer) = rt
                    .block_on(client.borrow_mut().post(path, &body))
                    .map_err(|e| fail(format!("{path}: {e}")))?;
                check_answer(&body, value.as_ref(), status, &answer)
                    .map_err(|e| fail(format!("{path}: {e}")))?;
                if let Input::Valid(_) = input {
                    prop_assert_eq!(status, StatusCode::OK, "{}: a valid review", path);
                }
            }
            Ok(())
        });

        assert!(server.alive(), "the server exited:\n{}", server.log());
        rt.block_on(answers_a_valid_review(&mut client.borrow_mut()))
            .expect("after the run");
        let log = server.log();
        assert!(!log.contains("panicked"), "the server panicked:\n{log}");
    }
}
