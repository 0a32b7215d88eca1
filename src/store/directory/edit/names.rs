//! Which stream an object is: its name, and its namespace with Kubernetes'
//! default for an object that names none.

use imagestream_core::stream::ImageStream;

/// Kubernetes' namespace for an object that names none.
const DEFAULT_NAMESPACE: &str = "default";

pub(super) fn is_named(is: &ImageStream, namespace: &str, name: &str) -> bool {
    is.metadata.name.as_deref() == Some(name)
        && effective_namespace(is.metadata.namespace.as_deref().unwrap_or_default())
            == effective_namespace(namespace)
}

pub(super) fn effective_namespace(namespace: &str) -> &str {
    if namespace.is_empty() {
        DEFAULT_NAMESPACE
    } else {
        namespace
    }
}
