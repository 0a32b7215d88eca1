//! The one place that wires: each command of the command line is set up here (`serve` in
//! [`serve`]). Owns no decision; may use every folder of the binary.

use std::process::ExitCode;
use std::sync::Arc;

use tracing_subscriber::EnvFilter;

use imagestream_core::stream::snapshot::Snapshot;

use crate::access::sar::{SarChecker, sar_config};
use crate::access::{AccessChecker, Authority};
use crate::cli::args::{Cli, Command, GlobalArgs, LogFormat, SetCommand};
use crate::cli::certs;
use crate::cli::{self, CmdError, bad};
use crate::serving::admission::Admission;
use crate::serving::audit_log::{self, AuditLog, Destination};
use crate::serving::tls;
use crate::store::Store;
use crate::store::cluster;
use crate::store::directory::source::DirSource;

pub mod events;
pub mod serve;

/// Runs one command of the command line: sets up logging, the TLS crypto
/// provider and the allocator, starts the async runtime and dispatches.
pub fn run(cli: Cli) -> ExitCode {
    // Logs go to stderr: stdout carries command output and the audit log. The
    // CLI commands print their own results, so only `serve` logs at info.
    let (level, format) = match &cli.command {
        Command::Serve(args) => ("info", args.log_format),
        _ => ("warn", LogFormat::Text),
    };
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level)),
        )
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        // Fields at the top level, beside timestamp, level, message and
        // target: what log pipelines index without configuration.
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
    tls::install_crypto_provider();
    audit_log::ignore_file_size_signal();
    crate::memory::limit_arenas();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(dispatch(cli))
}

async fn dispatch(cli: Cli) -> ExitCode {
    let Cli { global, command } = cli;
    match command {
        Command::Serve(args) => {
            // Bad input stops every command with exit 2, serve too.
            if let Err(e) = cli::load_config(global.config.as_deref()) {
                return e.report();
            }
            done(serve::run(&global, args).await)
        }
        Command::Review(args) => {
            let audit = match args.audit_log.as_deref().map(start_audit).transpose() {
                Ok(a) => a,
                Err(e) => return bad(e).report(),
            };
            let (log, writer) = audit.unzip();
            let code = match offline_admission(&global, log).await {
                Ok(admission) => {
                    let ns = global.namespace.as_deref().unwrap_or("default");
                    cli::review::run(&admission, &args.file, ns).await
                }
                Err(e) => e.report(),
            };
            // The admission (and its log sender) is gone: the writer drains and ends.
            if let Some(w) = writer {
                let _ = w.await;
            }
            code
        }
        Command::CheckAccess(args) => match offline_admission(&global, None).await {
            Ok(admission) => {
                let snap = admission.store.load_full();
                cli::check_access::run(
                    &admission.access,
                    &snap,
                    &args.stream,
                    &args.service_account,
                    global.namespace.as_deref(),
                )
                .await
            }
            Err(e) => e.report(),
        },
        Command::ImportImage(args) if args.all => cli::bulk::import_all(&global, args).await,
        Command::ImportImage(args) => cli::images::import_image(&global, args).await,
        Command::Tag(args) => cli::tag::run(&global, args).await,
        Command::Describe(args) => cli::images::describe(&global, &args.name).await,
        Command::Convert(args) => cli::convert::run(&args.file, args.force),
        Command::Set(args) => match args.command {
            SetCommand::Triggers(a) => cli::set::triggers(&global, a).await,
            SetCommand::ImageLookup(a) => cli::set::image_lookup(&global, a).await,
        },
        Command::Images(args) => cli::records::images(&global, args).await,
        Command::NewApp(args) => cli::records::new_app(&global, args).await,
        Command::Certs(args) => {
            let ns = global.namespace.as_deref().unwrap_or("imagestream-system");
            let made = certs::generate(&args.service, ns, &args.sans)
                .and_then(|c| certs::write(&args.out, &c).map(|()| c));
            match made {
                Ok(c) => {
                    println!("{}", certs::ca_bundle(&c));
                    ExitCode::SUCCESS
                }
                Err(e) => done(Err(e.to_string())),
            }
        }
        Command::Crd => match imagestream_core::crds::crds_yaml() {
            Ok(yaml) => {
                print!("{yaml}");
                ExitCode::SUCCESS
            }
            Err(e) => done(Err(format!("cannot render the CRDs: {e}"))),
        },
    }
}

fn start_audit(dest: &str) -> Result<(AuditLog, tokio::task::JoinHandle<()>), String> {
    AuditLog::start(Destination::parse(dest), Default::default()).map_err(|e| e.to_string())
}

/// The admission handler over the streams of the directory or the cluster, read once.
async fn offline_admission(
    global: &GlobalArgs,
    audit: Option<AuditLog>,
) -> Result<Admission, CmdError> {
    let config = cli::load_config(global.config.as_deref())?;
    crate::store::directory::listing::set_max_file_bytes(config.directory.max_file_bytes);
    let store = Store::new();
    let access = match &global.streams_dir {
        Some(dir) => {
            let mut source = DirSource::new(dir);
            let refresh = source.refresh().map_err(bad)?;
            if let Some((path, reason)) = refresh.errors.first() {
                return Err(bad(format!("cannot parse {}: {reason}", path.display())));
            }
            source.print_warnings();
            store.publish(source.snapshot());
            AccessChecker::directory(config.same_namespace_access)
        }
        None => {
            let client = cluster::client(global.kubeconfig.as_deref(), global.context.as_deref())
                .await
                .map_err(|e| e.to_string())?;
            let streams = cluster::list_streams(&client, None)
                .await
                .map_err(|e| e.to_string())?;
            store.publish(Snapshot::build(streams));
            AccessChecker {
                authority: Authority::Api(SarChecker::new(client, sar_config(&config))),
                same_namespace: config.same_namespace_access,
                checks: None,
            }
        }
    };
    Ok(Admission {
        store,
        access,
        config: Arc::new(config),
        audit,
    })
}

fn done(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
