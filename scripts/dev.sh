#!/usr/bin/env bash
# dev.sh: install what is missing, build, and run wxsessiond on the embedded default:
# SQLite (./wxsession-dev.db) and the built-in WeChat simulator on http://127.0.0.1:5757.
# Extra arguments go to wxsessiond (e.g. --port 8080).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh
cat <<'MSG'

Try it from another terminal:
  # play wx.login + wx.getUserInfo for test user "alice" (the simulator answers as WeChat)
  curl -s 'http://127.0.0.1:5757/__wxsim/login?user=alice'
  # first request: code + rawData + signature; later requests: the code alone
  scripts/try-login.sh alice

MSG
exec build/wxsessiond --dev "$@"
