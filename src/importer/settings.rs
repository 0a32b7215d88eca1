//! What the importer reads of the configuration.

use std::time::Duration;

use imagestream_core::config::Config;
use imagestream_core::stream::ImportMode;

/// The settings the importer reads.
#[derive(Debug, Clone)]
pub struct ImportSettings {
    pub history_limit: usize,
    pub minimum_interval: Duration,
    pub max_scheduled_per_minute: u32,
    pub allowed_registries: Vec<String>,
    /// The first stream registry host, for `status.dockerImageRepository`.
    pub stream_host: String,
    /// The mode of a tag that names none (`import.defaultImportMode`).
    pub default_import_mode: ImportMode,
    /// The platform Legacy mode pins (`import.preferOS`, `import.preferArch`).
    pub prefer_os: String,
    pub prefer_arch: String,
    /// `import.disableScheduledImport`: `importPolicy.scheduled` is ignored.
    pub disable_scheduled_import: bool,
}

/// The importer settings from the config file.
pub fn import_settings(config: &Config) -> ImportSettings {
    ImportSettings {
        history_limit: config.import.history_limit,
        minimum_interval: Duration::from_secs(config.import.minimum_interval_seconds.max(1)),
        max_scheduled_per_minute: config.import.max_scheduled_imports_per_minute,
        allowed_registries: config.import.allowed_registries.clone(),
        stream_host: config
            .stream_registry_hosts
            .first()
            .cloned()
            .unwrap_or_else(|| imagestream_core::config::DEFAULT_STREAM_HOST.to_owned()),
        default_import_mode: config.import.default_import_mode,
        prefer_os: config.import.prefer_os.clone(),
        prefer_arch: config.import.prefer_arch.clone(),
        disable_scheduled_import: config.import.disable_scheduled_import,
    }
}
