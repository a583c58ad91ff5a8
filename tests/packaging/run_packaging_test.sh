#!/usr/bin/env bash
# CTest entry of the packaging test:
#   run_packaging_test.sh <pop-queue build dir> <work dir> <c++ compiler>
# Installs the (already built) tree into <work>/prefix with `cmake --install`,
# then builds tests/packaging/consumer against it twice, with
# find_package(popqueue) and with `pkg-config popqueue`, and runs both on a
# temporary SQLite file (enqueue + process one job). Rebuilds nothing of
# pop-queue.
set -euo pipefail
build=$(cd "$1" && pwd)
work=$2
cxx=$3
# A sanitizer build installs an instrumented library: its consumers need the
# same -fsanitize flags (empty otherwise).
sanitize_flags=${4:-}
here=$(cd "$(dirname "$0")" && pwd)

rm -rf "$work"
mkdir -p "$work"
prefix=$work/prefix

step() { echo "== packaging test: $*"; }

step "cmake --install $build --prefix $prefix"
cmake --install "$build" --prefix "$prefix" >"$work/install.log" ||
  { cat "$work/install.log"; exit 1; }

step "installed files"
libdir=$(dirname "$(find "$prefix" -name libpopqueue.a | head -1)")
for f in "$prefix/bin/popqueue" "$prefix/include/popqueue/queue.h" \
         "$libdir/libpopqueue.a" "$libdir/cmake/popqueue/popqueueConfig.cmake" \
         "$libdir/cmake/popqueue/popqueueTargets.cmake" \
         "$libdir/pkgconfig/popqueue.pc" "$prefix/share/popqueue/ui/index.html"; do
  [ -e "$f" ] || { echo "missing: $f"; exit 1; }
done
"$prefix/bin/popqueue" --version
# The installed headers include nothing from the source tree.
if grep -rn '#include "\(core\|store\|common\|coord\|server\|cli\|config\|notify\)/' \
     "$prefix/include/popqueue"; then
  echo "installed headers include private headers"; exit 1
fi

launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
generator=()
if command -v ninja >/dev/null; then generator=(-G Ninja); fi

step "consumer with find_package(popqueue)"
cmake -S "$here/consumer" -B "$work/consumer-cmake" "${generator[@]}" \
  -DCMAKE_CXX_COMPILER="$cxx" "${launcher[@]}" \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_FLAGS="$sanitize_flags" -DCMAKE_EXE_LINKER_FLAGS="$sanitize_flags" \
  >"$work/configure.log" ||
  { cat "$work/configure.log"; exit 1; }
cmake --build "$work/consumer-cmake" >"$work/build.log" ||
  { cat "$work/build.log"; exit 1; }
"$work/consumer-cmake/consumer" "$work/cmake.db"

step "consumer with pkg-config popqueue"
export PKG_CONFIG_PATH="$libdir/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
pkg-config --validate popqueue
flags=$(pkg-config --cflags --libs popqueue)
cc_launcher=()
if command -v ccache >/dev/null; then cc_launcher=(ccache); fi
# shellcheck disable=SC2086  # the flags are words
"${cc_launcher[@]}" "$cxx" -std=c++20 -O1 $sanitize_flags "$here/consumer/main.cc" $flags \
  -o "$work/consumer-pkgconfig"
"$work/consumer-pkgconfig" "$work/pkgconfig.db"
step "passed"
