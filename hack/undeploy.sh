#!/usr/bin/env bash
# Removes imagestream-webhook from the cluster of the current kubectl context,
# whether it was installed by hack/deploy.sh or with the cert-manager overlay.
#
#   bash hack/undeploy.sh
#
# The webhook registrations go first: the webhook fails closed, so deleting
# its pods while the API server still calls it would block pod creation
# across the cluster. Then its cluster-wide RBAC, then its namespace (the
# Deployment, Service, PodDisruptionBudget, ConfigMap, ServiceAccount, Role,
# RoleBinding, the TLS Secret, the leader-election Lease and any cert-manager
# Issuers and Certificates).
#
# Kept unless PURGE=1: the ImageStream CRD, because deleting it deletes every
# ImageStream in the cluster, and the ClusterRole system:image-puller, which
# users' RoleBindings refer to.
#
# Environment:
#   KUBECTL          the kubectl command, words allowed (default: kubectl)
#   PURGE=1          also delete the CRD (and with it every ImageStream) and
#                    the ClusterRole system:image-puller
#   DELETE_TIMEOUT   how long to wait for the namespace to go (default: 300s)
set -euo pipefail

NS=imagestream-system
NAME=imagestream-webhook
CRD=imagestreams.image.openshift.io

say() { printf 'undeploy: %s\n' "$*" >&2; }
die() {
    printf 'undeploy: error: %s\n' "$*" >&2
    exit 1
}

read -r -a kubectl <<<"${KUBECTL:-kubectl}"
[[ ${#kubectl[@]} -gt 0 ]] || die "KUBECTL is empty"
command -v "${kubectl[0]}" >/dev/null || die "${kubectl[0]} not found: install kubectl, or set KUBECTL"
k() { "${kubectl[@]}" "$@"; }

say "context: $(k config current-context 2>/dev/null || echo '(none)')"

say "removing the webhook registrations"
k delete mutatingwebhookconfiguration "$NAME" --ignore-not-found
k delete validatingwebhookconfiguration "$NAME" --ignore-not-found

say "removing the cluster-wide RBAC"
k delete clusterrolebinding "$NAME" --ignore-not-found
k delete clusterrole "$NAME" --ignore-not-found

say "removing namespace $NS and everything in it"
k delete namespace "$NS" --ignore-not-found --timeout="${DELETE_TIMEOUT:-300s}"

if [[ ${PURGE:-0} == 1 ]]; then
    say "PURGE=1: removing the ClusterRole system:image-puller and the CRD $CRD (and every ImageStream)"
    k delete clusterrole system:image-puller --ignore-not-found
    k delete customresourcedefinition "$CRD" --ignore-not-found
else
    say "kept the CRD $CRD (and every ImageStream) and the ClusterRole system:image-puller; PURGE=1 removes them"
fi
say "done"
