//! Writes a streams directory for the load test (`hack/bench.sh`): OpenShift-
//! shaped ImageStream YAML in several namespaces, the RBAC that lets every
//! namespace's service accounts use every stream, and the AdmissionReview the
//! load test sends (a 10-container Deployment naming streams by short name).
//!
//! ```sh
//! cargo run --release --example genstreams -- --out DIR [--streams 10000] [--tags 5] \
//!     [--history 3] [--namespaces 20] [--per-file 50] [--review FILE] [--expect FILE]
//! ```
//!
//! `--expect FILE` writes the JSONPatch the webhook must answer for the review.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

#[path = "../benches/fixtures/mod.rs"]
mod fixtures;

use fixtures::Shape;

struct Args {
    out: PathBuf,
    shape: Shape,
    per_file: usize,
    review: Option<PathBuf>,
    expect: Option<PathBuf>,
}

const USAGE: &str = "usage: genstreams --out DIR [--streams N] [--tags N] [--history N] [--namespaces N] [--per-file N] [--review FILE] [--expect FILE]";

fn parse_args() -> Result<Args, String> {
    let mut out = None;
    let mut shape = Shape::new(10_000);
    let mut per_file = 50;
    let mut review = None;
    let mut expect = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        let number = |v: String| {
            v.parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{flag}: {v:?} is not a positive number"))
        };
        match flag.as_str() {
            "--out" => out = Some(PathBuf::from(value()?)),
            "--streams" => shape.streams = number(value()?)?,
            "--tags" => shape.tags = number(value()?)?,
            "--history" => shape.history = number(value()?)?,
            "--namespaces" => shape.namespaces = number(value()?)?.max(2),
            "--per-file" => per_file = number(value()?)?,
            "--review" => review = Some(PathBuf::from(value()?)),
            "--expect" => expect = Some(PathBuf::from(value()?)),
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    if shape.streams < fixtures::CONTAINERS {
        return Err(format!(
            "--streams must be at least {}: the review names that many streams",
            fixtures::CONTAINERS
        ));
    }
    Ok(Args {
        out: out.ok_or_else(|| format!("--out is required\n{USAGE}"))?,
        shape,
        per_file,
        review,
        expect,
    })
}

fn write(path: &std::path::Path, contents: &[u8]) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    std::fs::write(path, contents).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn run(args: &Args) -> Result<(), String> {
    let shape = &args.shape;
    // One folder per namespace, `per_file` streams per multi-document file,
    // as an `oc get is -o yaml` export split by namespace would be.
    let mut pending: BTreeMap<String, (Vec<String>, usize)> = BTreeMap::new();
    let (mut files, mut bytes) = (0usize, 0usize);
    let mut flush = |ns: &str, docs: &mut Vec<String>, n: &mut usize| -> Result<(), String> {
        if docs.is_empty() {
            return Ok(());
        }
        let text = docs.join("---\n");
        let path = args.out.join(ns).join(format!("imagestreams-{n:03}.yaml"));
        write(&path, text.as_bytes())?;
        files += 1;
        bytes += text.len();
        docs.clear();
        *n += 1;
        Ok(())
    };
    for stream in fixtures::streams(shape) {
        let (docs, n) = pending.entry(stream.namespace.clone()).or_default();
        docs.push(stream.to_yaml());
        if docs.len() >= args.per_file {
            flush(&stream.namespace, docs, n)?;
        }
    }
    for (ns, (docs, n)) in &mut pending {
        flush(ns, docs, n)?;
    }
    let rbac = fixtures::rbac_yaml(shape);
    write(&args.out.join("rbac.yaml"), rbac.as_bytes())?;
    eprintln!(
        "genstreams: {} streams ({} tags x {} history items) in {} namespace(s), {} files, {:.1} MiB, in {}",
        shape.streams,
        shape.tags,
        shape.history,
        pending.len(),
        files + 1,
        (bytes + rbac.len()) as f64 / (1024.0 * 1024.0),
        args.out.display()
    );
    if let Some(path) = &args.review {
        let review = fixtures::review_json(shape);
        write(path, &review)?;
        eprintln!(
            "genstreams: review of a {}-container Deployment in {}, {} bytes, in {}",
            fixtures::CONTAINERS,
            fixtures::REQUEST_NAMESPACE,
            review.len(),
            path.display()
        );
    }
    if let Some(path) = &args.expect {
        let patch: Vec<serde_json::Value> = (0..fixtures::CONTAINERS)
            .map(|c| {
                serde_json::json!({
                    "op": "replace",
                    "path": format!("/spec/template/spec/containers/{c}/image"),
                    "value": fixtures::container_pinned(shape, c),
                })
            })
            .collect();
        let text = serde_json::to_vec(&patch).map_err(|e| e.to_string())?;
        write(path, &text)?;
    }
    Ok(())
}

fn main() -> ExitCode {
    match parse_args().and_then(|args| run(&args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("genstreams: {e}");
            ExitCode::from(2)
        }
    }
}
