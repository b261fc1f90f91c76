//! The items of a list body: objects without `kind`/`apiVersion`.

use serde::ser::{SerializeMap, Serializer};
use serde_json::Value;

/// A list item: the object without `kind`/`apiVersion`, serialised without copying.
pub(crate) struct Item<'a>(pub &'a Value);

impl serde::Serialize for Item<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(m) => {
                let mut out = serializer.serialize_map(None)?;
                for (k, v) in m {
                    if k != "kind" && k != "apiVersion" {
                        out.serialize_entry(k, v)?;
                    }
                }
                out.end()
            }
            other => other.serialize(serializer),
        }
    }
}
