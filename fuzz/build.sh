#!/usr/bin/env bash
# build.sh: build the libFuzzer drivers (clang, -fsanitize=fuzzer,address,undefined) into
# build-fuzz/. Usage: fuzz/build.sh [driver_name...]   (default: every fuzz/driver_*.c)
# Environment: CC (default clang), WXS_FUZZ_BUILD (output directory, default build-fuzz),
# WXS_FUZZ_CFLAGS (extra compiler flags, e.g. -O2).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${WXS_FUZZ_BUILD:-build-fuzz}
cc=${CC:-clang}
deps="libuv jansson libcurl libcrypto sqlite3 hiredis libmongoc-1.0"

# -Wno-string-concatenation: clang flags lib/store_sqlite.c's multi-line SQL literals (gcc
# does not)
warn=(-Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
      -Wno-string-concatenation)
san=(-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
# shellcheck disable=SC2086
cflags=(-std=gnu11 -g -O1 "${warn[@]}" "${san[@]}" -Iinclude -Ilib -Iutil -Isrc/server
        $(pkg-config --cflags $deps) ${WXS_FUZZ_CFLAGS:-})
# shellcheck disable=SC2086
libs=($(pkg-config --libs $deps) -lhttp_parser -lpthread)

mkdir -p "$out/obj"
# the library and the HTTP server, instrumented for coverage (fuzzer-no-link)
sources=(util/*.c lib/*.c src/server/http.c src/server/http_parse.c)
newest_header=$(ls -t include/*.h util/*.h lib/*.h src/server/*.h | head -1)
objs=()
for src in "${sources[@]}"; do
    obj="$out/obj/$(echo "${src%.c}" | tr / _).o"
    objs+=("$obj")
    if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || [ "$newest_header" -nt "$obj" ] ||
       [ "$0" -nt "$obj" ]; then
        echo "  CC $src"
        "$cc" "${cflags[@]}" -fsanitize=fuzzer-no-link -c "$src" -o "$obj"
    fi
done
rm -f "$out/libwxsession-fuzz.a"
ar rcs "$out/libwxsession-fuzz.a" "${objs[@]}"

drivers=("$@")
if [ ${#drivers[@]} -eq 0 ]; then
    for f in fuzz/driver_*.c; do drivers+=("$(basename "${f%.c}")"); done
fi
for d in "${drivers[@]}"; do
    echo "  LD $out/$d"
    "$cc" "${cflags[@]}" -fsanitize=fuzzer "fuzz/$d.c" "$out/libwxsession-fuzz.a" "${libs[@]}" \
        -o "$out/$d"
done
