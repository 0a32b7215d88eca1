//! One module per subcommand; each holds wiring, not decisions.

pub mod review;
pub mod serve;
