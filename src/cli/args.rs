//! The command line.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "imagestream-webhook",
    version,
    about = "OpenShift image streams for any Kubernetes cluster: admission webhook and CLI"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Directory mode: read ImageStreams, RBAC objects and pull Secrets from YAML/JSON files in DIR.
    #[arg(long, global = true, value_name = "DIR")]
    pub streams_dir: Option<PathBuf>,
    /// Namespace of the object named on the command line (and of manifests without one).
    #[arg(short = 'n', long, global = true, value_name = "NS")]
    pub namespace: Option<String>,
    /// Cluster mode: the kubeconfig file (default: in-cluster config, then KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Cluster mode: the kubeconfig context to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// Configuration file (YAML); see the README for its keys.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Extra CA certificates (PEM) trusted for registries (serve, import-image, tag).
    #[arg(long, global = true, value_name = "FILE")]
    pub registry_ca: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the mutating and validating admission webhook over HTTPS.
    Serve(ServeArgs),
    /// Do to manifest files what the webhook does: print them mutated, denials on stderr.
    Review(ReviewArgs),
    /// Make a CA and a serving certificate for the webhook; prints the caBundle.
    Certs(CertsArgs),
    /// Print the CustomResourceDefinitions (ImageStream, Image) as one multi-document YAML.
    Crd,
    /// May a service account use a stream? Prints the answer and why; exit 1 when denied.
    CheckAccess(CheckAccessArgs),
    /// Create or update a tag from a registry image and import it now (as `oc import-image`).
    ImportImage(ImportImageArgs),
    /// Point a tag at a registry image, another tag, or a history item (as `oc tag`).
    Tag(TagArgs),
    /// Show a stream's tags and their history (as `oc describe is`), or with NAME:TAG or NAME@sha256:… an image (as `oc describe istag`/`isimage`).
    Describe(DescribeArgs),
    /// Print manifests with each DeploymentConfig made a Deployment with the triggers annotation.
    Convert(ConvertArgs),
    /// Edit image-change triggers or image lookup, as `oc set triggers` and `oc set image-lookup`.
    Set(SetArgs),
    /// List the images the importer recorded (as `oc get images`).
    Images(ImagesArgs),
    /// Make a Deployment (and a Service when the image exposes ports) that runs a stream tag's image, as `oc new-app --image-stream`.
    ///
    /// In cluster mode they are created in the namespace (-o prints them instead).
    /// In directory mode there is no cluster to create them in: they are printed
    /// (YAML without -o), ready for `kubectl apply -f -`.
    NewApp(NewAppArgs),
}

/// How `-o` prints objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Yaml,
    Json,
}

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Print the Image objects instead of a table.
    #[arg(short = 'o', long = "output", value_enum, value_name = "yaml|json")]
    pub output: Option<OutputFormat>,
}

#[derive(Debug, Args)]
pub struct NewAppArgs {
    /// The stream tag whose image runs, `NAME[:TAG]` (the tag defaults to `latest`).
    #[arg(short = 'i', long = "image-stream", value_name = "NAME[:TAG]")]
    pub image_stream: String,
    /// The name of the Deployment and Service (default: the stream's name).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Print the objects as a List instead of creating them.
    #[arg(short = 'o', long = "output", value_enum, value_name = "yaml|json")]
    pub output: Option<OutputFormat>,
}

/// Whether pods get the source reference or the (OpenShift) local registry's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReferencePolicy {
    Source,
    Local,
}

#[derive(Debug, Args)]
pub struct ImportImageArgs {
    /// `NAME[:TAG]` (the tag defaults to `latest`).
    pub name: String,
    /// The registry image to import; without it the existing tag is re-imported.
    #[arg(long, value_name = "IMAGE")]
    pub from: Option<String>,
    /// Create the stream if it does not exist.
    #[arg(long)]
    pub confirm: bool,
    /// Every tag of the --from repository (at most import.maxImagesBulkImportedPerRepository), or without --from every registry tag of NAME.
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub policy: TagPolicyArgs,
}

/// How a tag is imported and referenced (`import-image`, `tag`).
#[derive(Debug, Args)]
pub struct TagPolicyArgs {
    /// Re-import a registry source on a schedule.
    #[arg(long)]
    pub scheduled: bool,
    /// Allow plain HTTP and unverified TLS for the tag's registry.
    #[arg(long)]
    pub insecure: bool,
    #[arg(long, value_enum, value_name = "source|local")]
    pub reference_policy: Option<ReferencePolicy>,
    /// Pin an index (PreserveOriginal) or the manifest of import.preferOS/preferArch (Legacy).
    #[arg(long, value_enum, value_name = "Legacy|PreserveOriginal")]
    pub import_mode: Option<ImportModeArg>,
}

/// `importPolicy.importMode`, spelled as OpenShift spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ImportModeArg {
    #[value(name = "Legacy")]
    Legacy,
    #[value(name = "PreserveOriginal")]
    PreserveOriginal,
}

#[derive(Debug, Args)]
pub struct TagArgs {
    /// SOURCE, then one or more DEST (`[NS/]STREAM:TAG`); with -d, the tags to delete.
    ///
    /// SOURCE is `[NS/]STREAM:TAG` (pinned to its current image, or followed with
    /// --alias), `[NS/]STREAM@sha256:…` (a history item), or a registry image: a
    /// first component with `.` or `:`, or `localhost`, names a registry, and so
    /// does a bare name with neither tag nor digest (as `oc tag` reads it).
    #[arg(value_name = "SOURCE DEST…")]
    pub args: Vec<String>,
    /// Delete the tags named (each `[NS/]STREAM:TAG`).
    #[arg(short = 'd', long = "delete")]
    pub delete: bool,
    /// Follow STREAM:TAG as it moves, instead of pinning its current image.
    #[arg(long)]
    pub alias: bool,
    /// Read SOURCE as this kind: docker (a registry image), istag or isimage (and their long names).
    #[arg(long, value_name = "docker|istag|isimage")]
    pub source: Option<String>,
    /// Only point at the registry image: never import it (pods cannot use the tag by name).
    #[arg(long)]
    pub reference: bool,
    #[command(flatten)]
    pub policy: TagPolicyArgs,
}

#[derive(Debug, Args)]
pub struct DescribeArgs {
    /// The stream's `NAME`, or an image: `NAME:TAG` or `NAME@sha256:…`.
    pub name: String,
}

#[derive(Debug, Args)]
pub struct CheckAccessArgs {
    /// The stream, `NS/NAME` (or `NAME` in the namespace of --namespace).
    pub stream: String,
    /// The service account, `NS/SA`.
    #[arg(long, value_name = "NS/SA")]
    pub service_account: String,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address of the HTTPS webhook listener.
    #[arg(long, default_value = "0.0.0.0:8443", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Address of the plain-HTTP admin listener (/healthz, /readyz, /metrics).
    #[arg(long, default_value = "0.0.0.0:9090", value_name = "ADDR")]
    pub admin_listen: SocketAddr,
    /// PEM certificate chain of the webhook; re-read when it changes.
    #[arg(long, default_value = "certs/tls.crt", value_name = "FILE")]
    pub tls_cert: PathBuf,
    /// PEM private key of the webhook; re-read when it changes.
    #[arg(long, default_value = "certs/tls.key", value_name = "FILE")]
    pub tls_key: PathBuf,
    /// How often the certificate and key files are compared with what is served.
    #[arg(long, default_value_t = 5000, value_name = "MS", hide = true)]
    pub tls_poll_ms: u64,
    /// How often --streams-dir is checked for changed files.
    #[arg(long, default_value_t = 2000, value_name = "MS", hide = true)]
    pub dir_poll_ms: u64,
    /// Time a client has to send its request headers (slow or stalled clients are dropped).
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub header_timeout_seconds: u64,
    /// Time a client has to send a whole request body.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub body_timeout_seconds: u64,
    /// Audit log destination: a file path (appended; reopened after logrotate moves it), or `-` for stdout.
    #[arg(long, default_value = "-", value_name = "PATH|-")]
    pub audit_log: String,
    /// Do not run the importer in this process.
    #[arg(long)]
    pub no_import: bool,
    /// Do not run image-change triggers in this process (cluster mode).
    #[arg(long)]
    pub no_triggers: bool,
    /// After SIGTERM, keep serving this long with readiness false before closing listeners.
    #[arg(long, default_value_t = 0, value_name = "SECONDS")]
    pub shutdown_delay_seconds: u64,
    /// Log lines as text, or as one JSON object per line for a log pipeline.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, value_name = "text|json")]
    pub log_format: LogFormat,
    /// Address of the registry push-event receiver (POST /events/<format>); off unless given.
    #[arg(long, value_name = "ADDR", requires = "events_token_file")]
    pub events_listen: Option<SocketAddr>,
    /// The file holding the receiver's token (from a Secret); re-read when it changes.
    #[arg(long, value_name = "FILE", requires = "events_listen")]
    pub events_token_file: Option<PathBuf>,
    /// Serve events over plain HTTP instead of HTTPS with the webhook's certificate.
    #[arg(long, requires = "events_listen")]
    pub events_plain_http: bool,
}

/// How `serve` writes its log lines (on stderr).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `LEVEL target: message key=value …`, coloured on a terminal.
    Text,
    /// One JSON object per line: timestamp, level, message, fields, target.
    Json,
}

#[derive(Debug, Args)]
pub struct ReviewArgs {
    /// Manifests (multi-document YAML, JSON, or an AdmissionReview); `-` reads stdin.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub file: String,
    /// Also write an audit record per reviewed object to PATH (`-` for stdout).
    #[arg(long, value_name = "PATH|-")]
    pub audit_log: Option<String>,
}

#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// Manifests (multi-document YAML or JSON); `-` reads stdin.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub file: String,
    /// Convert what can be, and leave out (naming each on stderr) what a Deployment cannot express.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct SetArgs {
    #[command(subcommand)]
    pub command: SetCommand,
}

#[derive(Debug, Subcommand)]
pub enum SetCommand {
    /// A workload's image-change triggers (the image.openshift.io/triggers annotation); no flag lists them.
    Triggers(SetTriggersArgs),
    /// A stream's lookupPolicy.local, or a workload's resolve-names annotation; no argument lists the streams.
    ImageLookup(SetImageLookupArgs),
}

#[derive(Debug, Args)]
pub struct SetTriggersArgs {
    /// `TYPE/NAME`: deploy, sts, ds or cronjob. With -f it picks one workload of the file (else all).
    pub workload: Option<String>,
    /// Edit the workloads of this file (`-` for stdin) and print the result, instead of the cluster's.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub file: Option<String>,
    /// The stream tag to follow, `[NS/]STREAM:TAG`.
    #[arg(long, value_name = "[NS/]STREAM:TAG")]
    pub from_image: Option<String>,
    /// The containers that follow --from-image (comma-separated; init containers too).
    #[arg(
        short = 'c',
        long = "containers",
        value_delimiter = ',',
        value_name = "NAME,…"
    )]
    pub containers: Vec<String>,
    /// Add the trigger paused; alone, pause every trigger.
    #[arg(long)]
    pub manual: bool,
    /// Resume every trigger.
    #[arg(long)]
    pub auto: bool,
    /// Remove the trigger of --from-image.
    #[arg(long)]
    pub remove: bool,
    /// Remove every image-change trigger.
    #[arg(long)]
    pub remove_all: bool,
}

#[derive(Debug, Args)]
pub struct SetImageLookupArgs {
    /// Streams of the namespace, or `TYPE/NAME` of workloads (with -f: of the file; none: all of it).
    pub names: Vec<String>,
    /// Edit the objects of this file (`-` for stdin) and print the result, instead of the cluster's.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub file: Option<String>,
    /// `--enabled=false` turns lookup off.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub enabled: bool,
}

#[derive(Debug, Args)]
pub struct CertsArgs {
    /// The webhook's Service name (its namespace is --namespace, default imagestream-system).
    #[arg(long, default_value = "imagestream-webhook")]
    pub service: String,
    /// Folder for ca.crt, tls.crt and tls.key.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// More names or IP addresses the serving certificate is valid for (e.g. localhost, 127.0.0.1).
    #[arg(long = "san", value_name = "NAME")]
    pub sans: Vec<String>,
}
