#!/usr/bin/env bash
# test.sh: install what is missing, build, and run every test (ctest): once on a normal build,
# once on an AddressSanitizer + UndefinedBehaviorSanitizer build; first, every fuzz driver over
# its seed corpus and saved regressions (libFuzzer, clang).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --test
npm ci --no-audit --no-fund --loglevel=error   # playwright-core for the browser test
status=0
echo "== fuzz regressions"
fuzz/run.sh --regress || status=1
for variant in "" --asan; do
  dir=build; [ -n "$variant" ] && dir=build-asan
  echo "== build $dir"
  scripts/build.sh $variant
  echo "== test $dir"
  ( cd "$dir" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
      UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      ctest --output-on-failure -j2 ) || status=1
done
exit $status
