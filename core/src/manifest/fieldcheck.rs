//! Strict field validation of objects read from files, as `kubectl
//! --validate=strict` does it: a field the type does not know (`form:` for
//! `from:`, `locl: true`) is reported with the file's line, rather than
//! dropped without a word.
//!
//! Unknown fields are found while the object is typed (serde_ignored sees
//! every value the type skips), so a file without typos costs no second
//! parse; only when there is something to report is the text parsed once
//! more, for the lines. Cluster mode never comes here: the API server has
//! already pruned what its schema does not know.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};

/// One step of a path into an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// Where a field is in its object: `spec.tags[0].form`, as kubectl writes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldPath(pub Vec<Segment>);

impl FieldPath {
    fn of(path: &serde_ignored::Path<'_>) -> FieldPath {
        let mut out = Vec::new();
        let mut at = path;
        loop {
            match at {
                serde_ignored::Path::Root => break,
                serde_ignored::Path::Seq { parent, index } => {
                    out.push(Segment::Index(*index));
                    at = parent;
                }
                serde_ignored::Path::Map { parent, key } => {
                    out.push(Segment::Key(key.clone()));
                    at = parent;
                }
                serde_ignored::Path::Some { parent }
                | serde_ignored::Path::NewtypeStruct { parent }
                | serde_ignored::Path::NewtypeVariant { parent } => at = parent,
            }
        }
        out.reverse();
        FieldPath(out)
    }

    /// This path below `prefix` (an item of a `List`).
    pub fn under(&self, prefix: &FieldPath) -> FieldPath {
        FieldPath(prefix.0.iter().chain(&self.0).cloned().collect())
    }

    /// A path of the top-level field `key`.
    pub fn key(key: &str) -> FieldPath {
        FieldPath(vec![Segment::Key(key.to_owned())])
    }

    fn is_type_meta(&self) -> bool {
        matches!(self.0.as_slice(), [Segment::Key(k)] if k == "apiVersion" || k == "kind")
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(k) if i == 0 => write!(f, "{k}")?,
                Segment::Key(k) => write!(f, ".{k}")?,
                Segment::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// A field of a file's object that its type does not know: it is ignored,
/// as the API server prunes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldWarning {
    /// 1-based line in the file; 0 when it could not be found.
    pub line: usize,
    /// The object: `ImageStream demo/app`.
    pub object: String,
    pub field: FieldPath,
}

/// The warning without its place (see `dirstore::located` for `FILE:LINE`).
impl fmt::Display for FieldWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: unknown field \"{}\" (ignored, as the API server would drop it)",
            self.object, self.field
        )
    }
}

/// Types one YAML document, with the fields its type did not know.
/// `apiVersion` and `kind` are never reported: types that leave them out
/// know them by other means.
pub fn from_yaml<T: DeserializeOwned>(
    text: &str,
) -> Result<(T, Vec<FieldPath>), serde_saphyr::Error> {
    serde_saphyr::with_deserializer_from_str(text, |de| {
        let mut unknown = Vec::new();
        let value = serde_ignored::deserialize(de, |p| unknown.push(FieldPath::of(&p)))?;
        unknown.retain(|p| !p.is_type_meta());
        Ok((value, unknown))
    })
}

/// The same from an untyped JSON value.
pub fn from_value<T: DeserializeOwned>(
    value: serde_json::Value,
) -> Result<(T, Vec<FieldPath>), serde_json::Error> {
    let mut unknown = Vec::new();
    let typed = serde_ignored::deserialize(value, |p| unknown.push(FieldPath::of(&p)))?;
    unknown.retain(|p| !p.is_type_meta());
    Ok((typed, unknown))
}

/// The 1-based lines of `paths` in `text` (YAML, or JSON, which YAML 1.2
/// reads too): the line of each path's last key, or of the value for an
/// index; 0 where the text does not parse or the path is not there.
pub fn lines_of(text: &str, paths: &[FieldPath]) -> Vec<usize> {
    let Ok(tree) = serde_saphyr::from_str::<Node>(text) else {
        return vec![0; paths.len()];
    };
    paths.iter().map(|p| tree.line_of(&p.0)).collect()
}

/// A YAML tree with the line of every key and value, only as deep as paths
/// need: scalars are not kept.
#[derive(Debug)]
struct Node {
    line: usize,
    shape: Shape,
}

#[derive(Debug)]
enum Shape {
    Map(Vec<(String, usize, Node)>),
    Seq(Vec<Node>),
    Scalar,
}

impl Node {
    fn line_of(&self, path: &[Segment]) -> usize {
        let Some((first, rest)) = path.split_first() else {
            return self.line;
        };
        match (first, &self.shape) {
            (Segment::Key(k), Shape::Map(entries)) => {
                match entries.iter().rev().find(|(key, _, _)| key == k) {
                    Some((_, line, _)) if rest.is_empty() => *line,
                    Some((_, _, child)) => child.line_of(rest),
                    None => 0,
                }
            }
            (Segment::Index(i), Shape::Seq(items)) => items.get(*i).map_or(0, |n| n.line_of(rest)),
            _ => 0,
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        let spanned = serde_saphyr::Spanned::<Shape>::deserialize(d)?;
        Ok(Node {
            line: usize::try_from(spanned.referenced.line()).unwrap_or(0),
            shape: spanned.value,
        })
    }
}

/// A map key as text, with its line.
struct Key {
    text: String,
    line: usize,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
        let spanned = serde_saphyr::Spanned::<KeyText>::deserialize(d)?;
        Ok(Key {
            text: spanned.value.0,
            line: usize::try_from(spanned.referenced.line()).unwrap_or(0),
        })
    }
}

/// A key's text, whatever scalar it is; a complex key is no field's name.
struct KeyText(String);

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<KeyText, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = KeyText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyText, E> {
                Ok(KeyText(v.to_owned()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<KeyText, E> {
                Ok(KeyText(String::new()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<KeyText, A::Error> {
                while map
                    .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(KeyText(String::new()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<KeyText, A::Error> {
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(KeyText(String::new()))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Shape {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Shape, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Shape;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Shape, E> {
                Ok(Shape::Scalar)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Shape, E> {
                Ok(Shape::Scalar)
            }
            fn visit_i128<E: de::Error>(self, _: i128) -> Result<Shape, E> {
                Ok(Shape::Scalar)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Shape, E> {
                Ok(Shape::Scalar)
            }
            fn visit_u128<E: de::Error>(self, _: u128) -> Result<Shape, E> {
                Ok(Shape::Scalar)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Shape, E> {
                Ok(Shape::Scalar)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Shape, E> {
                Ok(Shape::Scalar)
            }
            fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Shape, E> {
                Ok(Shape::Scalar)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Shape, E> {
                Ok(Shape::Scalar)
            }
            fn visit_none<E: de::Error>(self) -> Result<Shape, E> {
                Ok(Shape::Scalar)
            }
            fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Shape, D2::Error> {
                Shape::deserialize(d)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
                let mut items = Vec::new();
                while let Some(n) = seq.next_element::<Node>()? {
                    items.push(n);
                }
                Ok(Shape::Seq(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
                let mut entries = Vec::new();
                while let Some(k) = map.next_key::<Key>()? {
                    let v = map.next_value::<Node>()?;
                    entries.push((k.text, k.line, v));
                }
                Ok(Shape::Map(entries))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code, reason = "the fields are only parsed")]
    struct Outer {
        spec: Inner,
        #[serde(default)]
        list: Vec<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code, reason = "the fields are only parsed")]
    struct Inner {
        #[serde(default)]
        from: Option<String>,
    }

    #[test]
    fn unknown_fields_are_found_with_their_lines() {
        let text = "apiVersion: x/v1\nkind: K\nspec:\n  form: a\nlist:\n- from: b\n- {frm: c}\n- from: d\n  # note\n  fron:\n    deep: 1\nextra: [1, 2]\n";
        let (_, unknown): (Outer, _) = from_yaml(text).expect("parses");
        let shown: Vec<String> = unknown.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["spec.form", "list[1].frm", "list[2].fron", "extra"]);
        assert_eq!(lines_of(text, &unknown), [4, 7, 10, 12]);

        let json = serde_json::json!({"spec": {"from": "a", "x": 1}, "list": [{"y": 2}]});
        let (_, unknown): (Outer, _) = from_value(json).expect("parses");
        let shown: Vec<String> = unknown.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["spec.x", "list[0].y"]);
        let json_text =
            "{\n  \"spec\": {\"from\": \"a\",\n    \"x\": 1},\n  \"list\": [\n    {\"y\": 2}]\n}\n";
        assert_eq!(lines_of(json_text, &unknown), [3, 5]);
    }

    #[test]
    fn paths_not_in_the_text_have_no_line() {
        let path = FieldPath(vec![Segment::Key("a".into()), Segment::Index(3)]);
        assert_eq!(lines_of("a: [1]\n", std::slice::from_ref(&path)), [0]);
        assert_eq!(lines_of("a: [\n", &[path]), [0]);
    }
}
