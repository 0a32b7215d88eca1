//! The command line as a new user meets it: exit codes and error texts,
//! deletes that need an explicit tag, aliases that follow a CLI import,
//! commands printed in messages that run as printed, and the programs
//! `make test` installs (hack/test-deps.sh).

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::common::*;
use crate::registry::Registry;

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run the CLI")
}

/// Runs the CLI on the streams directory `dir` in namespace `ns`.
fn cli(dir: &Path, ns: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .arg("--streams-dir")
        .arg(dir)
        .args(["-n", ns])
        .stdin(Stdio::null())
        .output()
        .expect("run the CLI")
}

/// Every file of the directory and its bytes.
fn snapshot_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| {
            let e = e.expect("entry");
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).expect("read"),
            )
        })
        .collect();
    files.sort();
    files
}

/// One `error: ` at the start, none inside: messages are not wrapped twice.
fn assert_one_error_line(out: &Output, what: &str) {
    let stderr = text(&out.stderr);
    assert!(stderr.starts_with("error: "), "{what}: {stderr}");
    assert_eq!(
        stderr.matches("error:").count(),
        1,
        "{what}: a doubled prefix: {stderr}"
    );
    assert!(!stderr.contains("<unnamed>"), "{what}: {stderr}");
    assert!(
        !stderr.contains("-->"),
        "{what}: a source excerpt: {stderr}"
    );
}

#[test]
fn tag_delete_without_a_tag_changes_nothing_and_exits_2() {
    let dir = example_streams();
    let before = snapshot_files(dir.path());
    for target in ["marsview", "marsview:"] {
        let out = cli(dir.path(), "toms-project", &["tag", "-d", target]);
        assert_code(&out, 2, target);
        assert!(out.stdout.is_empty());
    }
    let out = cli(dir.path(), "toms-project", &["tag", "-d", "marsview"]);
    assert!(
        text(&out.stderr).contains("tag -d needs NAME:TAG, e.g. marsview:latest"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(snapshot_files(dir.path()), before, "no file changed");

    // Named explicitly, the tag and its history go.
    let out = cli(dir.path(), "toms-project", &["tag", "-d", "marsview:1.0"]);
    assert_code(&out, 0, "tag -d marsview:1.0");
    let out = cli(dir.path(), "toms-project", &["describe", "marsview"]);
    assert_code(&out, 0, "describe");
    assert!(
        !text(&out.stdout).contains("\n1.0\n"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stdout).contains("\nlatest\n"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn exit_codes_are_the_same_in_every_command() {
    let dir = example_streams();
    let d = dir.path().to_str().expect("path");
    let config = dir.path().join("config.yml.txt");
    std::fs::write(&config, "bogus: 1\n").expect("write config");
    let c = config.to_str().expect("path");

    // An invalid --config is bad input everywhere, serve included.
    let commands: [&[&str]; 6] = [
        &[
            "serve",
            "--no-import",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ],
        &["review", "-f", "-"],
        &[
            "check-access",
            "toms-project/marsview",
            "--service-account",
            "toms-project/default",
        ],
        &["describe", "marsview"],
        &["import-image", "marsview"],
        &["tag", "--alias", "marsview:latest", "marsview:prod"],
    ];
    for args in commands {
        let mut full = args.to_vec();
        full.extend(["--streams-dir", d, "-n", "toms-project", "--config", c]);
        let out = run(&full);
        assert_code(&out, 2, &format!("{args:?} with an invalid --config"));
        assert_one_error_line(&out, &format!("{args:?}"));
        assert!(text(&out.stderr).contains("unknown field `bogus`"));
    }

    // A broken stream file is bad input everywhere, and names the stream it holds.
    std::fs::write(
        dir.path().join("broken.yaml"),
        "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata:\n  name: broken\n  namespace: toms-project\nspec:\n  tags:\n  - name: t\n   from: x\n",
    )
    .expect("write broken");
    let before = snapshot_files(dir.path());
    for args in commands.iter().skip(1) {
        let mut full = args.to_vec();
        full.extend(["--streams-dir", d, "-n", "toms-project"]);
        let out = run(&full);
        assert_code(&out, 2, &format!("{args:?} with a broken stream file"));
        assert_one_error_line(&out, &format!("{args:?}"));
        let stderr = text(&out.stderr);
        assert!(stderr.contains("broken.yaml"), "{stderr}");
        assert!(
            stderr.contains("ImageStream toms-project/broken"),
            "the stream has a name: {stderr}"
        );
        assert!(stderr.contains("at line 9"), "the file's line: {stderr}");
    }
    assert_eq!(snapshot_files(dir.path()), before, "nothing was written");
    std::fs::remove_file(dir.path().join("broken.yaml")).expect("remove");

    // Malformed arguments: 2. Well-formed requests that fail or are denied: 1.
    let bad = [
        &["describe", "Not_A_Name"][..],
        &["import-image", "app:"],
        &["tag", "marsview:latest"],
        &["check-access", "marsview", "--service-account", "nobody"],
    ];
    for args in bad {
        let out = cli(dir.path(), "toms-project", args);
        assert_code(&out, 2, &format!("{args:?}"));
        assert_one_error_line(&out, &format!("{args:?}"));
    }
    let failed = [
        &["describe", "nosuch"][..],
        &["tag", "-d", "marsview:nosuch"],
        &["import-image", "nosuch"],
    ];
    for args in failed {
        let out = cli(dir.path(), "toms-project", args);
        assert_code(&out, 1, &format!("{args:?}"));
        assert_one_error_line(&out, &format!("{args:?}"));
    }
    let out = cli(
        dir.path(),
        "toms-project",
        &[
            "check-access",
            "vault/secret-sauce",
            "--service-account",
            "toms-project/default",
        ],
    );
    assert_code(&out, 1, "check-access denied");
}

#[test]
fn describe_shows_when_import_image_created_the_stream() {
    let reg = Registry::start_anonymous();
    let dir = tempfile::tempdir().expect("tempdir");
    reg.push("team/app", "1", "one");
    let from = format!("{}/team/app:1", reg.host);
    let out = cli(
        dir.path(),
        "team",
        &[
            "import-image",
            "app:1",
            "--from",
            &from,
            "--insecure",
            "--confirm",
        ],
    );
    assert_code(&out, 0, "import-image --confirm");
    let out = cli(dir.path(), "team", &["describe", "app"]);
    assert_code(&out, 0, "describe");
    let stdout = text(&out.stdout);
    let created = stdout
        .lines()
        .find(|l| l.starts_with("Created:"))
        .expect("a Created line");
    assert!(
        created.ends_with("ago") && !created.contains("<unknown>"),
        "{stdout}"
    );
}

/// What `review` pins `image` to in namespace team, or its denial.
fn review_pins(dir: &Path, image: &str) -> Result<String, String> {
    let manifest = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations: {{alpha.image.policy.openshift.io/resolve-names: \"*\"}}\nspec:\n  containers: [{{name: main, image: \"{image}\"}}]\n"
    );
    let file = dir.join("pod.yaml.in");
    std::fs::write(&file, manifest).expect("write pod");
    let out = cli(dir, "team", &["review", "-f", file.to_str().expect("path")]);
    if !out.status.success() {
        return Err(text(&out.stderr));
    }
    let doc: Value = serde_saphyr::from_str(&text(&out.stdout)).expect("yaml");
    Ok(doc["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

#[test]
fn a_cli_import_moves_the_aliases_that_follow_the_tag() {
    let reg = Registry::start_anonymous();
    let dir = tempfile::tempdir().expect("tempdir");
    let d1 = reg.push("team/app", "latest", "one");
    let from = format!("{}/team/app:latest", reg.host);
    let out = cli(
        dir.path(),
        "team",
        &[
            "import-image",
            "app",
            "--from",
            &from,
            "--insecure",
            "--confirm",
        ],
    );
    assert_code(&out, 0, "import-image --confirm");
    let out = cli(
        dir.path(),
        "team",
        &["tag", "--alias", "app:latest", "app:prod"],
    );
    assert_code(&out, 0, "tag --alias");
    let out = cli(
        dir.path(),
        "team",
        &["tag", "--alias", "app:prod", "app:stage"],
    );
    assert_code(&out, 0, "tag --alias of an alias");
    let file = dir.path().join("app.yaml");
    assert_eq!(status_items(&file, "prod"), vec![d1.clone()]);

    // A push, then a CLI import of latest: prod and stage move in the same write.
    let d2 = reg.push("team/app", "latest", "two");
    let out = cli(dir.path(), "team", &["import-image", "app"]);
    assert_code(&out, 0, "import-image app");
    assert_eq!(status_items(&file, "latest"), vec![d2.clone(), d1.clone()]);
    assert_eq!(status_items(&file, "prod"), vec![d2.clone(), d1.clone()]);
    assert_eq!(status_items(&file, "stage"), vec![d2.clone(), d1.clone()]);
    let pinned = format!("{}/team/app@{d2}", reg.host);
    assert_eq!(review_pins(dir.path(), "app:prod"), Ok(pinned.clone()));
    assert_eq!(review_pins(dir.path(), "app:stage"), Ok(pinned.clone()));

    // describe agrees with admission: the aliases are listed under latest, at d2.
    let out = cli(dir.path(), "team", &["describe", "app"]);
    assert_code(&out, 0, "describe");
    let stdout = text(&out.stdout);
    assert!(stdout.contains("latest (prod, stage)\n"), "{stdout}");
    assert!(stdout.contains(&format!("* {pinned}")), "{stdout}");
}

/// The command after `marker` in a message, split as a shell would.
fn printed_command(message: &str, marker: &str) -> Vec<String> {
    let line = message.lines().find(|l| l.contains(marker)).expect(marker);
    let cmd = line.split_once(marker).expect("marker").1.trim();
    shlex::split(cmd).expect("a shell command")
}

#[test]
fn the_fix_printed_with_a_denial_runs_as_printed() {
    let reg = Registry::start_anonymous();
    let parent = tempfile::tempdir().expect("tempdir");
    // A space in the path: the printed command quotes it.
    let dir = parent.path().join("my streams");
    std::fs::create_dir(&dir).expect("mkdir");
    let from = format!("{}/team/app:1", reg.host);
    // The tag's image is not pushed yet: its import fails.
    let out = cli(
        &dir,
        "team",
        &[
            "import-image",
            "app:1",
            "--from",
            &from,
            "--insecure",
            "--confirm",
        ],
    );
    assert_code(&out, 1, "import of a missing image");
    let denial = review_pins(&dir, "app:1").expect_err("denied");
    let shown = shlex::try_quote(dir.to_str().expect("path"))
        .expect("quotable")
        .into_owned();
    assert!(
        denial.contains(&format!(
            "run: imagestream-webhook import-image app:1 -n team --streams-dir {shown}"
        )),
        "{denial}"
    );

    // Fix the source, then run the printed command as printed.
    let d1 = reg.push("team/app", "1", "one");
    let argv = printed_command(&denial, "run: ");
    assert_eq!(argv[0], "imagestream-webhook");
    let out = Command::new(BIN)
        .args(&argv[1..])
        .current_dir(parent.path())
        .output()
        .expect("run the printed command");
    assert_code(&out, 0, "the printed import-image");
    assert_eq!(
        review_pins(&dir, "app:1"),
        Ok(format!("{}/team/app@{d1}", reg.host))
    );
}

#[test]
fn the_grant_printed_in_directory_mode_writes_the_binding_there() {
    let dir = example_streams();
    let d = dir.path().to_str().expect("path");
    let ask = || {
        run(&[
            "check-access",
            "shared-images/base",
            "--service-account",
            "vault/default",
            "--streams-dir",
            d,
        ])
    };
    let out = ask();
    assert_code(&out, 1, "denied");
    let argv = printed_command(&text(&out.stdout), "grant it with: ");
    assert_eq!(argv[0], "kubectl");
    let redirect = argv
        .iter()
        .position(|a| a == ">")
        .expect("written to a file");
    let target = Path::new(&argv[redirect + 1]);
    assert_eq!(target.parent(), Some(dir.path()), "{argv:?}");
    let kubectl = Command::new("kubectl")
        .args(&argv[1..redirect])
        .env("KUBECONFIG", dir.path().join("no-kubeconfig"))
        .output()
        .expect("kubectl (make test installs it: hack/test-deps.sh)");
    assert_code(&kubectl, 0, "kubectl create --dry-run=client");
    std::fs::write(target, &kubectl.stdout).expect("write the binding");
    let out = ask();
    assert_code(&out, 0, "allowed after the printed grant");
}

// ---- hack/test-deps.sh ------------------------------------------------------

/// A PATH of stand-ins: every program the script looks for, a non-root `id`,
/// no sudo, and the real python3 (it reads kubectl's version with it).
fn stub_path(missing: &[&str], kubectl_minor: u32) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt as _;
    let bin = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, body: &str| {
        let p = bin.path().join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("write stub");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    };
    write("id", "echo 1000");
    write("cargo", "exit 0");
    for tool in [
        "docker-registry",
        "skopeo",
        "htpasswd",
        "kubernetes-validate",
        "helm",
    ] {
        if !missing.contains(&tool) {
            write(tool, "exit 0");
        }
    }
    if !missing.contains(&"kubectl") {
        write(
            "kubectl",
            &format!(r#"echo '{{"clientVersion":{{"major":"1","minor":"{kubectl_minor}"}}}}'"#),
        );
    }
    // The interpreter itself: a pyenv shim would need pyenv on PATH.
    let python = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3");
    let python = text(&python.stdout).trim().to_owned();
    std::os::unix::fs::symlink(python, bin.path().join("python3")).expect("link python3");
    bin
}

fn test_deps(path: &Path) -> Output {
    Command::new("/bin/bash")
        .arg(repo_path("hack/test-deps.sh"))
        .env("PATH", path)
        .env_remove("TEST_DEPS_BIN")
        .output()
        .expect("run hack/test-deps.sh")
}

#[test]
fn test_deps_is_quiet_when_everything_is_there() {
    let bin = stub_path(&[], 32);
    let out = test_deps(bin.path());
    assert_code(&out, 0, "all present");
    assert!(out.stdout.is_empty() && out.stderr.is_empty());
}

#[test]
fn test_deps_stops_with_the_install_command_when_it_cannot_install() {
    // Not root, no sudo: a Debian package is named with the command that installs it.
    let bin = stub_path(&["docker-registry", "skopeo"], 32);
    let out = test_deps(bin.path());
    assert_code(&out, 1, "apt packages missing");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("    apt-get install -y docker-registry skopeo\n"),
        "{stderr}"
    );
    assert!(stderr.contains("as root"), "{stderr}");

    // An old kubectl (Debian's 1.20) will not do; only root may install the new one.
    let bin = stub_path(&[], 20);
    let out = test_deps(bin.path());
    assert_code(&out, 1, "old kubectl");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("kubectl is missing (or older"), "{stderr}");
    assert!(stderr.contains("    bash hack/test-deps.sh\n"), "{stderr}");
}

// ---- the README's examples, as written ---------------------------------------

fn readme() -> String {
    std::fs::read_to_string(repo_path("README.md")).expect("README.md")
}

/// The CLI run from the repository's root, as the README's commands are.
fn at_root(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(repo_path(""))
        .stdin(Stdio::null())
        .output()
        .expect("run the CLI")
}

#[test]
fn the_quick_start_prints_what_the_readme_shows() {
    let readme = readme();
    let command =
        "imagestream-webhook review --streams-dir manifests/examples -f examples/deployment.yaml";
    assert!(readme.contains(&format!("```sh\n{command}\n```")));
    let argv = shlex::split(command).expect("command");
    let out = at_root(&argv[1..].iter().map(String::as_str).collect::<Vec<_>>());
    assert_code(&out, 0, command);
    assert!(text(&out.stdout).contains(&example_digest("marsview.yaml", 0)));

    // marsview:next instead of marsview:latest: the denial, exactly as shown, and no manifest.
    let next = tempfile::NamedTempFile::new().expect("tempfile");
    let deployment =
        std::fs::read_to_string(repo_path("examples/deployment.yaml")).expect("example");
    std::fs::write(
        next.path(),
        deployment.replace("marsview:latest", "marsview:next"),
    )
    .expect("write");
    let out = at_root(&[
        "review",
        "--streams-dir",
        "manifests/examples",
        "-f",
        next.path().to_str().expect("path"),
    ]);
    assert_code(&out, 1, "denied");
    assert!(out.stdout.is_empty());
    let stderr = text(&out.stderr);
    assert!(
        readme.contains(&format!("```\n{stderr}```")),
        "the README shows another denial than:\n{stderr}"
    );

    let command = "imagestream-webhook check-access shared-images/base --service-account toms-project/default --streams-dir manifests/examples";
    let argv = shlex::split(command).expect("command");
    let out = at_root(&argv[1..].iter().map(String::as_str).collect::<Vec<_>>());
    assert_code(&out, 0, command);
    assert!(
        readme.contains(&format!("$ {command}\n{}", text(&out.stdout))),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn the_readme_session_on_a_copy_of_the_examples_runs_as_written() {
    let readme = readme();
    let block = readme
        .split_once("$ cp -r manifests/examples /tmp/streams\n")
        .expect("the session")
        .1
        .split_once("```")
        .expect("its end")
        .0;
    let copy = example_streams();
    let dir = copy.path().to_str().expect("path");
    let mut ran = 0;
    let steps = block.split("$ ").filter(|s| !s.is_empty());
    for step in steps {
        let (command, expected) = step.split_once('\n').expect("a line");
        let command = command.split("   # ").next().expect("command");
        let argv = shlex::split(&command.replace("/tmp/streams", dir)).expect("command");
        assert_eq!(argv[0], "imagestream-webhook", "{command}");
        if argv.iter().any(|a| a.starts_with("docker.io/")) {
            continue; // needs the network
        }
        let out = run(&argv[1..].iter().map(String::as_str).collect::<Vec<_>>());
        assert_code(&out, 0, command);
        if argv[1] == "tag" {
            assert_eq!(text(&out.stdout), expected, "{command}");
        }
        ran += 1;
    }
    assert_eq!(ran, 4, "tag, tag --alias, tag -d, describe");
}
