//! Secrets as they arrive in text: a YAML document of the streams directory,
//! or the API server's list. Their values are credentials: errors name the
//! Secret, the data key and the position, never a value.

use base64::Engine as _;
use k8s_openapi::api::core::v1::Secret;
use serde_json::Value;

/// Reads a Secret from the text of one YAML document, as directory mode
/// finds it in a file.
///
/// The values are credentials, so an error names the Secret, the data key
/// and the position, never a value: the YAML parser's own message quotes the
/// source line, which is never passed on. Data values are base64 as the API
/// server reads them (line breaks are skipped, as Go's decoder does), and
/// `stringData` is merged into `data` as the API server merges it on write.
pub fn secret_from_yaml(text: &str) -> Result<Secret, String> {
    let doc: SecretDocument<serde_saphyr::Spanned<String>> =
        serde_saphyr::from_str(text).map_err(|e| {
            // A document that does not parse may not give its name either;
            // a duplicate key elsewhere need not hide it.
            let options = serde_saphyr::options! {
                duplicate_keys: serde_saphyr::DuplicateKeyPolicy::LastWins,
            };
            let name = serde_saphyr::from_str_with_options::<WithName>(text, options).map_or_else(
                |_| "Secret".to_owned(),
                |w| w.metadata.unwrap_or_default().describe(),
            );
            format!("{name}: {}", redacted_yaml_error(&e, 1))
        })?;
    doc.into_secret(|value| {
        let at = value.referenced;
        let position =
            (at.line() > 0).then(|| format!(" (line {}, column {})", at.line(), at.column()));
        (value.value, position)
    })
}

/// Reads a Secret from a parsed document (a JSON file, or an item of a
/// `List`); errors as in [`secret_from_yaml`], without line and column,
/// which a parsed document no longer has.
pub fn secret_from_value(doc: Value) -> Result<Secret, String> {
    let name = NameOnly::of_value(&doc).describe();
    let doc: SecretDocument<String> =
        serde_json::from_value(doc).map_err(|e| format!("{name}: {}", redacted_json_error(&e)))?;
    doc.into_secret(|value| (value, None))
}

/// The Secrets of a `SecretList` answer from the API server, each read as
/// [`secret_from_value`] reads it: one that does not parse is left out and
/// named in the returned warnings, never shown; the error, for an answer
/// that is no list at all, quotes nothing of it either.
pub fn secrets_from_list(text: &str) -> Result<(Vec<Secret>, Vec<String>), String> {
    #[derive(serde::Deserialize)]
    struct List {
        #[serde(default)]
        items: Option<Vec<Value>>,
    }
    let list: List = serde_json::from_str(text).map_err(|e| {
        format!(
            "the Secret list does not parse: {}",
            redacted_json_error(&e)
        )
    })?;
    let mut secrets = Vec::new();
    let mut warnings = Vec::new();
    for item in list.items.into_iter().flatten() {
        match secret_from_value(item) {
            Ok(secret) => secrets.push(secret),
            Err(e) => warnings.push(e),
        }
    }
    Ok((secrets, warnings))
}

/// A YAML parse error of a document that may hold credentials: its position
/// and the kind of problem, without the source text, the parser's snippet or
/// any value the message would quote.
/// `first_line` is the line of its file the parsed text starts on.
pub fn redacted_yaml_error(e: &serde_saphyr::Error, first_line: usize) -> String {
    use serde_saphyr::Error as E;
    // Only fields that hold no input are used: the names of types, fields
    // and YAML syntax errors (the parser's messages are a fixed list).
    let what = match e.without_snippet() {
        E::SerdeInvalidType { expected, .. }
        | E::SerdeInvalidValue { expected, .. }
        | E::SerdeInvalidLength { expected, .. } => format!("expected {expected}"),
        E::Unexpected { expected, .. } => format!("expected {expected}"),
        E::SerdeMissingField { field, .. } => format!("missing field {field:?}"),
        E::DuplicateMappingKey { .. } => "a key appears twice in one mapping".to_owned(),
        E::ExternalMessage { msg, .. } => msg.clone(),
        E::Message { msg, .. } => expected_part(msg),
        E::InvalidUtf8Input => "the text is not UTF-8".to_owned(),
        E::Eof { .. } => "the document ends too early".to_owned(),
        _ => "not valid YAML for this object".to_owned(),
    };
    match e.location() {
        Some(at) if at.line() > 0 => format!(
            "line {}, column {}: {what} (the text is not shown: it may hold a credential)",
            at.line() as usize + first_line.saturating_sub(1),
            at.column()
        ),
        _ => format!("{what} (the text is not shown: it may hold a credential)"),
    }
}

/// serde_json's message for a typed parse, without the value it quotes.
pub fn redacted_json_error(e: &serde_json::Error) -> String {
    format!(
        "{} (the value is not shown: it may hold a credential)",
        expected_part(&e.to_string())
    )
}

/// What a serde message says was expected: serde ends its own messages with
/// ", expected …", which describes a type, never the input; the rest of the
/// message may quote the input, so it is dropped.
pub fn expected_part(message: &str) -> String {
    match message.rsplit_once(", expected ") {
        Some((_, expected)) => format!("expected {expected}"),
        None => match message.strip_prefix("missing field `") {
            Some(rest) => format!(
                "missing field {:?}",
                rest.split('`').next().unwrap_or_default()
            ),
            None => "not valid for this object".to_owned(),
        },
    }
}

/// The fields of a Secret, with data values still as written.
#[derive(serde::Deserialize)]
#[serde(
    rename_all = "camelCase",
    bound(deserialize = "V: serde::Deserialize<'de>")
)]
pub struct SecretDocument<V> {
    #[serde(default)]
    pub api_version: Option<String>,
    #[serde(default)]
    pub metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    #[serde(default, rename = "type")]
    pub type_: Option<String>,
    #[serde(default)]
    pub data: Option<std::collections::BTreeMap<String, Option<V>>>,
    #[serde(default)]
    pub string_data: Option<std::collections::BTreeMap<String, Option<String>>>,
    #[serde(default)]
    pub immutable: Option<bool>,
}

impl<V> SecretDocument<V> {
    /// Decodes `data`; `text` gives a value's text and, when known, where
    /// it is.
    pub fn into_secret(
        self,
        text: impl Fn(V) -> (String, Option<String>),
    ) -> Result<Secret, String> {
        let name = NameOnly {
            name: self.metadata.name.clone(),
            namespace: self.metadata.namespace.clone(),
        }
        .describe();
        if let Some(version) = self.api_version.as_deref().filter(|v| *v != "v1") {
            return Err(format!("{name}: apiVersion {version:?} is not v1"));
        }
        let mut data = std::collections::BTreeMap::new();
        for (key, value) in self.data.into_iter().flatten() {
            let bytes = match value {
                None => Vec::new(),
                Some(value) => {
                    let (value, position) = text(value);
                    decode_data(&value).map_err(|at| {
                        format!(
                            "{name}: data key {key:?}{} is not valid base64 (at character {at} of the value; the value is not shown: it may hold a credential). Write base64 under data, or the plain text under stringData",
                            position.unwrap_or_default()
                        )
                    })?
                }
            };
            data.insert(key, k8s_openapi::ByteString(bytes));
        }
        // The API server merges stringData into data on write, stringData winning.
        for (key, value) in self.string_data.into_iter().flatten() {
            data.insert(
                key,
                k8s_openapi::ByteString(value.unwrap_or_default().into_bytes()),
            );
        }
        Ok(Secret {
            data: (!data.is_empty()).then_some(data),
            immutable: self.immutable,
            metadata: self.metadata,
            string_data: None,
            type_: self.type_,
        })
    }
}

/// Base64 as the API server decodes a Secret's data (Go's `StdEncoding`,
/// which skips line breaks); the error is the character where it failed.
pub fn decode_data(value: &str) -> Result<Vec<u8>, usize> {
    let compact: String = value
        .chars()
        .filter(|c| !matches!(c, '\r' | '\n'))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|e| match e {
            base64::DecodeError::InvalidByte(at, _)
            | base64::DecodeError::InvalidLastSymbol(at, _) => at + 1,
            _ => compact.len(),
        })
}

/// Just the name of a Secret, to say which one an error is about.
#[derive(serde::Deserialize, Default)]
pub struct NameOnly {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
}

#[derive(serde::Deserialize)]
pub struct WithName {
    #[serde(default)]
    pub metadata: Option<NameOnly>,
}

impl NameOnly {
    pub fn of_value(doc: &Value) -> NameOnly {
        let text = |field: &str| {
            doc.pointer(&format!("/metadata/{field}"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        NameOnly {
            name: text("name"),
            namespace: text("namespace"),
        }
    }

    pub fn describe(&self) -> String {
        let name = self.name.as_deref().unwrap_or("<unnamed>");
        match self.namespace.as_deref().filter(|ns| !ns.is_empty()) {
            Some(ns) => format!("Secret {ns}/{name}"),
            None => format!("Secret {name}"),
        }
    }
}
