//! `images`, `describe NAME:TAG|NAME@sha256:…` and `new-app`: what the
//! importer recorded of a stream's images, shown and put to use.

use std::process::ExitCode;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::Value;

use imagestream_core::image::Image;
use imagestream_core::newapp;
use imagestream_core::output::{self, Format};
use imagestream_core::reference::is_sha256_digest;
use imagestream_core::stream::ImageStream;

use crate::cli::args::{GlobalArgs, ImagesArgs, NewAppArgs, OutputFormat};
use crate::cli::streams::{Ctx, Target, connect};
use crate::cli::{CmdError, bad};

fn format(o: OutputFormat) -> Format {
    match o {
        OutputFormat::Yaml => Format::Yaml,
        OutputFormat::Json => Format::Json,
    }
}

pub async fn images(global: &GlobalArgs, args: ImagesArgs) -> ExitCode {
    crate::cli::exit(images_inner(global, args).await)
}

async fn images_inner(global: &GlobalArgs, args: ImagesArgs) -> Result<ExitCode, CmdError> {
    let ctx = connect(global).await?;
    let (images, unreadable) = ctx.images().list().await?;
    for why in &unreadable {
        eprintln!("warning: {why}");
    }
    match args.output {
        Some(o) => {
            let items = images
                .iter()
                .map(serde_json::to_value)
                .collect::<Result<Vec<Value>, _>>()
                .map_err(|e| e.to_string())?;
            print!("{}", output::render(&output::list(items), format(o))?);
        }
        None if images.is_empty() => eprintln!("No resources found"),
        // As kubectl prints the server's table: columns three spaces apart.
        None => {
            let width = images.iter().map(|i| i.digest().len()).max().unwrap_or(0);
            println!("{:width$}   IMAGE REFERENCE", "NAME");
            for i in &images {
                println!("{:width$}   {}", i.digest(), i.reference());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `NAME:TAG` or `NAME@sha256:…`, as oc parses an istag and an isimage.
enum Named {
    Tag(String, String),
    Digest(String, String),
}

fn parse_named(arg: &str) -> Result<Named, CmdError> {
    if let Some((name, digest)) = arg.split_once('@') {
        if !is_sha256_digest(digest) || name.is_empty() {
            return Err(bad(format!(
                "{arg:?}: an image is NAME@sha256: and 64 hex digits"
            )));
        }
        return Ok(Named::Digest(name.to_owned(), digest.to_owned()));
    }
    match arg.split(':').collect::<Vec<_>>()[..] {
        [name, tag] if !name.is_empty() && !tag.is_empty() => {
            Ok(Named::Tag(name.to_owned(), tag.to_owned()))
        }
        [_, _] => Err(bad(format!(
            "image stream tag name {arg:?} must have a name and a tag"
        ))),
        _ => Err(bad(format!(
            "expected exactly one : delimiter in the istag {arg:?}"
        ))),
    }
}

async fn stream(ctx: &Ctx, name: &str) -> Result<ImageStream, CmdError> {
    Ok(ctx
        .load(name)
        .await?
        .ok_or_else(|| format!("imagestream {}/{name} not found", ctx.namespace))?
        .stream)
}

/// The digest and pull spec of a tag's current image.
fn current(is: &ImageStream, ns: &str, name: &str, tag: &str) -> Result<(String, String), String> {
    if is.spec_tag(tag).is_none() && is.status_tag(tag).is_none() {
        return Err(format!("imagestream {ns}/{name} has no tag {tag:?}"));
    }
    let item = is.status_tag(tag).and_then(|t| t.latest()).ok_or_else(|| {
        format!("tag {name}:{tag} has no image yet; import it first: import-image {name}:{tag}")
    })?;
    Ok((
        item.image.to_string(),
        item.docker_image_reference.to_string(),
    ))
}

/// The record of `digest` and, for an index, of its child for the preferred platform.
async fn records(ctx: &Ctx, digest: &str, fix: &str) -> Result<(Image, Option<Image>), CmdError> {
    let store = ctx.images();
    let image = store.get(digest).await?.ok_or_else(|| {
        format!("image {digest} has no record (it was imported before image records were kept); {fix} reads its metadata")
    })?;
    let child = match image.child_for(&ctx.config.import.prefer()) {
        Some(m) => store.get(&m.digest).await?,
        None => None,
    };
    Ok((image, child))
}

pub async fn describe(global: &GlobalArgs, arg: &str) -> ExitCode {
    crate::cli::exit(describe_inner(global, arg).await)
}

async fn describe_inner(global: &GlobalArgs, arg: &str) -> Result<ExitCode, CmdError> {
    let named = parse_named(arg)?;
    let ctx = connect(global).await?;
    let ns = ctx.namespace.clone();
    let (digest, fix) = match named {
        Named::Tag(name, tag) => {
            let is = stream(&ctx, &name).await?;
            let (digest, _) = current(&is, &ns, &name, &tag)?;
            (digest, format!("import-image {name}:{tag}"))
        }
        Named::Digest(name, digest) => {
            let is = stream(&ctx, &name).await?;
            if imagestream_core::import::find_image(&is, &digest).is_none() {
                return Err(CmdError::Failed(format!(
                    "imagestream {ns}/{name} has no image {digest} in its history"
                )));
            }
            (
                digest,
                "import-image NAME:TAG (a tag of this image)".to_owned(),
            )
        }
    };
    let (image, child) = records(&ctx, &digest, &fix).await?;
    print!(
        "{}",
        imagestream_core::describe::image::describe_image(
            arg,
            &image,
            child.as_ref(),
            jiff::Timestamp::now()
        )
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn new_app(global: &GlobalArgs, args: NewAppArgs) -> ExitCode {
    crate::cli::exit(new_app_inner(global, args).await)
}

async fn new_app_inner(global: &GlobalArgs, args: NewAppArgs) -> Result<ExitCode, CmdError> {
    let (name, tag) = match args.image_stream.split_once(':') {
        Some((n, t)) if !n.is_empty() && !t.is_empty() => (n.to_owned(), Some(t.to_owned())),
        None if !args.image_stream.is_empty() => (args.image_stream.clone(), None),
        _ => {
            return Err(bad(format!(
                "--image-stream {:?}: expected NAME or NAME:TAG",
                args.image_stream
            )));
        }
    };
    if name.contains(['/', '@']) {
        return Err(bad(format!(
            "--image-stream {:?}: name a stream of namespace -n, NAME[:TAG]",
            args.image_stream
        )));
    }
    let ctx = connect(global).await?;
    let ns = ctx.namespace.clone();
    let is = stream(&ctx, &name).await?;
    let tag = tag.unwrap_or_else(|| newapp::default_tag(&is));
    let (digest, reference) = current(&is, &ns, &name, &tag)?;
    let fix = format!("import-image {name}:{tag}");
    let (image, child) = records(&ctx, &digest, &fix).await?;
    let run = child.as_ref().unwrap_or(&image);
    let config = run.config().ok_or_else(|| {
        format!(
            "image {} of {name}:{tag} has no metadata: its config could not be read when it was imported (see the warning import-image printed)",
            run.digest()
        )
    })?;
    let source = newapp::Source {
        namespace: &ns,
        stream: &name,
        tag: &tag,
        image: &reference,
        config,
    };
    let objects = newapp::objects(&source, args.name.as_deref()).map_err(bad)?;
    match (&ctx.target, args.output) {
        (_, Some(o)) => print!("{}", output::render(&output::list(objects), format(o))?),
        (Target::Dir(_), None) => {
            print!("{}", output::render(&output::list(objects), Format::Yaml)?)
        }
        (Target::Api(client), None) => create(client, &ns, objects).await?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Creates the Deployment, then the Service. An object that exists already
/// stops it before anything is created; a Service refused after its
/// Deployment was created takes the Deployment back out.
async fn create(client: &kube::Client, ns: &str, objects: Vec<Value>) -> Result<(), CmdError> {
    let mut objects = objects.into_iter();
    let deployment: Option<Deployment> = objects
        .next()
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| e.to_string())?;
    let service: Option<Service> = objects
        .next()
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| e.to_string())?;
    let Some(deployment) = deployment else {
        return Err("new-app made no Deployment".into());
    };
    let name = deployment.metadata.name.clone().unwrap_or_default();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let services: Api<Service> = Api::namespaced(client.clone(), ns);
    let exists = |what: &str| {
        CmdError::Failed(format!(
            "{what} {ns}/{name} already exists; nothing was created: pass --name to make another, or delete it first"
        ))
    };
    let api = |e: kube::Error| CmdError::Failed(format!("{ns}/{name}: {e}"));
    if deployments.get_opt(&name).await.map_err(api)?.is_some() {
        return Err(exists("deployment.apps"));
    }
    if service.is_some() && services.get_opt(&name).await.map_err(api)?.is_some() {
        return Err(exists("service"));
    }
    let pp = PostParams::default();
    deployments.create(&pp, &deployment).await.map_err(api)?;
    println!("deployment.apps/{name} created");
    if let Some(service) = service {
        if let Err(e) = services.create(&pp, &service).await {
            let undone = deployments.delete(&name, &DeleteParams::default()).await;
            return Err(CmdError::Failed(format!(
                "service {ns}/{name} could not be created ({e}); {}",
                match undone {
                    Ok(_) => format!("deployment.apps/{name} was deleted again"),
                    Err(d) => format!("deployment.apps/{name} stays: deleting it failed: {d}"),
                }
            )));
        }
        println!("service/{name} created");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn istag_and_isimage_names_parse_as_oc_parses_them() {
        assert!(matches!(parse_named("app:1"), Ok(Named::Tag(n, t)) if n == "app" && t == "1"));
        let d = format!("sha256:{}", "a".repeat(64));
        assert!(
            matches!(parse_named(&format!("app@{d}")), Ok(Named::Digest(n, x)) if n == "app" && x == d)
        );
        for bad in ["app:", ":1", "a:b:c", "app@sha256:12", "@x"] {
            assert!(parse_named(bad).is_err(), "{bad}");
        }
    }
}
