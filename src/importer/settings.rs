//! The importer's settings, read from the config file.

use std::time::Duration;

use imagestream_core::config::Config;

/// The settings the importer reads.
#[derive(Debug, Clone)]
pub struct ImportSettings {
    pub history_limit: usize,
    pub minimum_interval: Duration,
    pub max_scheduled_per_minute: u32,
    pub allowed_registries: Vec<String>,
    /// The first stream registry host, for `status.dockerImageRepository`.
    pub stream_host: String,
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
    }
}
