#!/usr/bin/env bash
# Installs keel from a build directory into a temporary prefix and uses the installed copy the
# ways a user would, from outside the source tree, with nothing of the build tree on any path:
#   - the files: libkeel.so -> its soname -> the versioned file, RUNPATHs, libkeel.a, keel.h,
#     keel.pc, the CMake package, and the tokenize and keel tools run from the prefix;
#   - pkg-config: hello.c on libkeel.so (pkg-config --cflags --libs keel), and on libkeel.a
#     (pkg-config --static --libs keel: what the static library needs must all be listed);
#   - CMake: tests/install/CMakeLists.txt, find_package(keel) with keel::keel and
#     keel::keel_static, CMAKE_PREFIX_PATH set to the prefix;
#   - C++: hello.cpp with g++ -std=c++17 -Wall -Wextra -Wpedantic -Werror.
# Each program trains the hello model and must predict about 12 for 6, on BLIS, the serial
# build from its own directory, and fits a Tokenizer (ICU; Jansson too in the C program).
# Run by CTest (the `install` test) with the build directory.
# usage: tests/install/check.sh BUILD_DIR
# Environment: CC (default cc), CXX (default g++), KEEL_CHECK_FLAGS (compiler flags for every
# program, the sanitizers under build-asan).
set -euo pipefail
build=$(cd "${1:?usage: tests/install/check.sh BUILD_DIR}" && pwd)
src=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cc=${CC:-cc}
cxx=${CXX:-g++}
read -r -a flags <<<"${KEEL_CHECK_FLAGS:-}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
work=$tmp/work
mkdir -p "$work"
cp "$src/hello.c" "$src/hello.cpp" "$src/CMakeLists.txt" "$work/"
cd "$work"
unset LD_LIBRARY_PATH CPATH C_INCLUDE_PATH CPLUS_INCLUDE_PATH LIBRARY_PATH
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig

fail() {
    echo "install check: $*" >&2
    exit 1
}

cmake --install "$build" --prefix "$prefix" >install.log || { cat install.log; fail "install"; }
for f in include/keel.h lib/libkeel.a lib/pkgconfig/keel.pc bin/tokenize bin/keel \
    lib/cmake/keel/keelConfig.cmake lib/cmake/keel/keelConfigVersion.cmake; do
    [ -f "$prefix/$f" ] || fail "$f is not installed"
done

# libkeel.so -> libkeel.so.<soname version> -> libkeel.so.<version>, the version keel.pc says.
# (readelf's output goes to variables: grep -q on a pipe could fail it with SIGPIPE.)
version=$(pkg-config --modversion keel)
lib_dyn=$(readelf -d "$prefix/lib/libkeel.so")
tool_dyn=$(readelf -d "$prefix/bin/tokenize")
soname=$(sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p' <<<"$lib_dyn")
case $soname in libkeel.so.[0-9]*) ;; *) fail "soname '$soname' has no version" ;; esac
[ "$(readlink "$prefix/lib/libkeel.so")" = "$soname" ] || fail "libkeel.so does not link to $soname"
[ "$(readlink "$prefix/lib/$soname")" = "libkeel.so.$version" ] ||
    fail "$soname does not link to libkeel.so.$version"
[ -f "$prefix/lib/libkeel.so.$version" ] || fail "libkeel.so.$version is missing"
# The installed RUNPATHs: libkeel.so's to the serial BLIS, tokenize's to the prefix's lib/, and
# nothing pointing into the build tree.
grep -q 'RUNPATH.*blis-serial' <<<"$lib_dyn" ||
    fail "the installed libkeel.so lost its RUNPATH to the serial BLIS"
# shellcheck disable=SC2016 # a literal $ORIGIN
grep -qF 'Library runpath: [$ORIGIN/' <<<"$tool_dyn" ||
    fail "the installed tokenize has no RUNPATH relative to itself"
if grep -F "$build" <<<"$lib_dyn$tool_dyn"; then
    fail "an installed file still points into the build tree"
fi
# Keras's Tokenizer: "the" is the most frequent word (1), then cat and dog in order of first sight.
out=$(printf 'the cat\nthe dog\n' | "$prefix/bin/tokenize")
[ "$out" = $'1 2\n1 3' ] || fail "tokenize printed '$out'"
# The keel command, from the prefix, on a model tf.keras 2.15 saved: it loads and prints the
# summary table
src=$(cd "$(dirname "$0")/../.." && pwd)
"$prefix/bin/keel" --help >/dev/null || fail "keel --help failed"
grep -F "$build" <<<"$(readelf -d "$prefix/bin/keel")" && fail "bin/keel points into the build tree"
out=$("$prefix/bin/keel" summary "$src/tests/fixtures/saved/tf2/mlp.h5") ||
    fail "keel summary failed: $out"
grep -q '^Total params:' <<<"$out" || fail "keel summary printed: $out"

# A program trained the hello model: prediction about 12, BLIS the GEMM backend, the serial BLIS
# loaded, the tokenizer's word indices right (ICU lowercased "ÉCOLE"), and libkeel.so loaded
# from the prefix or not at all ("static").
check() { # name how [runner...]
    local name=$1 how=$2 out pred libs
    shift 2
    out=$("$@" "./$name") || fail "$name failed: $out"
    pred=$(sed -n 's/^prediction: //p' <<<"$out")
    awk -v p="$pred" 'BEGIN { exit !(p > 11.9 && p < 12.1) }' || fail "$name predicted '$pred'"
    grep -q '^backend: blis' <<<"$out" || fail "$name: not on BLIS: $out"
    grep -qx 'tokens: the=1 école=4' <<<"$out" || fail "$name: the tokenizer gave: $out"
    libs=$("$@" ldd "./$name")
    grep -q 'libblis.so.4 => .*/blis-serial/' <<<"$libs" || fail "$name loads another BLIS: $libs"
    if [ "$how" = static ]; then
        ! grep -q libkeel <<<"$libs" || fail "$name, linked with libkeel.a, loads: $libs"
    else
        grep -q "libkeel.so.* => $prefix/lib/$soname" <<<"$libs" ||
            fail "$name does not load the installed libkeel.so: $libs"
    fi
    echo "install check: $name ($how): prediction $pred"
}

# pkg-config, libkeel.so: found at run time through LD_LIBRARY_PATH, as for any prefix that is
# not on the loader's path.
read -r -a pc <<<"$(pkg-config --cflags --libs keel)"
"$cc" -std=c11 -Wall -Wextra -Werror "${flags[@]}" hello.c -o hello_pc "${pc[@]}"
check hello_pc shared env LD_LIBRARY_PATH="$prefix/lib"

# pkg-config, libkeel.a: -Bstatic picks libkeel.a; everything else comes from keel.pc's private
# fields, and the trailing -lkeel is dropped as not needed.
read -r -a pc_cflags <<<"$(pkg-config --cflags keel)"
read -r -a pc_static <<<"$(pkg-config --static --libs keel)"
"$cc" -std=c11 -Wall -Wextra -Werror "${flags[@]}" hello.c -o hello_pc_static "${pc_cflags[@]}" \
    -Wl,--as-needed -Wl,-Bstatic -lkeel -Wl,-Bdynamic "${pc_static[@]}"
check hello_pc_static static env

# C++ on the installed header, warnings as errors.
"$cxx" -std=c++17 -Wall -Wextra -Wpedantic -Werror "${flags[@]}" hello.cpp -o hello_cxx "${pc[@]}"
check hello_cxx shared env LD_LIBRARY_PATH="$prefix/lib"

# CMake: find_package(keel) from the prefix alone (no package registry); the programs get
# their RUNPATHs from CMake.
cmake -S . -B cmake-build -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
    -DCMAKE_C_COMPILER="$cc" -DCMAKE_C_FLAGS="${KEEL_CHECK_FLAGS:-}" \
    -DCMAKE_EXE_LINKER_FLAGS="${KEEL_CHECK_FLAGS:-}" >cmake.log 2>&1 ||
    { cat cmake.log; fail "cmake"; }
grep -q "keel $version from $prefix/lib/cmake/keel" cmake.log || { cat cmake.log; fail "keel_DIR"; }
cmake --build cmake-build >>cmake.log 2>&1 || { cat cmake.log; fail "cmake --build"; }
cd cmake-build
check hello_shared shared env
check hello_static static env
