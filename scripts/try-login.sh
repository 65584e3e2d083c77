#!/usr/bin/env bash
# try-login.sh: log a test user in against a running `wxsessiond --dev`, as the client would:
# get code/rawData/signature from the simulator, send the login request, then a code-only one.
set -euo pipefail
user=${1:-alice}
base=${WXS_URL:-http://127.0.0.1:5757}
creds=$(curl -sf "$base/__wxsim/login?user=$user")
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$creds" "$1"; }
code=$(field code)
raw=$(python3 -c 'import json,sys,urllib.parse as u; print(u.quote(json.loads(sys.argv[1])["rawData"], safe="-_.!~*()'"'"'"))' "$creds")
sig=$(field signature)
echo "code:      $code"
echo "login:     $(curl -s "$base/applet/session" -H "X-WX-Code: $code" -H "X-WX-RawData: $raw" -H "X-WX-Signature: $sig")"
echo "code only: $(curl -s "$base/applet/session" -H "X-WX-Code: $code")"
echo "expired:   $(curl -s "$base/applet/session" -H "X-WX-Code: not-a-live-code")"
