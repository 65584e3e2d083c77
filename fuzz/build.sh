#!/usr/bin/env bash
# build.sh: build the libFuzzer drivers (clang, -fsanitize=fuzzer,address,undefined) into
# build-fuzz/. Usage: fuzz/build.sh [driver_name...]   (default: every fuzz/driver_*.c)
# Environment: CC (default clang), WXS_FUZZ_BUILD (output directory, default build-fuzz),
# WXS_FUZZ_CFLAGS (extra compiler flags, e.g. -O2).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${WXS_FUZZ_BUILD:-build-fuzz}
cc=${CC:-clang}
deps="libuv jansson libcurl libcrypto sqlite3 hiredis"

# -Wno-string-concatenation: clang flags lib/store_sqlite.c's multi-line SQL literals (gcc
# does not)
warn=(-Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
      -Wno-string-concatenation)
san=(-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
# llhttp, compiled from the sources Debian's node-llhttp installs (strict mode, no warnings)
llhttp_src=/usr/share/llhttp
llhttp_inc=/usr/share/include/llhttp
[ -f "$llhttp_src/llhttp.c" ] && [ -f "$llhttp_inc/llhttp.h" ] ||
    { echo "fuzz/build.sh: llhttp sources not found: install Debian's node-llhttp" >&2; exit 1; }
# shellcheck disable=SC2086
cflags=(-std=gnu11 -g -O1 "${warn[@]}" "${san[@]}" -Iinclude -Ilib -Iutil -Isrc/server
        -Isrc/onestroke -isystem "$llhttp_inc" -DLLHTTP_STRICT_MODE=1
        $(pkg-config --cflags $deps) ${WXS_FUZZ_CFLAGS:-})
# shellcheck disable=SC2086
libs=($(pkg-config --libs $deps) -lpthread)

mkdir -p "$out/obj"
# the library, the HTTP server and One Stroke's pure parts (request bodies, drawing ids and
# cursors), instrumented for coverage (fuzzer-no-link)
sources=(util/*.c lib/*.c src/server/http.c src/server/http_setup.c src/server/http_parse.c src/server/http_req.c
         src/server/http_write.c "$llhttp_src/api.c" "$llhttp_src/http.c" "$llhttp_src/llhttp.c"
         src/onestroke/body.c src/onestroke/paint.c src/onestroke/options.c
         src/server/server_options.c src/server/token_parse.c)
newest_header=$(ls -t include/*.h util/*.h lib/*.h src/server/*.h src/onestroke/*.h | head -1)
objs=()
for src in "${sources[@]}"; do
    obj="$out/obj/$(echo "${src%.c}" | tr / _).o"
    objs+=("$obj")
    if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || [ "$newest_header" -nt "$obj" ] ||
       [ "$0" -nt "$obj" ]; then
        echo "  CC $src"
        extra=()
        case "$src" in "$llhttp_src"/*) extra=(-w) ;; esac # llhttp: foreign code, no warnings
        "$cc" "${cflags[@]}" "${extra[@]}" -fsanitize=fuzzer-no-link -c "$src" -o "$obj"
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
