//! One admission review, from the request bytes to the response and audit
//! bytes: the wire types, the pod specs of workloads, the decision and its
//! encodings.

pub mod audit_record;
pub mod decision;
pub mod jsonw;
pub mod response;
pub mod wire;
pub mod workload;
