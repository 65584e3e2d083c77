#!/usr/bin/env bash
# check-install.sh: libwxsession as an embedder gets it. Configures the library alone (no server,
# no tests) in a temporary directory, builds it, installs it staged (DESTDIR), checks the installed
# files, the .so's exports and dependencies, builds examples/embed against the staged wxsession.pc
# and runs it through the protocol's three paths against the WeChat simulator.
#   scripts/check-install.sh
# Environment: WXS_BUILD_DIR=DIR uses DIR/wxsessiond as the simulator instead of building one;
# WXS_CHECK_KEEP=1 keeps the temporary directory. Prints "N passed, N failed"; exits 1 on a failure.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
root=$PWD
tmp=$(mktemp -d "${TMPDIR:-/tmp}/wxs-check-install.XXXXXX")
sim_pid=""
passed=0
failed=0

# shellcheck disable=SC2317 # called by the trap
cleanup() {
    if [ -n "$sim_pid" ]; then
        kill "$sim_pid" 2>/dev/null
        wait "$sim_pid" 2>/dev/null
    fi
    if [ "${WXS_CHECK_KEEP:-}" = 1 ]; then
        echo "kept $tmp"
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ok() {
    passed=$((passed + 1))
    echo "ok   $*"
}
bad() {
    failed=$((failed + 1))
    echo "FAIL $*"
}
# check WHAT COMMAND...: one check, passed when COMMAND succeeds.
check() {
    local what=$1
    shift
    if "$@"; then ok "$what"; else bad "$what"; fi
}
finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ] && exit 0
    exit 1
}
# run_logged LOG COMMAND...: run quietly; on failure show the end of its output.
run_logged() {
    local log=$1
    shift
    if "$@" >"$log" 2>&1; then return 0; fi
    tail -n 30 "$log" | sed 's/^/    | /'
    return 1
}
cache_value() { sed -n "s/^$1:[A-Z]*=//p" "$tmp/lib/CMakeCache.txt"; }

echo "== library-only configure, build, staged install"
if ! run_logged "$tmp/configure.log" cmake -S "$root" -B "$tmp/lib" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DWXS_BUILD_SERVER=OFF -DWXS_BUILD_TESTS=OFF; then
    bad "library-only configure"
    finish
fi
ok "library-only configure"
# nothing of the server's or the tests' dependencies may be looked for
unwanted=$(grep -v '^//' "$tmp/lib/CMakeCache.txt" | grep -iE 'cmocka|mongoc|llhttp|http_parser|http-parser|python')
if [ -z "$unwanted" ]; then
    ok "configure looks for no http-parser/llhttp, cmocka, libmongoc or Python"
else
    bad "configure looks for a server/test dependency:"
    echo "$unwanted" | sed 's/^/    | /'
fi
if ! run_logged "$tmp/build.log" cmake --build "$tmp/lib" -j2; then
    bad "library-only build"
    finish
fi
ok "library-only build"
stage=$tmp/stage
if ! DESTDIR=$stage run_logged "$tmp/install.log" cmake --install "$tmp/lib"; then
    bad "staged install"
    finish
fi
ok "staged install"

prefix=$(cache_value CMAKE_INSTALL_PREFIX)
libdir=$(cache_value CMAKE_INSTALL_LIBDIR)
incdir=$(cache_value CMAKE_INSTALL_INCLUDEDIR)
version=$(cache_value CMAKE_PROJECT_VERSION)
lib=$stage$prefix/$libdir
so=$lib/libwxsession.so

echo "== installed files (under $prefix)"
expected=$(printf '%s\n' "$incdir/wxsession.h" "$libdir/libwxsession.a" "$libdir/libwxsession.so" \
    "$libdir/libwxsession.so.0" "$libdir/libwxsession.so.$version" \
    "$libdir/pkgconfig/wxsession.pc" | sort)
installed=$(cd "$stage$prefix" && find . ! -type d | sed 's|^\./||' | sort)
echo "$installed" | sed 's/^/    /'
if [ "$installed" = "$expected" ]; then
    ok "installed file list"
else
    bad "installed file list differs from the expected one:"
    diff <(echo "$expected") <(echo "$installed") | sed 's/^/    | /'
fi
check "libwxsession.so -> libwxsession.so.0 -> libwxsession.so.$version" \
    test "$(readlink "$so")" = libwxsession.so.0 -a \
    "$(readlink "$lib/libwxsession.so.0")" = "libwxsession.so.$version"
header_version=$(sed -n 's/^#define WXS_VERSION "\(.*\)"$/\1/p' "$stage$prefix/$incdir/wxsession.h")
check "WXS_VERSION in wxsession.h ($header_version) is the project's version ($version)" \
    test "$header_version" = "$version"

echo "== libwxsession.so: exports and dependencies"
symbols=$(nm -D --defined-only "$so" | awk '{print $NF}' | sort)
others=$(echo "$symbols" | grep -vE '^wxs_[a-z]')
paints=$(echo "$symbols" | grep -i paint)
echo "    $(echo "$symbols" | grep -c .) symbols exported: $(echo "$symbols" | tr '\n' ' ')"
if [ -n "$symbols" ] && [ -z "$others" ]; then
    ok "only wxs_ names exported (no wxs__, nothing else)"
else
    bad "exported names that are not public (wxs_[a-z]*): $(echo "$others" | tr '\n' ' ')"
fi
check "no One Stroke (paint) names exported" test -z "$paints"
dynamic=$(readelf -d "$so")
echo "$dynamic" | grep -E 'NEEDED|SONAME' | sed 's/^ */    /'
check "SONAME libwxsession.so.0" grep -q 'Library soname: \[libwxsession.so.0\]' <<<"$dynamic"
check "no libmongoc/libbson among NEEDED" \
    test -z "$(echo "$dynamic" | grep NEEDED | grep -iE 'mongoc|bson')"

echo "== examples/embed against the staged wxsession.pc"
# DESTDIR keeps the real prefix inside the .pc: use a copy with the prefix moved into the stage
mkdir -p "$tmp/pkgconfig" "$tmp/embed"
sed "s|^prefix=$prefix\$|prefix=$stage$prefix|" "$lib/pkgconfig/wxsession.pc" \
    >"$tmp/pkgconfig/wxsession.pc"
export PKG_CONFIG_PATH=$tmp/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
check "wxsession.pc names the prefix ($prefix) and the version ($version)" \
    test "$(pkg-config --variable=libdir wxsession)" = "$lib" -a \
    "$(pkg-config --modversion wxsession)" = "$version"
printf '#include <wxsession.h>\nint main(void) { return wxs_strerror(0) == 0; }\n' >"$tmp/h.c"
# shellcheck disable=SC2046 # pkg-config's output is a list of words
# (uv.h needs POSIX's declarations: -std=c11 alone hides pthread_rwlock_t)
check "wxsession.h compiles alone (C11 + POSIX, -Wall -Wextra -Werror -pedantic)" \
    cc -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -pedantic \
    $(pkg-config --cflags wxsession) -fsyntax-only "$tmp/h.c"
if command -v c++ >/dev/null; then
    cp "$tmp/h.c" "$tmp/h.cc"
    # shellcheck disable=SC2046
    check "wxsession.h compiles as C++" c++ -Wall -Wextra -Werror -pedantic \
        $(pkg-config --cflags wxsession) -fsyntax-only "$tmp/h.cc"
fi
static_libs=" $(pkg-config --static --libs wxsession) "
missing=""
for l in wxsession uv hiredis curl crypto sqlite3 jansson; do
    [[ $static_libs == *" -l$l "* ]] || missing="$missing -l$l"
done
check "pkg-config --static --libs wxsession names every dependency${missing:+ (missing:$missing)}" \
    test -z "$missing"
cp "$root/examples/embed/embed.c" "$root/examples/embed/Makefile" "$tmp/embed/"
if run_logged "$tmp/embed.log" make -C "$tmp/embed" embed embed-static \
    CFLAGS="-O2 -g -Wall -Wextra -Werror" LDFLAGS="-Wl,-rpath,$lib"; then
    ok "embed and embed-static build with pkg-config (make)"
else
    bad "embed and embed-static build with pkg-config (make)"
    finish
fi
check "embed loads the staged libwxsession.so.0" \
    grep -q "libwxsession.so.0 => $lib/libwxsession.so.0" <<<"$(ldd "$tmp/embed/embed")"
check "embed-static needs no libwxsession.so" \
    test -z "$(ldd "$tmp/embed/embed-static" | grep libwxsession)"

echo "== embed through the three paths, against the simulator"
sim=${WXS_BUILD_DIR:+$WXS_BUILD_DIR/wxsessiond}
if [ -z "$sim" ]; then
    if run_logged "$tmp/server.log" cmake -S "$root" -B "$tmp/server" \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWXS_BUILD_TESTS=OFF &&
        run_logged "$tmp/server-build.log" cmake --build "$tmp/server" -j2 --target wxsessiond; then
        sim=$tmp/server/wxsessiond
    else
        bad "build wxsessiond (the simulator)"
        finish
    fi
fi
app_id=wx1234567890abcdef
app_secret=s3cr3t-app-secret-0123456789abcd
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base=http://127.0.0.1:$port
printf '{"port": %s, "workers": 1, "appId": "%s", "appSecret": "%s"}\n' "$port" "$app_id" \
    "$app_secret" >"$tmp/sim.json"
"$sim" --config "$tmp/sim.json" --simulator-only >"$tmp/sim.log" 2>&1 &
sim_pid=$!
for _ in $(seq 200); do
    curl -sf "$base/healthz" >/dev/null 2>&1 && break
    kill -0 "$sim_pid" 2>/dev/null || break
    sleep 0.05
done
if ! curl -sf "$base/healthz" >/dev/null 2>&1; then
    bad "simulator ($sim --simulator-only) answers /healthz"
    tail -n 20 "$tmp/sim.log" | sed 's/^/    | /'
    finish
fi
ok "simulator ($sim --simulator-only) answers /healthz"

# wx.login() + wx.getUserInfo() for a test user: code, percent-encoded rawData, signature, openid
sim_login() {
    curl -sf "$base/__wxsim/login?user=$1" | python3 -c '
import json, sys, urllib.parse
d = json.load(sys.stdin)
print(d["code"]); print(urllib.parse.quote(d["rawData"], safe="-_.!~*()\x27"))
print(d["signature"]); print(d["openid"])'
}
# embed [ARGS...]: run it with the simulator as WeChat; sets out (stdout) and rc
embed_bin=$tmp/embed/embed
embed() {
    out=$(cd "$tmp" && WXS_APP_ID=$app_id WXS_APP_SECRET=$app_secret WXS_WECHAT_API_BASE=$base \
        WXS_SQLITE_PATH=$tmp/embed.db "$embed_bin" "$@" 2>>"$tmp/embed-stderr.log")
    rc=$?
    echo "    embed${1:+ ${1:0:12}...}${2:+ RAWDATA SIGNATURE}: exit $rc: ${out:0:160}"
}

mapfile -t alice < <(sim_login embed-alice)
if [ "${#alice[@]}" -ne 4 ]; then
    bad "simulator login for a test user"
    finish
fi
code=${alice[0]} raw=${alice[1]} sig=${alice[2]} openid=${alice[3]}

embed
check "no code: anonymous" test "$rc" = 0 -a "$out" = anonymous
embed "$code" "$raw" "$sig"
user=$out
check "login (code, rawData, signature): the user with openId $openid" \
    test "$rc" = 0 -a "${out#user *\"openId\":\""$openid"\"}" != "$out"
embed "$code"
check "the same code alone: the same user (from the session store)" \
    test "$rc" = 0 -a "$out" = "$user"
embed junk-code-that-was-never-issued
check "a junk code alone: rejected with ERR_SESSION_EXPIRED" \
    test "$rc" = 2 -a "${out#rejected 200 *ERR_SESSION_EXPIRED}" != "$out"
mapfile -t bob < <(sim_login embed-bob)
embed "${bob[0]}" "${bob[1]}" 0000000000000000000000000000000000000000
check "login with a wrong signature: rejected with ERR_UNTRUSTED_RAW_DATA" \
    test "$rc" = 2 -a "${out#rejected 200 *ERR_UNTRUSTED_RAW_DATA}" != "$out"
embed_bin=$tmp/embed/embed-static
embed "$code"
check "embed-static (libwxsession.a): the same code alone gives the same user" \
    test "$rc" = 0 -a "$out" = "$user"

kill "$sim_pid" 2>/dev/null
wait "$sim_pid" 2>/dev/null
sim_pid=""
if [ "$failed" -ne 0 ] && [ -s "$tmp/embed-stderr.log" ]; then
    echo "    embed's stderr:"
    tail -n 20 "$tmp/embed-stderr.log" | sed 's/^/    | /'
fi
finish
