# storefleet — the two commands: `make run` and `make test`. Everything else is a step.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
BUILD_DIR ?= build
JOBS ?= 2
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTOREFLEET_WERROR=ON

.PHONY: all help deps deps-apt deps-tools build test test-unit test-integration test-e2e test-faults run stop \
        stack-up stack-down status clean bench bench-quick bench-rollout images test-real dashboard format lint \
        screenshots

## all: the same as build.
all: build

## help: every target with what it does.
help:
	@python3 infra/lint/help.py Makefile

## deps: installs what is missing (Debian packages, then the Go and Maven built tools).
deps: deps-apt deps-tools

## deps-apt: the Debian packages only (infra/deps/apt.sh).
deps-apt:
	@bash infra/deps/apt.sh

## deps-tools: the tools built from Go modules and Maven jars, cached in ~/.cache/storefleet.
deps-tools: deps-apt
	@bash infra/local/build-tools.sh
	@bash -c 'source infra/local/lib/common.sh; source infra/local/parts/kafka.sh; kafka_fetch'

## build: configures and compiles everything with -j$(JOBS), and builds the dashboard.
build: deps-apt dashboard
	@cmake -S . -B $(BUILD_DIR) -G Ninja $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD_DIR) -j $(JOBS)

## dashboard: the web console in dashboard/dist (served by the front door at /). node_modules
## is installed from the lockfile only when the lockfile changed; the build reruns only when
## a source changed.
DASHBOARD_SOURCES := $(shell find dashboard/src dashboard/public -type f 2>/dev/null) \
	dashboard/index.html dashboard/vite.config.ts dashboard/tsconfig.json dashboard/package.json \
	dashboard/scripts/bundle-size.mjs
dashboard: dashboard/dist/index.html

dashboard/node_modules/.package-lock.json: dashboard/package-lock.json | deps-apt
	@cd dashboard && npm ci --no-audit --no-fund
	@touch $@

dashboard/dist/index.html: dashboard/node_modules/.package-lock.json $(DASHBOARD_SOURCES)
	@cd dashboard && npm run --silent build
	@touch $@

## test-unit: the unit tests only (no servers).
test-unit: build
	@ctest --test-dir $(BUILD_DIR) -L unit -j $(JOBS) --output-on-failure

## test-integration: the integration tests on the local real stack.
test-integration: build deps-tools
	@tests/with-stack ctest --test-dir $(BUILD_DIR) -L integration --output-on-failure

## test-e2e: the end-to-end tests (the APIs, the dashboard in Chromium) on the local real stack.
test-e2e: build deps-tools
	@tests/with-stack ctest --test-dir $(BUILD_DIR) -L e2e --output-on-failure

## test-faults: the fault suite (processes killed, servers stopped; docs/reliability.md).
test-faults: build deps-tools
	@tests/with-stack ctest --test-dir $(BUILD_DIR) -L faults --output-on-failure

## test: deps, build, unit tests, then integration, e2e and fault tests on one local real
## stack (the fault tier runs after the e2e tier, whatever its outcome; both count).
test: build deps-tools
	@ctest --test-dir $(BUILD_DIR) -L unit -j $(JOBS) --output-on-failure
	@tests/with-stack bash -c 'rc=0; \
		ctest --test-dir $(BUILD_DIR) -L "integration|e2e" --output-on-failure || rc=1; \
		ctest --test-dir $(BUILD_DIR) -L faults --output-on-failure || rc=1; exit $$rc'

## images: the registry-less images of the real node, cached in ~/.cache/storefleet/images:
## the store images (Debian rootfs + Debian/npm packages; the first run takes about 13 minutes)
## and the platform's (the built services as services/Dockerfile ships them, the dashboard on
## Debian's nginx, the Kafka tools of the topics Job; about 2 minutes).
images: deps-apt build
	@bash infra/images/build.sh

## test-real: through the API, a Medusa store on the real node serves and takes an order, the
## store NetworkPolicies hold under the node's enforcer, and stopping the node puts the machine
## back as it was (tests/real/run); .ci/run runs it after `make test`. Builds the real-node
## tools and the images the first time.
test-real: build deps-tools images
	@python3 tests/images/platform_images.py
	@tests/real/run

## run: the whole platform on the local real stack; prints where to reach it.
run: build deps-tools
	@infra/local/up
	@infra/local/platform up

## stop: stops what make run started.
stop:
	@bash infra/local/platform down || true
	@infra/local/down

## stack-up: the local real stack alone (Postgres, Kafka, the Kubernetes control plane, the nodes).
stack-up: deps-tools
	@infra/local/up

## stack-down: stops the local real stack.
stack-down:
	@infra/local/down

## status: what of the local stack runs, and where.
status:
	@infra/local/status || true

## format: rewrites the C++ (clang-format-14, .clang-format) and Go (gofmt) sources in place.
format: deps-apt
	@JOBS=$(JOBS) infra/lint/format.sh

## lint: the style and static checks, changing nothing (infra/lint/README.md): clang-format,
## shellcheck, go vet, tsc --noEmit and the generated API types, clang-tidy (cached per file).
## .ci/run runs it first.
lint: deps-apt dashboard/node_modules/.package-lock.json
	@cmake -S . -B $(BUILD_DIR) -G Ninja $(CMAKE_FLAGS) >/dev/null
	@BUILD_DIR=$(BUILD_DIR) JOBS=$(JOBS) infra/lint/lint.sh
	@cd dashboard && npm run --silent check:api

## screenshots: refreshes docs/screenshots on purpose (tests never write there): runs the
## browser test on the local real stack (starts one if none runs).
screenshots: build deps-tools
	@STOREFLEET_BUILD_DIR=$(abspath $(BUILD_DIR)) tests/dashboard/refresh-screenshots.sh

## bench-quick: the small benchmark (about 5 min); bench: the full table with the scale curve
## to 5,000 stores (about 100 min; 40 min on 24 GiB, where memory stops the fill at 1,000; sizes overridable, see bench/run.sh). See docs/performance.md.
bench-quick: build deps-tools
	@STOREFLEET_BUILD_DIR=$(abspath $(BUILD_DIR)) bench/run.sh quick

bench: build deps-tools
	@STOREFLEET_BUILD_DIR=$(abspath $(BUILD_DIR)) bench/run.sh full

## bench-rollout: a fleet rollout of 1,000 stores on KWOK next to their installs and the
## ceiling of both (about 70 min; BENCH_ROLLOUT_STORES overrides the size, BENCH_SECTIONS=ceiling
## or =platform runs one side alone). See bench/rollout.sh.
bench-rollout: build deps-tools
	@STOREFLEET_BUILD_DIR=$(abspath $(BUILD_DIR)) bench/rollout.sh $(or $(BENCH_ROLLOUT_STORES),1000)

## clean: removes the build folder (the caches in ~/.cache/storefleet stay).
clean:
	rm -rf $(BUILD_DIR)
