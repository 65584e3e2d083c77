#!/usr/bin/env bash
# deps.sh: install the Debian packages wxsession needs that are missing (Debian 12).
#   scripts/deps.sh          build + run dependencies
#   scripts/deps.sh --test   also what the tests need (redis-server, node + npm, chromium, nginx,
#                            the Debian packaging tools)
set -euo pipefail

pkgs=(build-essential cmake pkg-config libuv1-dev node-llhttp libhiredis-dev
      libcurl4-openssl-dev libssl-dev libsqlite3-dev libjansson-dev libcmocka-dev libmongoc-dev python3 curl)
if [ "${1:-}" = "--test" ]; then
  pkgs+=(redis-server redis-tools sqlite3 chromium fonts-wqy-microhei clang libclang-rt-14-dev)
  pkgs+=(clang-format)   # .ci/run checks the C formatting
  pkgs+=(redis-sentinel)  # tests/integration/test_sentinel.py: a Sentinel-managed pair
  pkgs+=(nginx openssl)  # tests/integration/test_nginx.py: deploy/nginx/wxsession.conf
  pkgs+=(systemd)        # tests/integration/test_systemd.py: systemd-analyze verify
  pkgs+=(prometheus)     # tests/integration/test_metrics.py: promtool check metrics
  # tests/integration/test_package.py: dpkg-buildpackage with debhelper (debian/), lintian, and
  # man for the man pages (the build dependencies are the ones above)
  pkgs+=(dpkg-dev debhelper lintian man-db)
  # node and npm: Debian's packages unless a node with npm is already there (e.g. NodeSource's)
  command -v node >/dev/null && command -v npm >/dev/null || pkgs+=(nodejs npm)
  # then `npm ci` (scripts/test.sh) installs package.json's: playwright-core, and jongodb (the
  # MongoDB tests' wire-compatible server, tests/integration/run_mongodb.py): nothing from Debian
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "deps.sh: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo=sudo
fi
echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
