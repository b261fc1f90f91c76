//! FleetLock id → Kubernetes node mapping.
//!
//! Zincati identifies itself with systemd's *app-specific machine id*
//! (`sd_id128_get_machine_app_specific`): HMAC-SHA256 keyed with the 16 bytes of
//! `/etc/machine-id`, over the 16 bytes of Zincati's app id
//! `de35106b6ec24688b63afddaa156679b`; the first 16 bytes of the MAC, with the UUID version 4
//! and variant bits set, in lowercase hex. A node's `status.nodeInfo.machineID` is that machine
//! id, so the server can derive the same value. [`NodeIndex`] also accepts the node name, the
//! raw machine id and the derivation from `systemUUID` (dashes removed), in that precedence
//! after the machineID derivation. Two nodes answering to the same id at the same precedence
//! are ambiguous: an error, never a guess.

use std::collections::HashMap;
use std::sync::Arc;

use ring::hmac;

/// Zincati's systemd app id.
pub const ZINCATI_APP_ID: [u8; 16] = [
    0xde, 0x35, 0x10, 0x6b, 0x6e, 0xc2, 0x46, 0x88, 0xb6, 0x3a, 0xfd, 0xda, 0xa1, 0x56, 0x67, 0x9b,
];

/// Parses 32 hex digits (dashes ignored, any case) into 16 bytes.
pub fn parse_id128(text: &str) -> Option<[u8; 16]> {
    let hex: Vec<u8> = text.bytes().filter(|b| *b != b'-').collect();
    if hex.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, pair) in hex.chunks_exact(2).enumerate() {
        let hi = char::from(pair[0]).to_digit(16)?;
        let lo = char::from(pair[1]).to_digit(16)?;
        out[i] = u8::try_from(hi * 16 + lo).ok()?;
    }
    Some(out)
}

/// systemd's app-specific id of `machine_id` for `app_id`, as lowercase hex.
pub fn app_specific_id(machine_id: &[u8; 16], app_id: &[u8; 16]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, machine_id);
    let tag = hmac::sign(&key, app_id);
    let mut id = [0u8; 16];
    id.copy_from_slice(&tag.as_ref()[..16]);
    id[6] = (id[6] & 0x0f) | 0x40; // version 4
    id[8] = (id[8] & 0x3f) | 0x80; // RFC 4122 variant
    hex(&id)
}

/// Lowercase hex of 16 bytes.
fn hex(bytes: &[u8; 16]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(32);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Zincati's FleetLock id for a node whose machine id is `machine_id` (hex, dashes allowed).
pub fn zincati_id(machine_id: &str) -> Option<String> {
    parse_id128(machine_id).map(|m| app_specific_id(&m, &ZINCATI_APP_ID))
}

/// What the index needs to know about a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeIdentity {
    /// `metadata.name`.
    pub name: String,
    /// `status.nodeInfo.machineID`.
    pub machine_id: Option<String>,
    /// `status.nodeInfo.systemUUID`.
    pub system_uuid: Option<String>,
}

/// Why an id did not map to exactly one node.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// Several nodes answer to the id (e.g. cloned machine ids).
    #[error("id {id} matches several nodes by {by}: {}", nodes.join(", "))]
    Ambiguous {
        /// The id asked for.
        id: String,
        /// Which rule matched (`machineID app id`, `machineID`, `name`, `systemUUID app id`).
        by: &'static str,
        /// The nodes.
        nodes: Vec<String>,
    },
}

/// Which id form a table maps, in precedence order.
const RULES: [&str; 4] = ["machineID app id", "machineID", "name", "systemUUID app id"];

/// The keys one node is reachable by, one per rule (`None`: the node has no such key).
type Keys = [Option<String>; 4];

fn keys_of(node: &NodeIdentity) -> Keys {
    let mid = node.machine_id.as_deref().and_then(parse_id128);
    [
        mid.map(|m| app_specific_id(&m, &ZINCATI_APP_ID)),
        mid.map(|m| hex(&m)),
        Some(node.name.clone()),
        node.system_uuid
            .as_deref()
            .and_then(parse_id128)
            .map(|u| app_specific_id(&u, &ZINCATI_APP_ID)),
    ]
}

/// Lookup tables from every accepted id form to node names, updated node by node (a watch
/// event costs at most two HMACs, and none when the node's ids did not change).
#[derive(Clone, Debug, Default)]
pub struct NodeIndex {
    /// One table per rule in [`RULES`] order: id → names of the nodes answering to it.
    tables: [HashMap<String, Vec<Arc<str>>>; 4],
    /// Every node with the identity it was indexed under and the keys derived from it.
    nodes: HashMap<Arc<str>, (NodeIdentity, Keys)>,
}

impl NodeIndex {
    /// Builds the index.
    pub fn new<'a>(nodes: impl IntoIterator<Item = &'a NodeIdentity>) -> Self {
        let mut index = Self::default();
        for node in nodes {
            index.upsert(node);
        }
        index
    }

    /// How many nodes are indexed.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether no node is indexed.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Adds `node`, or updates it when its ids changed (a no-op when they did not).
    pub fn upsert(&mut self, node: &NodeIdentity) {
        if self
            .nodes
            .get(node.name.as_str())
            .is_some_and(|(known, _)| known == node)
        {
            return;
        }
        self.remove(&node.name);
        let name: Arc<str> = Arc::from(node.name.as_str());
        let keys = keys_of(node);
        for (table, key) in self.tables.iter_mut().zip(&keys) {
            if let Some(key) = key {
                table
                    .entry(key.clone())
                    .or_default()
                    .push(Arc::clone(&name));
            }
        }
        self.nodes.insert(name, (node.clone(), keys));
    }

    /// Forgets the node called `name` (a no-op for an unknown name).
    pub fn remove(&mut self, name: &str) {
        let Some((_, keys)) = self.nodes.remove(name) else {
            return;
        };
        for (table, key) in self.tables.iter_mut().zip(keys) {
            let Some(key) = key else { continue };
            if let Some(names) = table.get_mut(&key) {
                names.retain(|n| &**n != name);
                if names.is_empty() {
                    table.remove(&key);
                }
            }
        }
    }

    /// The node `id` names, `Ok(None)` if none (a plain fleet machine).
    pub fn lookup(&self, id: &str) -> Result<Option<&str>, LookupError> {
        for (by, table) in RULES.into_iter().zip(&self.tables) {
            match table.get(id).map(Vec::as_slice) {
                Some([one]) => return Ok(Some(one)),
                Some(many) if !many.is_empty() => {
                    let mut nodes: Vec<String> = many.iter().map(ToString::to_string).collect();
                    nodes.sort();
                    return Err(LookupError::Ambiguous {
                        id: id.to_owned(),
                        by,
                        nodes,
                    });
                }
                _ => {}
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Computed independently with Python's hmac/hashlib:
    /// `d = bytearray(hmac.new(bytes.fromhex(mid), bytes.fromhex(APP), hashlib.sha256)
    ///  .digest()[:16]); d[6] = d[6] & 0x0F | 0x40; d[8] = d[8] & 0x3F | 0x80; d.hex()`.
    const VECTORS: [(&str, &str); 4] = [
        (
            "c988d2509fdf4cdcbed39037c56406fb",
            "501ec20cfa2540778193fbc73db10236",
        ),
        (
            "00000000000000000000000000000000",
            "b2d483eea99241a7be4ed2928b63e5d5",
        ),
        (
            "0123456789abcdef0123456789abcdef",
            "583627a932274834a8ebd99f4ed41c0d",
        ),
        (
            "ec2a7b0f5e6c4d1f9b8a3c2d1e0f9a8b",
            "c2ff67da8ae34cc8b668e6d6b7197be6",
        ),
    ];

    #[test]
    fn matches_independent_vectors() {
        for (mid, want) in VECTORS {
            assert_eq!(zincati_id(mid).as_deref(), Some(want), "{mid}");
            assert_eq!(zincati_id(&mid.to_uppercase()).as_deref(), Some(want));
        }
        assert_eq!(
            zincati_id("EC2A7B0F-5E6C-4D1F-9B8A-3C2D1E0F9A8B").as_deref(),
            Some(VECTORS[3].1)
        );
        for bad in [
            "",
            "xyz",
            "0123456789abcdef0123456789abcde",
            "g123456789abcdef0123456789abcdef",
        ] {
            assert_eq!(zincati_id(bad), None, "{bad}");
        }
    }

    fn node(name: &str, mid: Option<&str>, uuid: Option<&str>) -> NodeIdentity {
        NodeIdentity {
            name: name.into(),
            machine_id: mid.map(Into::into),
            system_uuid: uuid.map(Into::into),
        }
    }

    #[test]
    fn lookup_rules_and_precedence() {
        let nodes = [
            node(
                "n1",
                Some(VECTORS[0].0),
                Some("EC2A7B0F-5E6C-4D1F-9B8A-3C2D1E0F9A8B"),
            ),
            node("n2", Some(VECTORS[2].0), None),
            // A node literally named like n2's machine id: the machineID rule wins.
            node(VECTORS[2].0, None, None),
            node("clone-a", Some(VECTORS[1].0), None),
            node("clone-b", Some(VECTORS[1].0), None),
        ];
        let idx = NodeIndex::new(&nodes);
        assert_eq!(idx.lookup(VECTORS[0].1), Ok(Some("n1")));
        assert_eq!(idx.lookup(VECTORS[0].0), Ok(Some("n1")));
        assert_eq!(idx.lookup("n1"), Ok(Some("n1")));
        assert_eq!(
            idx.lookup(VECTORS[3].1),
            Ok(Some("n1")),
            "systemUUID derivation"
        );
        assert_eq!(idx.lookup(VECTORS[2].0), Ok(Some("n2")));
        assert_eq!(idx.lookup("N1"), Ok(None), "ids are case-sensitive");
        assert_eq!(idx.lookup("unknown"), Ok(None));
        let err = idx.lookup(VECTORS[1].1).unwrap_err();
        assert_eq!(
            err,
            LookupError::Ambiguous {
                id: VECTORS[1].1.into(),
                by: "machineID app id",
                nodes: vec!["clone-a".into(), "clone-b".into()],
            }
        );
        assert!(idx.lookup("clone-a").is_ok_and(|n| n == Some("clone-a")));
    }

    #[test]
    fn incremental_updates_match_a_fresh_build() {
        let mut idx = NodeIndex::new(&[
            node("a", Some(VECTORS[0].0), None),
            node("b", Some(VECTORS[1].0), None),
        ]);
        // Same ids again: nothing changes.
        idx.upsert(&node("a", Some(VECTORS[0].0), None));
        assert_eq!(idx.len(), 2);
        // A new machine id replaces the old keys.
        idx.upsert(&node("a", Some(VECTORS[2].0), None));
        assert_eq!(idx.lookup(VECTORS[0].1), Ok(None));
        assert_eq!(idx.lookup(VECTORS[2].1), Ok(Some("a")));
        // A clone makes the id ambiguous; removing it resolves it again.
        idx.upsert(&node("c", Some(VECTORS[1].0), None));
        assert!(idx.lookup(VECTORS[1].1).is_err());
        idx.remove("c");
        assert_eq!(idx.lookup(VECTORS[1].1), Ok(Some("b")));
        assert_eq!(idx.lookup("c"), Ok(None));
        idx.remove("c");
        // Equal to an index built from scratch over the same nodes.
        let fresh = NodeIndex::new(&[
            node("a", Some(VECTORS[2].0), None),
            node("b", Some(VECTORS[1].0), None),
        ]);
        assert_eq!(idx.tables, fresh.tables);
        idx.remove("a");
        idx.remove("b");
        assert!(idx.is_empty());
        assert!(
            idx.tables.iter().all(HashMap::is_empty),
            "no empty entries left"
        );
    }
}
