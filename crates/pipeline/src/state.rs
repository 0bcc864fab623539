//! The pipeline state document, stored locally (`state.json`) and, with every load that
//! changes it, in `_dlt_pipeline_state`.

use std::io::Write;

use base64::Engine as _;
use flate2::write::ZlibEncoder;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};
use sha3::{Digest, Sha3_256};

/// dlt's pipeline state engine version.
pub(crate) const STATE_ENGINE_VERSION: i64 = 4;

/// Machine-local part of the state; never sent to the destination.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LocalState {
    #[serde(default)]
    pub first_run: bool,
    /// Hash of the state last written into a package.
    #[serde(
        default,
        rename = "_last_extracted_hash",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_extracted_hash: Option<String>,
    /// The newest load id this pipeline created (load ids only grow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_load_id: Option<String>,
}

/// The state of one source (`sources.<source>` of the pipeline state) as a source sees it
/// when [`crate::Pipeline::run_with_state`] makes its resources: values it reads, and
/// values it sets that go into the load package with the resources' items (dlt's
/// `dlt.current.source_state()` / `resource_state()`).
#[derive(Debug)]
pub struct SourceState<'a> {
    pub(crate) state: &'a mut PipelineState,
    pub(crate) source: &'a str,
}

impl SourceState<'_> {
    /// The value at `path` inside the source's state (`["resources", "files",
    /// "incremental", "modification_date"]`), if set.
    pub fn get(&self, path: &[String]) -> Option<&Json> {
        self.state.resource_value(self.source, path)
    }

    /// Sets the value at `path` inside the source's state; it is saved with the run's
    /// package and advances only when that package is durable.
    pub fn set(&mut self, path: &[String], value: Json) {
        self.state.set_resource_value(self.source, path, value);
    }

    /// dlt's `resource_state(resource)[key]`: a value resource `resource` keeps between
    /// runs (at `resources.<resource>.<key>` of the source's state, where dlt keeps it).
    pub fn resource_value(&self, resource: &str, key: &str) -> Option<&Json> {
        self.get(&resource_path(resource, key))
    }

    /// Sets `resource_state(resource)[key]`; saved with the run's package, as [`Self::set`].
    pub fn set_resource_value(&mut self, resource: &str, key: &str, value: Json) {
        self.set(&resource_path(resource, key), value);
    }

    /// The source's name (the pipeline's schema name).
    pub fn source(&self) -> &str {
        self.source
    }
}

/// The path of `resource_state(resource)[key]` inside a source's state.
fn resource_path(resource: &str, key: &str) -> [String; 3] {
    [
        "resources".to_string(),
        resource.to_string(),
        key.to_string(),
    ]
}

/// dlt's pipeline state.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PipelineState {
    #[serde(rename = "_state_version")]
    pub state_version: i64,
    #[serde(rename = "_state_engine_version")]
    pub engine_version: i64,
    pub pipeline_name: String,
    pub dataset_name: String,
    pub default_schema_name: String,
    pub schema_names: Vec<String>,
    pub destination_type: String,
    pub destination_name: Option<String>,
    #[serde(rename = "_version_hash")]
    pub version_hash: String,
    /// Per-source and per-resource state (incremental cursors and user values).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub sources: Map<String, Json>,
    #[serde(rename = "_local", default)]
    pub local: LocalState,
}

impl PipelineState {
    pub fn new(pipeline: &str, dataset: &str, schema: &str, destination: &str) -> Self {
        let mut s = PipelineState {
            state_version: 0,
            engine_version: STATE_ENGINE_VERSION,
            pipeline_name: pipeline.into(),
            dataset_name: dataset.into(),
            default_schema_name: schema.into(),
            schema_names: vec![schema.into()],
            destination_type: format!("dlt.destinations.{destination}"),
            destination_name: None,
            version_hash: String::new(),
            sources: Map::new(),
            local: LocalState {
                first_run: true,
                ..LocalState::default()
            },
        };
        s.bump();
        s
    }

    /// The state as sent to the destination: without `_local`.
    pub fn shared_json(&self) -> Json {
        let mut v = serde_json::to_value(self).unwrap_or(Json::Null);
        if let Json::Object(m) = &mut v {
            m.remove("_local");
        }
        v
    }

    /// Hash of the content (dlt excludes the version fields and `_local`).
    pub fn content_hash(&self) -> String {
        let mut v = self.shared_json();
        if let Json::Object(m) = &mut v {
            for k in ["_state_version", "_state_engine_version", "_version_hash"] {
                m.remove(k);
            }
        }
        let text = dest_core::canonical_json(&v);
        base64::engine::general_purpose::STANDARD.encode(Sha3_256::digest(text.as_bytes()))
    }

    /// Recomputes the hash; bumps `_state_version` when the content changed.
    pub fn bump(&mut self) -> bool {
        let hash = self.content_hash();
        if hash == self.version_hash {
            return false;
        }
        self.version_hash = hash;
        self.state_version += 1;
        true
    }

    /// A value in the state of source `source` at `path` (dlt keeps resource state under
    /// `sources.<source>.resources.<resource>`).
    pub fn resource_value(&self, source: &str, path: &[String]) -> Option<&Json> {
        let mut cur = self.sources.get(source)?;
        for seg in path {
            cur = cur.get(seg.as_str())?;
        }
        Some(cur)
    }

    /// Sets a value in the state of source `source` at `path`.
    pub fn set_resource_value(&mut self, source: &str, path: &[String], value: Json) {
        let mut cur = self
            .sources
            .entry(source.to_string())
            .or_insert_with(|| Json::Object(Map::new()));
        for seg in path {
            if !cur.is_object() {
                *cur = Json::Object(Map::new());
            }
            let Json::Object(m) = cur else { return };
            cur = m
                .entry(seg.clone())
                .or_insert_with(|| Json::Object(Map::new()));
        }
        *cur = value;
    }

    /// Whether the state must be written into the next package.
    pub fn needs_extract(&self) -> bool {
        self.local.last_extracted_hash.as_deref() != Some(self.version_hash.as_str())
    }

    /// dlt's encoding of the `state` column: base64(zlib level 9(compact JSON)).
    pub fn encoded(&self) -> String {
        let json = serde_json::to_string(&self.shared_json()).unwrap_or_default();
        let mut enc = ZlibEncoder::new(Vec::new(), flate2::Compression::new(9));
        // writing into a Vec cannot fail
        let _ = enc.write_all(json.as_bytes());
        let bytes = enc.finish().unwrap_or_default();
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    /// Decodes dlt's encoding of the `state` column.
    pub fn decode(encoded: &str) -> Option<Self> {
        use std::io::Read;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()?;
        let mut json = String::new();
        flate2::read::ZlibDecoder::new(&bytes[..])
            .read_to_string(&mut json)
            .ok()?;
        serde_json::from_str(&json).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_encoding_round_trips_and_hash_ignores_local() {
        let mut s = PipelineState::new("p", "ds", "p", "postgres");
        assert_eq!(s.state_version, 1);
        let decoded = PipelineState::decode(&s.encoded()).unwrap();
        assert_eq!(decoded.pipeline_name, "p");
        assert_eq!(decoded.local, LocalState::default());
        let h = s.version_hash.clone();
        s.local.last_load_id = Some("1".into());
        assert!(!s.bump());
        assert_eq!(s.version_hash, h);
        s.sources
            .insert("src".into(), serde_json::json!({"cursor": 5}));
        assert!(s.bump());
        assert_eq!(s.state_version, 2);
    }
}
