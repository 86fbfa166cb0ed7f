//! serde adapters for the format's string maps (`config`, `fields`): kept
//! in order, scalars read back as text.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;

/// serde adapter: a JSON object of string values, kept in order.
pub(super) mod string_pairs {
    use super::*;
    use serde::de::{MapAccess, Visitor};
    use serde::ser::SerializeMap;
    use serde::{Deserializer, Serializer};

    type Pairs<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;

    pub fn serialize<S: Serializer>(pairs: &Pairs<'_>, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(pairs.len()))?;
        for (k, v) in pairs {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }

    pub fn deserialize<'de: 'a, 'a, D: Deserializer<'de>>(d: D) -> Result<Pairs<'a>, D::Error> {
        struct PairsVisitor;
        impl<'de> Visitor<'de> for PairsVisitor {
            type Value = Pairs<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of strings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Pairs<'de>, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<Cow<'de, str>, super::Scalar<'de>>()? {
                    out.push((k, v.0));
                }
                Ok(out)
            }
        }
        d.deserialize_map(PairsVisitor)
    }
}

/// serde adapter for `fields`: written as JSON scalars (numbers and booleans
/// stay numbers and booleans when they look like one), read back as text.
pub(super) mod scalar_pairs {
    use super::*;
    use serde::ser::SerializeMap;
    use serde::{Deserializer, Serializer};

    type Pairs<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;

    pub fn serialize<S: Serializer>(pairs: &Pairs<'_>, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(pairs.len()))?;
        for (k, v) in pairs {
            if let Ok(n) = v.parse::<i64>() {
                map.serialize_entry(k, &n)?;
            } else if v == "true" || v == "false" {
                map.serialize_entry(k, &(v == "true"))?;
            } else {
                map.serialize_entry(k, v)?;
            }
        }
        map.end()
    }

    pub fn deserialize<'de: 'a, 'a, D: Deserializer<'de>>(d: D) -> Result<Pairs<'a>, D::Error> {
        super::string_pairs::deserialize(d)
    }
}

/// Any JSON scalar, read as text (`null` becomes empty).
struct Scalar<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Scalar<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number, boolean or null")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Scalar<'de>, E> {
                Ok(Scalar(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar<'de>, E> {
                Ok(Scalar(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Scalar<'de>, E> {
                Ok(Scalar(Cow::Owned(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar<'de>, E> {
                Ok(Scalar(Cow::Owned(v.to_string())))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar<'de>, E> {
                Ok(Scalar(Cow::Owned(v.to_string())))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar<'de>, E> {
                Ok(Scalar(Cow::Owned(v.to_string())))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Scalar<'de>, E> {
                Ok(Scalar(Cow::Borrowed(if v { "true" } else { "false" })))
            }
            fn visit_unit<E>(self) -> Result<Scalar<'de>, E> {
                Ok(Scalar(Cow::Borrowed("")))
            }
        }
        d.deserialize_any(V)
    }
}
