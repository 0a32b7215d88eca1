#!/usr/bin/env bash
# Fails when a crate that does I/O (a runtime, an HTTP, TLS or registry client,
# the Kubernetes client, metrics or log output) enters the normal dependency
# tree of imagestream-core: the core holds the decisions and no I/O.
set -euo pipefail
CARGO=${CARGO:-cargo}
BANNED='tokio hyper axum rustls tokio-rustls reqwest oci-client kube kube-client prometheus-client tracing-subscriber'
tree=$($CARGO tree -p imagestream-core -e normal --prefix none --format '{p}' | awk '{print $1}' | sort -u)
found=0
for crate in $BANNED; do
	if grep -qx "$crate" <<<"$tree"; then
		echo "imagestream-core depends on $crate: $($CARGO tree -p imagestream-core -e normal -i "$crate" | head -5 | tr '\n' ' ')" >&2
		found=1
	fi
done
[ "$found" = 0 ] && echo "imagestream-core: no I/O crates in its dependency tree"
exit $found
