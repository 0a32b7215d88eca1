//! Whether a service account may use a stream.

use std::fmt;

use crate::resolve::StreamName;

/// The identity that runs a pod and pulls its images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServiceAccount<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
}

impl fmt::Display for ServiceAccount<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// The answer to one (service account, stream) question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessDecision {
    Allowed,
    /// The text says what is missing and how to grant it.
    Denied(String),
}

impl AccessDecision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, AccessDecision::Allowed)
    }
}

/// Decides access; the variants are the places an answer can come from.
#[derive(Debug, Clone, Default)]
pub enum AccessChecker {
    /// Every service account may use every stream.
    #[default]
    AllowAll,
}

impl AccessChecker {
    pub async fn check(&self, _sa: ServiceAccount<'_>, _stream: StreamName<'_>) -> AccessDecision {
        match self {
            AccessChecker::AllowAll => AccessDecision::Allowed,
        }
    }
}
