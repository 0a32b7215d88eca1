//! The `imagestream-webhook` program: the command line, handed to the
//! runtime, which wires every command.

use std::process::ExitCode;

use clap::Parser as _;

use imagestream_webhook::cli::args::Cli;
use imagestream_webhook::runtime;

fn main() -> ExitCode {
    runtime::run(Cli::parse())
}
