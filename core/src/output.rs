//! Objects printed as oc prints them with `-o yaml` or `-o json`: keys sorted
//! at every level (oc goes through JSON, and sigs.k8s.io/yaml sorts), and a
//! `v1` `List` around several objects.

use serde_json::{Map, Value};

/// How `-o` prints objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
}

/// `v` with the keys of every mapping in it sorted.
pub fn sorted(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, sorted(v)))
                    .collect::<Map<String, Value>>(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// A `v1` `List` of `items`, as `oc … -o yaml` prints several objects.
pub fn list(items: Vec<Value>) -> Value {
    serde_json::json!({
        "apiVersion": "v1",
        "items": items,
        "kind": "List",
        "metadata": {},
    })
}

/// `v` as text, keys sorted; JSON indented as oc indents it, with a final newline.
pub fn render(v: &impl serde::Serialize, format: Format) -> Result<String, String> {
    let value = sorted(serde_json::to_value(v).map_err(|e| e.to_string())?);
    match format {
        Format::Json => serde_json::to_string_pretty(&value)
            .map(|s| s + "\n")
            .map_err(|e| e.to_string()),
        Format::Yaml => serde_saphyr::to_string(&value).map_err(|e| e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_sorted_at_every_level() {
        let v = json!({"kind": "List", "apiVersion": "v1", "items": [{"spec": {"z": 1, "a": {}}, "metadata": {"name": "x"}}]});
        let text = serde_json::to_string(&sorted(v)).expect("json");
        assert_eq!(
            text,
            r#"{"apiVersion":"v1","items":[{"metadata":{"name":"x"},"spec":{"a":{},"z":1}}],"kind":"List"}"#
        );
    }

    #[test]
    fn yaml_and_json_read_back_as_the_object() {
        let v = list(vec![
            json!({"kind": "Deployment", "spec": {"strategy": {}, "image": " ", "n": "8080"}}),
        ]);
        for format in [Format::Yaml, Format::Json] {
            let text = render(&v, format).expect("renders");
            let back: Value = serde_saphyr::from_str(&text).expect("reads back");
            assert_eq!(back, v, "{format:?}: {text}");
            assert!(text.ends_with('\n'));
        }
        let yaml = render(&v, Format::Yaml).expect("renders");
        assert!(yaml.starts_with("apiVersion: v1\nitems:\n"), "{yaml}");
    }
}
