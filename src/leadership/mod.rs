//! Leadership: the Lease that elects the one replica running the importer and the triggers.
//! May use the Kubernetes client only.

pub mod lease;
