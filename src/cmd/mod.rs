//! One module per subcommand; each holds wiring, not decisions.

pub mod check_access;
pub mod images;
pub mod review;
pub mod serve;
