CARGO ?= cargo
BIN := target/debug/imagestream-webhook
STREAMS ?= manifests/examples

.PHONY: build run test test-deps install certs crd clean-certs deploy undeploy

build:
	$(CARGO) build --bin imagestream-webhook

certs/tls.crt certs/tls.key certs/ca.crt: | build
	$(BIN) certs --service imagestream-webhook --namespace imagestream-system \
		--san localhost --san 127.0.0.1 --san ::1 --out certs >/dev/null
	@echo "made development certificates in certs/ (CA: certs/ca.crt)"

certs: certs/tls.crt

## Serve the webhook on https://127.0.0.1:8443 over the example streams; admin on http://127.0.0.1:9090.
run: build certs/tls.crt
	$(BIN) serve --streams-dir $(STREAMS) --no-import --listen 127.0.0.1:8443 --admin-listen 127.0.0.1:9090 \
		--tls-cert certs/tls.crt --tls-key certs/tls.key

## Install the programs the tests run (docker-registry, skopeo, htpasswd, kubectl,
## helm, kubernetes-validate) when they are missing, or say how.
test-deps:
	bash hack/test-deps.sh

## Formatting, lints, the rules of the source tree and every test of both crates.
test: test-deps
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	CARGO="$(CARGO)" bash hack/core-deps.sh
	python3 hack/architecture.py
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		$(CARGO) nextest run --workspace --no-fail-fast; \
	else \
		$(CARGO) test --workspace --lib --bins --tests; \
	fi

## Put imagestream-webhook on your PATH (a release build in ~/.cargo/bin).
install:
	$(CARGO) install --locked --path . --bin imagestream-webhook

## The CRD from the types, for the kustomize base and the chart (kept equal by the tests).
crd:
	$(BIN) crd > manifests/crd.yaml
	cp manifests/crd.yaml charts/imagestream-webhook/crds/crd.yaml

clean-certs:
	rm -f certs/ca.crt certs/tls.crt certs/tls.key

## Install on the current kubectl context, with certificates from `certs` (no cert-manager needed).
deploy:
	$(CARGO) build --release --bin imagestream-webhook
	bash hack/deploy.sh

## Remove the webhook configurations first, then everything else (the CRD stays unless PURGE=1).
undeploy:
	bash hack/undeploy.sh

## Micro-benchmarks and a loopback load test against a floor server (minutes; not part of `make test`).
.PHONY: bench
bench:
	CARGO="$(CARGO)" bash hack/bench.sh

## Coverage-guided fuzzing (cargo-fuzz, libFuzzer) of fuzz/fuzz_targets, FUZZ_SECONDS each; not run in CI.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=
.PHONY: fuzz
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash fuzz/run.sh $(FUZZ_TARGETS)

## Soak (not in CI): the release server on the examples at a fixed rate for 10 minutes
## (SOAK_SECONDS=60 to shorten); fails on any error or a 10% growth of resident memory.
.PHONY: soak
soak:
	CARGO="$(CARGO)" bash hack/soak.sh
