# Thin wrapper over CMake so that the README's two commands are
# `make demo` and `make test`. Both install missing Debian packages first
# when run as root (.ci/deps.sh).
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)

.PHONY: all deps build build-asan test test-asan demo demo-stop clean

all: build

deps:
	@.ci/deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build $(BUILD) -j$(JOBS)

build-asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCERTRAFT_SANITIZE=ON >/dev/null
	cmake --build $(ASAN_BUILD) -j$(JOBS)

# The whole suite: unit tests, then clusters of real certnode processes.
test: build
	ctest --test-dir $(BUILD) --output-on-failure

test-asan: build-asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir $(ASAN_BUILD) --output-on-failure

# A local 3-node cluster with a ready admin certificate (see README).
demo: build
	python3 cluster-tests/demo.py start --build $(BUILD)

demo-stop:
	python3 cluster-tests/demo.py stop

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
