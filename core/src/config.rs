//! The `--config` file: every key optional, unknown keys refused so a typo is not silently ignored.

use std::collections::BTreeMap;

use serde::Deserialize;

/// OpenShift's internal registry name, so manifests exported from OpenShift work unchanged.
pub const DEFAULT_STREAM_HOST: &str = "image-registry.openshift-image-registry.svc:5000";

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Config {
    pub stream_registry_hosts: Vec<String>,
    pub same_namespace_access: SameNamespaceAccess,
    pub import: ImportConfig,
    pub access_check: AccessCheckConfig,
    pub directory: DirectoryConfig,
    pub events: EventsConfig,
}

/// The largest stream file read unless `directory.maxFileBytes` says
/// otherwise: a stream of 5 tags with 3 history items each is about 6.4 KB
/// of YAML (`genstreams`), so 32 MiB holds some 5,000 of them in one file.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 32 << 20;

/// Directory mode's reading of `--streams-dir`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct DirectoryConfig {
    /// A stream file larger than this is refused before it is read.
    pub max_file_bytes: u64,
}

impl Default for DirectoryConfig {
    fn default() -> Self {
        DirectoryConfig {
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
        }
    }
}

/// Registry push events (`serve --events-listen`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct EventsConfig {
    /// An event's registry host (the one the pusher used) → the names
    /// streams know that registry by, when they differ (an internal name,
    /// an address).
    pub registry_hosts: BTreeMap<String, Vec<String>>,
}

/// Cluster mode's SubjectAccessReview cache (the API server's webhook-authorizer defaults).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct AccessCheckConfig {
    pub allowed_ttl_seconds: u64,
    pub denied_ttl_seconds: u64,
    pub timeout_seconds: u64,
}

impl Default for AccessCheckConfig {
    fn default() -> Self {
        AccessCheckConfig {
            allowed_ttl_seconds: 300,
            denied_ttl_seconds: 30,
            timeout_seconds: 3,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            stream_registry_hosts: vec![DEFAULT_STREAM_HOST.to_owned()],
            same_namespace_access: SameNamespaceAccess::Allow,
            import: ImportConfig::default(),
            access_check: AccessCheckConfig::default(),
            directory: DirectoryConfig::default(),
            events: EventsConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SameNamespaceAccess {
    /// Every service account may use its own namespace's streams, as in OpenShift.
    #[default]
    Allow,
    /// Same-namespace use needs the RBAC permission too.
    Rbac,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ImportConfig {
    pub minimum_interval_seconds: u64,
    pub max_scheduled_imports_per_minute: u32,
    pub search_registries: Vec<String>,
    pub allowed_registries: Vec<String>,
    pub history_limit: usize,
    /// Registry requests in flight at once, over every registry.
    pub max_concurrent_requests: usize,
    /// The platform whose config is read for a multi-arch tag (an index), as
    /// OpenShift's importer prefers one: its architecture and OS.
    pub prefer_arch: String,
    #[serde(rename = "preferOS")]
    pub prefer_os: String,
    /// The `importPolicy.importMode` of a tag that names none.
    pub default_import_mode: crate::stream::ImportMode,
    /// OpenShift's master-config switch: no scheduled imports (on demand,
    /// on change and on registry events still import).
    pub disable_scheduled_import: bool,
    /// Tags imported by `import-image --from REPO --all`; -1 is no limit.
    pub max_images_bulk_imported_per_repository: i64,
}

impl Default for ImportConfig {
    fn default() -> Self {
        ImportConfig {
            minimum_interval_seconds: 900,
            max_scheduled_imports_per_minute: 60,
            search_registries: vec!["docker.io".to_owned()],
            allowed_registries: Vec::new(),
            history_limit: 10,
            max_concurrent_requests: 8,
            prefer_arch: "amd64".to_owned(),
            prefer_os: "linux".to_owned(),
            // Pinning the index is what this importer always did, and what
            // lets each node of a mixed cluster pull its own platform.
            default_import_mode: crate::stream::ImportMode::PreserveOriginal,
            disable_scheduled_import: false,
            // OpenShift's default (openshift-apiserver, master-config in 3.x).
            max_images_bulk_imported_per_repository: 50,
        }
    }
}

impl ImportConfig {
    /// The platform read for a multi-arch tag (`preferOS`/`preferArch`).
    pub fn prefer(&self) -> crate::image::Platform {
        crate::image::Platform::new(&self.prefer_os, &self.prefer_arch)
    }
}

impl Config {
    /// The configuration in `text` (the `--config` file's contents), checked.
    pub fn parse(text: &str) -> Result<Config, String> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        let cfg: Config =
            serde_saphyr::from_str(text).map_err(|e| crate::manifest::yaml::yaml_error(&e, 1))?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), String> {
        if self.stream_registry_hosts.is_empty() {
            return Err("streamRegistryHosts must name at least one host".into());
        }
        if let Some(h) = self
            .stream_registry_hosts
            .iter()
            .find(|h| h.is_empty() || h.contains('/') || h.chars().any(char::is_whitespace))
        {
            return Err(format!(
                "streamRegistryHosts entry {h:?} is not a host[:port]"
            ));
        }
        if self.import.history_limit == 0 {
            return Err("import.historyLimit must be at least 1".into());
        }
        if self.access_check.timeout_seconds == 0 || self.access_check.timeout_seconds > 4 {
            return Err(
                "accessCheck.timeoutSeconds must be 1 to 4 (the webhook itself has 5)".into(),
            );
        }
        if self.import.max_concurrent_requests == 0 {
            return Err("import.maxConcurrentRequests must be at least 1".into());
        }
        for (key, value) in [
            ("import.preferArch", &self.import.prefer_arch),
            ("import.preferOS", &self.import.prefer_os),
        ] {
            let word = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_';
            if value.is_empty() || !value.bytes().all(word) {
                return Err(format!(
                    "{key} {value:?} is not a platform name such as amd64, arm64 or linux"
                ));
            }
        }
        if self.import.max_images_bulk_imported_per_repository < -1
            || self.import.max_images_bulk_imported_per_repository == 0
        {
            return Err(
                "import.maxImagesBulkImportedPerRepository must be at least 1, or -1 for no limit"
                    .into(),
            );
        }
        if self.directory.max_file_bytes == 0 {
            return Err("directory.maxFileBytes must be at least 1".into());
        }
        for (event_host, names) in &self.events.registry_hosts {
            for host in std::iter::once(event_host).chain(names) {
                if !is_registry_host(host) {
                    return Err(format!(
                        "events.registryHosts: {host:?} is not a registry host[:port] (a name with a '.' or ':', localhost, or an address)"
                    ));
                }
            }
            if names.is_empty() {
                return Err(format!(
                    "events.registryHosts: {event_host:?} maps to no name; list the names streams use for it"
                ));
            }
        }
        if self.import.max_scheduled_imports_per_minute == 0 {
            return Err("import.maxScheduledImportsPerMinute must be at least 1".into());
        }
        Ok(())
    }
}

/// A host an image reference can name as its registry.
fn is_registry_host(host: &str) -> bool {
    crate::reference::ImageRef::parse(&format!("{host}/x"))
        .is_ok_and(|r| r.registry() == Some(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        assert_eq!(Config::parse("").expect("empty"), Config::default());
        let cfg = Config::parse(
            "streamRegistryHosts: [a.example:5000]\nsameNamespaceAccess: rbac\nimport:\n  historyLimit: 3\n",
        )
        .expect("parses");
        assert_eq!(cfg.stream_registry_hosts, vec!["a.example:5000"]);
        assert_eq!(cfg.same_namespace_access, SameNamespaceAccess::Rbac);
        assert_eq!(cfg.import.history_limit, 3);
        assert_eq!(cfg.import.minimum_interval_seconds, 900);
        assert_eq!(cfg.directory.max_file_bytes, 32 << 20);
        assert_eq!(
            (
                cfg.import.prefer_arch.as_str(),
                cfg.import.prefer_os.as_str()
            ),
            ("amd64", "linux")
        );
        assert_eq!(
            cfg.import.default_import_mode,
            crate::stream::ImportMode::PreserveOriginal
        );
        assert_eq!(cfg.import.max_images_bulk_imported_per_repository, 50);
        assert!(!cfg.import.disable_scheduled_import);
        let cfg = Config::parse(
            "import: {preferArch: arm64, preferOS: windows, defaultImportMode: Legacy, disableScheduledImport: true, maxImagesBulkImportedPerRepository: -1}",
        )
        .expect("parses");
        assert_eq!(
            (
                cfg.import.prefer_arch.as_str(),
                cfg.import.prefer_os.as_str()
            ),
            ("arm64", "windows")
        );
        assert_eq!(
            cfg.import.default_import_mode,
            crate::stream::ImportMode::Legacy
        );
        assert!(cfg.import.disable_scheduled_import);
        assert_eq!(cfg.import.max_images_bulk_imported_per_repository, -1);
        let cfg = Config::parse("directory:\n  maxFileBytes: 1048576\n").expect("parses");
        assert_eq!(cfg.directory.max_file_bytes, 1 << 20);
        let cfg = Config::parse(
            "events:\n  registryHosts:\n    registry.internal:5000: [registry.example.com, \"10.0.0.7:5000\"]\n",
        )
        .expect("parses");
        assert_eq!(
            cfg.events.registry_hosts["registry.internal:5000"],
            ["registry.example.com", "10.0.0.7:5000"]
        );
    }

    #[test]
    fn typos_and_bad_values_are_refused() {
        for bad in [
            "streamRegistryHost: [x]",
            "sameNamespaceAccess: maybe",
            "streamRegistryHosts: []",
            "streamRegistryHosts: [\"a/b\"]",
            "import: {historyLimit: 0}",
            "import: {bogus: 1}",
            "directory: {maxFileBytes: 0}",
            "directory: {maxFileByte: 10}",
            "events: {registryHost: {}}",
            "events: {registryHosts: {a.io: []}}",
            "events: {registryHosts: {a.io: [b.io/x]}}",
            "events: {registryHosts: {registry: [b.io]}}",
            "events: {registryHosts: {\"a.io\": [\"b io\"]}}",
            "import: {preferArch: \"\"}",
            "import: {preferOS: Linux}",
            "import: {preferOs: linux}",
            "import: {defaultImportMode: legacy}",
            "import: {maxImagesBulkImportedPerRepository: 0}",
            "import: {maxImagesBulkImportedPerRepository: -2}",
        ] {
            assert!(Config::parse(bad).is_err(), "{bad}");
        }
    }
}
