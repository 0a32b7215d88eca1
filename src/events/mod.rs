//! Registry push events (`serve --events-listen`): the token file, the
//! receiver's routes, and the dispatcher that imports the pushed tags at once.
//! What an event means is decided in the core (`imagestream_core::events`).
//! May use the core, `store`, `importer`, `metrics` and `background`.

pub mod dispatch;
pub mod handover;
pub mod receiver;
pub mod token;
