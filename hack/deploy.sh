#!/usr/bin/env bash
# Installs (or upgrades) imagestream-webhook on the cluster of the current
# kubectl context, for clusters without cert-manager. With cert-manager, use
# `kubectl apply -k manifests/cert-manager` instead.
#
#   make deploy          # or: bash hack/deploy.sh
#
# What it does:
#   1. Makes a CA and a serving certificate with `imagestream-webhook certs`
#      and stores them in the Secret imagestream-system/imagestream-webhook-tls
#      (only when there is none yet, when it expires within 30 days, or when
#      ROTATE_CERTS=1: re-running it to upgrade keeps the certificate).
#   2. Applies everything of the kustomization but the webhook registrations
#      and waits until the Deployment is ready.
#   3. Only then applies the Mutating- and ValidatingWebhookConfiguration,
#      with caBundle set to the CA. The webhook fails closed, so registering
#      it before a replica can answer would block pod creation cluster-wide.
#
# Environment:
#   KUBECTL          the kubectl command, words allowed (default: kubectl),
#                    e.g. KUBECTL="kubectl --context kind-dev"
#   BIN              the imagestream-webhook binary that makes the certificates
#                    (default: target/release/imagestream-webhook)
#   CERTS_DIR        keep the new ca.crt, tls.crt and tls.key in this folder
#                    (default: a temporary folder, removed at exit)
#   KUSTOMIZE_DIR    the kustomization to deploy: manifests/ or an overlay of
#                    it (default: manifests)
#   IMAGE            the container image to run, e.g.
#                    registry.example/imagestream-webhook:dev (default: the
#                    kustomization's)
#   ROTATE_CERTS=1   replace the CA and the serving certificate. The old CA
#                    stays trusted beside the new one until the next rotation,
#                    so running pods keep working while they pick up the new
#                    certificate.
#   ROLLOUT_TIMEOUT  how long to wait for the Deployment (default: 300s)
#
# The namespace (imagestream-system) and names are those of the manifests;
# the webhooks' namespaceSelector and the certificate depend on them.
set -euo pipefail

NS=imagestream-system
NAME=imagestream-webhook
SECRET=imagestream-webhook-tls
BASE_IMAGE=ghcr.io/imagestream-webhook/imagestream-webhook
FIELD_MANAGER=imagestream-webhook-deploy
# A serving certificate that expires within this many seconds is renewed.
RENEW_WITHIN=$((30 * 24 * 60 * 60))

say() { printf 'deploy: %s\n' "$*" >&2; }
die() {
    printf 'deploy: error: %s\n' "$*" >&2
    exit 1
}

cd "$(dirname "$0")/.."

read -r -a kubectl <<<"${KUBECTL:-kubectl}"
[[ ${#kubectl[@]} -gt 0 ]] || die "KUBECTL is empty"
k() { "${kubectl[@]}" "$@"; }
apply() { k apply --server-side --force-conflicts --field-manager="$FIELD_MANAGER" -f -; }

BIN=${BIN:-target/release/imagestream-webhook}
KUSTOMIZE_DIR=${KUSTOMIZE_DIR:-manifests}
ROLLOUT_TIMEOUT=${ROLLOUT_TIMEOUT:-300s}

command -v "${kubectl[0]}" >/dev/null ||
    die "${kubectl[0]} not found: install kubectl (1.27 or later), or set KUBECTL"
[[ -f $KUSTOMIZE_DIR/kustomization.yaml ]] ||
    die "$KUSTOMIZE_DIR/kustomization.yaml not found (KUSTOMIZE_DIR)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Physical paths: kustomize resolves symbolic links before it follows a
# relative path, and refuses absolute ones.
work=$(cd "$work" && pwd -P)
kdir=$(cd "$KUSTOMIZE_DIR" && pwd -P)

say "context: $(k config current-context 2>/dev/null || echo '(none)')"

# ---- 1. the serving certificate ---------------------------------------------

secret=$(k -n "$NS" get secret "$SECRET" --ignore-not-found -o name)
if [[ -n $secret ]]; then
    managed_by=$(k -n "$NS" get secret "$SECRET" \
        -o 'jsonpath={.metadata.annotations.cert-manager\.io/certificate-name}')
    [[ -z $managed_by ]] ||
        die "Secret $NS/$SECRET is managed by cert-manager (Certificate $managed_by): deploy with kubectl apply -k manifests/cert-manager"
fi
# The CA registered now: both configurations carry the same, or none counts.
bundle_m=$(k get mutatingwebhookconfiguration "$NAME" --ignore-not-found \
    -o 'jsonpath={.webhooks[0].clientConfig.caBundle}')
bundle_v=$(k get validatingwebhookconfiguration "$NAME" --ignore-not-found \
    -o 'jsonpath={.webhooks[0].clientConfig.caBundle}')
registered=""
[[ $bundle_m != "$bundle_v" ]] || registered=$bundle_v

# keep:    the Secret and the CA stay as they are (an upgrade).
# rotate:  a new CA and certificate, with the registered CA still trusted
#          until the pods serve the new certificate.
# install: a new CA and certificate; no CA is registered, so the pods must
#          serve the new certificate before the webhooks are registered.
: >"$work/current.crt"
: >"$work/current-ca.crt"
if [[ -n $secret ]]; then
    k -n "$NS" get secret "$SECRET" -o 'jsonpath={.data.tls\.crt}' | base64 --decode >"$work/current.crt"
    k -n "$NS" get secret "$SECRET" -o 'jsonpath={.data.ca\.crt}' | base64 --decode >"$work/current-ca.crt"
fi
mode=install
[[ -z $registered ]] || mode=rotate
if [[ -n $secret && ${ROTATE_CERTS:-0} != 1 ]]; then
    keep_bundle=$registered
    if [[ -z $keep_bundle && -s $work/current-ca.crt ]]; then
        keep_bundle=$(base64 <"$work/current-ca.crt" | tr -d '\n')
    fi
    if [[ -z $keep_bundle ]]; then
        say "no CA known for the certificate in Secret $NS/$SECRET: replacing it"
    elif ! command -v openssl >/dev/null; then
        say "warning: openssl not found: cannot check the certificate in Secret $NS/$SECRET; keeping it (ROTATE_CERTS=1 replaces it)"
        mode=keep
    else
        printf '%s' "$keep_bundle" | base64 --decode >"$work/keep-bundle.pem"
        if ! openssl verify -CAfile "$work/keep-bundle.pem" "$work/current.crt" >/dev/null 2>&1; then
            say "the certificate in Secret $NS/$SECRET is not signed by the registered CA: replacing it"
        elif ! openssl x509 -noout -checkend "$RENEW_WITHIN" -in "$work/current.crt" >/dev/null 2>&1; then
            say "the certificate in Secret $NS/$SECRET expires within 30 days: renewing it"
        else
            mode=keep
        fi
    fi
fi

if [[ $mode == keep ]]; then
    say "keeping the certificate in Secret $NS/$SECRET and its CA (ROTATE_CERTS=1 replaces them)"
    bundle=$keep_bundle
else
    [[ -x $BIN ]] ||
        die "$BIN not found: build it with 'cargo build --release --bin imagestream-webhook', or set BIN"
    certs=${CERTS_DIR:-$work/certs}
    say "making a CA and a serving certificate for $NAME.$NS.svc in $certs"
    new_bundle=$("$BIN" certs --service "$NAME" --namespace "$NS" --out "$certs") ||
        die "$BIN certs failed"
    new_bundle=${new_bundle//[$'\t\r\n ']/}
    [[ -n $new_bundle && -s $certs/ca.crt && -s $certs/tls.crt && -s $certs/tls.key ]] ||
        die "$BIN certs wrote no certificate to $certs"
    if [[ $mode == rotate ]]; then
        # Trust the new CA and the one the running pods' certificate chains
        # to now (the Secret's ca.crt, or else the last of the registered
        # bundle), so that no admission request fails while the kubelet
        # brings the new Secret to the pods.
        if [[ -s $work/current-ca.crt ]]; then
            old_ca=$(cat "$work/current-ca.crt")
        else
            old_ca=$(printf '%s' "$registered" | base64 --decode | awk '
                /-----BEGIN CERTIFICATE-----/ { cert = "" }
                { cert = cert $0 "\n" }
                /-----END CERTIFICATE-----/ { last = cert }
                END { printf "%s", last }')
        fi
        [[ -n $old_ca ]] || die "cannot tell which CA signed the certificate the pods serve now"
        # ($(...) dropped the PEM's last newline.)
        bundle=$({ printf '%s\n' "$old_ca" && cat "$certs/ca.crt"; } | base64 | tr -d '\n')
    else
        bundle=$new_bundle
    fi
fi

# The Secret, of type kubernetes.io/tls. Like `kubectl create secret tls`,
# plus ca.crt (as cert-manager writes it), so that a later deploy knows which
# CA signed the certificate.
secret_yaml() {
    k -n "$NS" create secret generic "$SECRET" --type=kubernetes.io/tls \
        --from-file=tls.crt="$certs/tls.crt" --from-file=tls.key="$certs/tls.key" \
        --from-file=ca.crt="$certs/ca.crt" --dry-run=client -o yaml
}

# ---- the kustomizations to apply ----------------------------------------------

# The path from $1 to $kdir, through /: kustomize takes relative paths only.
rel_to_kdir() {
    local up
    up=$(printf '%s' "$1" | sed -e 's#[^/][^/]*#..#g' -e 's#^/##')
    printf '%s%s' "$up" "$kdir"
}

mkdir -p "$work/full" "$work/workload"
{
    printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n'
    printf 'resources:\n  - %s\n' "$(rel_to_kdir "$work/full")"
    if [[ -n ${IMAGE:-} ]]; then
        ref=$IMAGE digest="" tag=""
        if [[ $ref == *@* ]]; then
            digest=${ref#*@}
            ref=${ref%%@*}
        fi
        if [[ ${ref##*/} == *:* ]]; then
            tag=${ref##*:}
            ref=${ref%:*}
        fi
        printf 'images:\n  - name: %s\n    newName: "%s"\n' "$BASE_IMAGE" "$ref"
        [[ -z $tag ]] || printf '    newTag: "%s"\n' "$tag"
        [[ -z $digest ]] || printf '    digest: "%s"\n' "$digest"
    fi
    printf 'patches:\n'
    for kind in MutatingWebhookConfiguration ValidatingWebhookConfiguration; do
        printf '  - target:\n      group: admissionregistration.k8s.io\n      version: v1\n'
        printf '      kind: %s\n      name: %s\n' "$kind" "$NAME"
        printf '    patch: |-\n      - op: add\n        path: /webhooks/0/clientConfig/caBundle\n'
        printf '        value: "%s"\n' "$bundle"
    done
} >"$work/full/kustomization.yaml"
{
    printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n'
    printf 'resources:\n  - ../full\n'
    printf 'patches:\n'
    for kind in MutatingWebhookConfiguration ValidatingWebhookConfiguration; do
        # shellcheck disable=SC2016 # $patch is kustomize's, not the shell's
        printf '  - patch: |-\n      $patch: delete\n'
        printf '      apiVersion: admissionregistration.k8s.io/v1\n'
        printf '      kind: %s\n      metadata:\n        name: %s\n' "$kind" "$NAME"
    done
} >"$work/workload/kustomization.yaml"

k kustomize "$work/full" >"$work/full.yaml" || die "kubectl kustomize $KUSTOMIZE_DIR failed"
k kustomize "$work/workload" >"$work/workload.yaml" || die "kubectl kustomize $KUSTOMIZE_DIR failed"

# ---- 2. everything but the webhook registrations ------------------------------

existing=""
if [[ $mode == install ]]; then
    existing=$(k -n "$NS" get deployment "$NAME" --ignore-not-found -o name)
    say "creating namespace $NS and Secret $NS/$SECRET"
    k create namespace "$NS" --dry-run=client -o yaml | apply
    secret_yaml | apply
fi

say "applying $KUSTOMIZE_DIR without the webhook registrations"
apply <"$work/workload.yaml"
if [[ -n $existing ]]; then
    # Pods that were already running serve the old certificate until the
    # kubelet refreshes their Secret volume; new pods serve the new one from
    # the start, and the webhooks trust only the new CA.
    say "restarting deployment/$NAME so that every pod serves the new certificate"
    k -n "$NS" rollout restart "deployment/$NAME"
fi

say "waiting for deployment/$NAME (up to $ROLLOUT_TIMEOUT)"
if ! k -n "$NS" rollout status "deployment/$NAME" --timeout="$ROLLOUT_TIMEOUT"; then
    die "deployment/$NAME did not become ready, so the webhook registrations were left as they were; look at:
  ${kubectl[*]} -n $NS get pods
  ${kubectl[*]} -n $NS describe pods -l app.kubernetes.io/name=$NAME
  ${kubectl[*]} -n $NS logs -l app.kubernetes.io/name=$NAME"
fi

# ---- 3. the webhook registrations ---------------------------------------------

say "registering the webhooks"
apply <"$work/full.yaml"

if [[ $mode == rotate ]]; then
    say "replacing the certificate in Secret $NS/$SECRET (the webhooks now trust the old and the new CA)"
    secret_yaml | apply
    say "the pods serve the new certificate within about two minutes (the kubelet refreshes the Secret volume, the binary re-reads it); no restart is needed"
fi

say "done: imagestream-webhook runs in namespace $NS"
