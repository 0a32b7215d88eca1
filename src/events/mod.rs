//! Registry push events (`serve --events-listen`): the token file, the
//! receiver's routes, the dispatcher that imports the pushed tags at once,
//! and the handover of pushed tags between replicas (cluster mode).
//! What an event means is decided in the core (`imagestream_core::events`).
//! May use the core, `store`, `importer`, `metrics` and `background`, and
//! the Kubernetes client for the handover.

pub mod dispatch;
pub mod handover;
pub mod receiver;
pub mod token;
