//! Serde helper: a map whose keys are not strings (stamps, tuples) written as a JSON array of `[key, value]`
//! pairs, since JSON object keys can only be strings.

use serde::de::Deserialize;
use serde::{Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;

/// Writes the map as `[[k, v], …]` in key order.
pub fn serialize<K: Serialize, V: Serialize, S: Serializer>(
    map: &BTreeMap<K, V>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(map.iter())
}

/// Reads `[[k, v], …]`.
pub fn deserialize<'de, K, V, D>(deserializer: D) -> Result<BTreeMap<K, V>, D::Error>
where
    K: Deserialize<'de> + Ord,
    V: Deserialize<'de>,
    D: Deserializer<'de>,
{
    let pairs: Vec<(K, V)> = Vec::deserialize(deserializer)?;
    Ok(pairs.into_iter().collect())
}
