# podlock: build, test and benchmark.
#
#   make build   the binaries, into bin/
#   make test    every test, as root, installing what the tests need
#   make bench   runtime/PERFORMANCE.md's figures, as ratios to plain runc
#   make bench-processes  how long each program of a container's start runs
#                (perf's scheduler tracepoints; needs linux-perf)
#   make demo    the quickstart, on real runc
#   make generate  deepcopy code and CRD manifests from the Go types
#   make tools   build the test components (etcd, kube-apiserver,
#                kube-controller-manager, kube-scheduler, kubelet,
#                containerd, runc, CNI plugins) into .cache
#   make image   the podlock image from bin/, without a container engine:
#                bin/image/oci (OCI layout) and bin/image/image.tar
#   make e2e     only the end-to-end tests on a single-node cluster
#   make plugin-archive  kubectl-podlock as a release artifact of its own
#   make clean   remove bin/ and the cache of built test components

GO       ?= go
BIN      ?= $(CURDIR)/bin
CACHE    ?= $(CURDIR)/.cache
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
GOFLAGS  += -trimpath

# Debian packages the tests run on: runc and crun as real runtimes,
# busybox-static as the containers' userland, libseccomp-dev to compile
# seccomp profiles, jq for the demo, podman to start containers outside
# Kubernetes.
DEB_PACKAGES := runc crun busybox-static libseccomp-dev jq podman

# podlock-runtime-confine runs for every confined create and exec: link it
# statically (no dynamic loader at each start) and leave out urfave/cli's
# man-page generator, whose package initialisation alone costs 0.5 ms.
# netgo and osusergo keep glibc's resolver out of the static binary:
# linked statically, getaddrinfo needs the build machine's glibc at run
# time, so a kubeconfig server given by host name could fail to resolve on
# a node whose glibc differs.
RUNTIME_TAGS    := urfave_cli_no_docs netgo osusergo
VERSION_LDFLAGS := -X github.com/kubewarden/podlock/runtime.Version=$(VERSION)

# Real components the tests run, built from the Go module proxy and cached
# (tests/tools/build.sh rebuilds only what changed), and controller-gen.
TOOLS_CACHE            := $(CACHE)/tools
TOOLS_BIN              := $(TOOLS_CACHE)/bin
CONTROLLER_GEN_VERSION := v0.23.0
CONTROLLER_GEN         := $(TOOLS_BIN)/controller-gen

export GOFLAGS

.PHONY: all build image plugin-archive test e2e fuzz bench bench-processes demo deps tools controller-gen generate clean FORCE

all: build

build: $(BIN)/podlock-runtime $(BIN)/podlock-runtime-confine $(BIN)/podlock-helper $(BIN)/podlock-interpose $(BIN)/podlock-install $(BIN)/podlock-node $(BIN)/podlock-controller $(BIN)/kubectl-podlock

# podlock-runtime, the front containerd executes for every runc command:
# static, no cgo, only what the choice between runc and
# podlock-runtime-confine needs (runtime/front).
$(BIN)/podlock-runtime: FORCE
	CGO_ENABLED=0 $(GO) build -ldflags '-s -w' -o $@ ./cmd/podlock-runtime

$(BIN)/podlock-runtime-confine: FORCE
	CGO_ENABLED=1 $(GO) build -tags '$(RUNTIME_TAGS)' \
		-ldflags '-s -w $(VERSION_LDFLAGS) -linkmode external -extldflags "-static"' \
		-o $@ ./cmd/podlock-runtime-confine

# The helper runs inside arbitrary images: static, no cgo.
$(BIN)/podlock-helper: FORCE
	CGO_ENABLED=0 $(GO) build -ldflags '-s -w' -o $@ ./cmd/podlock-helper

# The createContainer hook of containers with listed binaries: on their
# start path, so small and static.
$(BIN)/podlock-interpose: FORCE
	CGO_ENABLED=0 $(GO) build -ldflags '-s -w' -o $@ ./cmd/podlock-interpose

# Runs once per node, possibly from a container with the host mounted:
# static, no cgo.
$(BIN)/podlock-install: FORCE
	CGO_ENABLED=0 $(GO) build -ldflags '-s -w' -o $@ ./cmd/podlock-install

$(BIN)/podlock-controller: FORCE
	CGO_ENABLED=0 $(GO) build -ldflags '-s -w -X main.version=$(VERSION)' -o $@ ./cmd/podlock-controller

$(BIN)/podlock-node: FORCE
	CGO_ENABLED=0 $(GO) build -ldflags '-s -w' -o $@ ./cmd/podlock-node

# The kubectl plugin runs on users' machines, next to kubectl, not in the
# cluster: static, no cgo, and not in the image (install/image) but an
# artifact of its own to put on the PATH.
$(BIN)/kubectl-podlock: FORCE
	CGO_ENABLED=0 $(GO) build -ldflags '-s -w' -o $@ ./cmd/kubectl-podlock

# The image the node DaemonSet and the controller's Deployment run
# (install/image): the binaries of $(BIN) in /podlock. The same binaries
# give the same digest. IMAGE_PLATFORMS lists OS/ARCH=DIR, one image per
# platform from the binaries of DIR (install/README.md, "The image").
IMAGE           ?= podlock:$(VERSION)
IMAGE_PLATFORMS ?= linux/$(shell $(GO) env GOARCH)=$(BIN)
image: build
	$(GO) run ./install/image -image $(IMAGE) -out $(BIN)/image $(IMAGE_PLATFORMS)

# The kubectl plugin is published apart from the image, for users'
# machines: an archive with the binary at its root (what krew and release
# pages expect), the same bytes for the same binary.
PLUGIN_ARCHIVE = $(BIN)/kubectl-podlock_$(shell $(GO) env GOOS)_$(shell $(GO) env GOARCH).tar.gz
plugin-archive: $(BIN)/kubectl-podlock
	tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C $(BIN) -cf - kubectl-podlock | gzip -n > $(PLUGIN_ARCHIVE)

deps:
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages: $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

tools: controller-gen
	tests/tools/build.sh $(TOOLS_CACHE) apiserver controllers node

controller-gen:
	@$(CONTROLLER_GEN) --version 2>/dev/null | grep -qx 'Version: $(CONTROLLER_GEN_VERSION)' || \
		GOBIN=$(TOOLS_BIN) $(GO) install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION)

# One paths= per package keeps the other packages of profiles/ out of it.
# The Helm chart carries a copy of the CRDs (a chart cannot read files
# outside its directory; tests/install checks that it renders the same
# objects as install/).
generate: controller-gen
	$(CONTROLLER_GEN) object crd:crdVersions=v1 paths=./profiles/crd paths=./profiles/v1alpha1 output:crd:dir=./install/crds
	cp install/crds/*.yaml install/helm/podlock/crds/

# PODLOCK_NO_SKIP turns every skipped test into a failure: on the machines
# podlock is developed and tested on, everything must run.
test: deps build image tools
	PODLOCK_NO_SKIP=1 PODLOCK_BIN_DIR=$(BIN) PODLOCK_IMAGE=$(BIN)/image/image.tar PODLOCK_TOOLS_DIR=$(TOOLS_BIN) $(GO) test -count=1 -timeout 30m ./...
	$(MAKE) --no-print-directory fuzz

# Brief runs of the fuzz targets (plain go test runs their seed corpora).
# A number of executions, not a duration: with a duration, Go 1.26's fuzz
# coordinator can report "context deadline exceeded" as a failure when the
# time runs out on a loaded machine (golang/go#75804, fixed in Go 1.27).
FUZZTIME ?= 20000x
fuzz:
	for f in FuzzMutatePods FuzzValidatePods FuzzValidateWorkloads; do \
		$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) ./profiles/webhook/ || exit 1; done
	$(GO) test -run '^$$' -fuzz '^FuzzParseRecord$$' -fuzztime $(FUZZTIME) ./landlock/audit/
	$(GO) test -run '^$$' -fuzz '^FuzzReadELF$$' -fuzztime $(FUZZTIME) ./landlock/compile/

e2e: deps build image tools
	PODLOCK_NO_SKIP=1 PODLOCK_BIN_DIR=$(BIN) PODLOCK_IMAGE=$(BIN)/image/image.tar PODLOCK_TOOLS_DIR=$(TOOLS_BIN) $(GO) test -count=1 -timeout 15m ./tests/e2e/ ./tests/internal/cluster/

# One run prints every figure of runtime/PERFORMANCE.md: ratios to plain
# runc of interleaved rounds (median, p25-p75), where a confined create's
# milliseconds go, the profile fetch against the API server's own latency,
# and pods on the real single-node cluster. Timings are never asserted.
# The runtime benchmarks keep their bundles and runc's state on a tmpfs
# (BENCH_TMP), as containerd and CRI-O keep theirs under /run: on this
# machine's disk, the files a confined create writes cost milliseconds
# that no node pays. Those against the API server keep etcd on disk.
BENCH_ENV := PODLOCK_BIN_DIR=$(BIN) PODLOCK_TOOLS_DIR=$(TOOLS_BIN)
BENCH_TMP ?= /dev/shm
bench: deps build tools
	TMPDIR=$(BENCH_TMP) $(BENCH_ENV) $(GO) test -run '^$$' -bench 'Passthrough|ProcessStart' -benchtime 100x ./tests/runtime/
	TMPDIR=$(BENCH_TMP) $(BENCH_ENV) $(GO) test -run '^$$' -bench 'Lifecycle|Exec|CreateParts' -benchtime 100x -timeout 30m ./tests/runtime/
	TMPDIR=$(BENCH_TMP) $(BENCH_ENV) $(GO) test -run '^$$' -bench 'CreateSteps|SeccompFilter' -benchtime 40x -timeout 30m ./tests/runtime/
	$(BENCH_ENV) $(GO) test -run '^$$' -bench 'ProfileFetch|CreateWithAPISource' -benchtime 200x ./tests/runtime/
	$(GO) test -run '^$$' -bench Load -benchtime 1x ./profiles/webhook/
	$(BENCH_ENV) $(GO) test -run '^$$' -bench PodStartup -benchtime 4x -timeout 20m ./tests/e2e/

# How long each program runs before it executes the next or exits
# (podlock-runtime -> podlock-runtime-confine -> runc, the hook, the
# helper), over the lifecycle and exec benchmarks: perf's scheduler
# tracepoints, summarized by tests/cmd/proctimes. What a wall-clock
# ratio cannot tell: which process a millisecond belongs to.
bench-processes: deps build tools
	@command -v perf >/dev/null || { echo "bench-processes needs perf: apt-get install linux-perf"; exit 1; }
	$(GO) test -c -o $(CACHE)/runtime-bench.test ./tests/runtime/
	cd tests/runtime && TMPDIR=$(BENCH_TMP) $(BENCH_ENV) perf record -q -o $(BENCH_TMP)/podlock-sched.data \
		-e sched:sched_process_exec,sched:sched_process_exit -a -- \
		$(CACHE)/runtime-bench.test -test.run '^$$' -test.bench 'Lifecycle|Exec$$' -test.benchtime 30x
	perf script -i $(BENCH_TMP)/podlock-sched.data -F trace:comm,pid,tid,time,event,trace | $(GO) run ./tests/cmd/proctimes
	rm -f $(BENCH_TMP)/podlock-sched.data

demo: deps build
	BIN=$(BIN) tests/demo/quickstart.sh

clean:
	rm -rf $(BIN) $(CACHE)

FORCE:
