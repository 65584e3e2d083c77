#!/bin/sh
# run.sh: the gateway end to end on loopback, for a person to try: wxsessiond --dev (SQLite and
# the WeChat simulator), the echo backend (backend.py) and nginx with deploy/nginx/gateway.conf
# rendered for loopback. Ctrl-C stops the three (by their PIDs).
#
#   examples/gateway/run.sh            # after building: cmake -S . -B build && cmake --build build
#
# Environment: WXSESSIOND (default build/wxsessiond), NGINX (default nginx), and the ports
# WXS_PORT (5757), BACKEND_PORT (8081), GATEWAY_PORT (8080).
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
WXSESSIOND=${WXSESSIOND:-$REPO/build/wxsessiond}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
WXS_PORT=${WXS_PORT:-5757}
BACKEND_PORT=${BACKEND_PORT:-8081}
GATEWAY_PORT=${GATEWAY_PORT:-8080}

[ -x "$WXSESSIOND" ] || { echo "no $WXSESSIOND: build first (or set WXSESSIOND)" >&2; exit 1; }
[ -x "$NGINX" ] || { echo "nginx not found (apt-get install nginx, or set NGINX)" >&2; exit 1; }

DIR=$(mktemp -d "${TMPDIR:-/tmp}/wxs-gateway.XXXXXX")
PIDS=""
stop() {
    for pid in $PIDS; do kill "$pid" 2>/dev/null || true; done
    for pid in $PIDS; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$DIR"
}
trap stop EXIT
trap 'exit 130' INT TERM

# 1. wxsessiond: the login (POST /applet/login) and the auth endpoint (/__auth), behind nginx
(cd "$DIR" && exec "$WXSESSIOND" --dev --port="$WXS_PORT" --trust-forwarded-for=true) \
    >"$DIR/wxsessiond.log" 2>&1 &
PIDS="$PIDS $!"

# 2. the backend: any language; this one echoes what it received
python3 "$HERE/backend.py" --port "$BACKEND_PORT" >"$DIR/backend.log" 2>&1 &
PIDS="$PIDS $!"

# 3. nginx: the shipped file with loopback ports, inside a minimal nginx.conf of its own
sed -e "s/^    listen 80;/    listen 127.0.0.1:$GATEWAY_PORT;/" \
    -e "s/server 127.0.0.1:5757;/server 127.0.0.1:$WXS_PORT;/" \
    -e "s/server 127.0.0.1:8081;/server 127.0.0.1:$BACKEND_PORT;/" \
    "$REPO/deploy/nginx/gateway.conf" >"$DIR/gateway.conf"
cat >"$DIR/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $DIR/nginx.pid;
error_log $DIR/nginx-error.log;
events { worker_connections 256; }
http {
    access_log $DIR/nginx-access.log;
    client_body_temp_path $DIR/client_body; proxy_temp_path $DIR/proxy;
    fastcgi_temp_path $DIR/fastcgi; uwsgi_temp_path $DIR/uwsgi; scgi_temp_path $DIR/scgi;
    include $DIR/gateway.conf;
}
CONF
"$NGINX" -p "$DIR/" -e "$DIR/nginx-error.log" -c "$DIR/nginx.conf" &
PIDS="$PIDS $!"

sleep 1
cat <<HELP
Running (logs in $DIR):
  wxsessiond --dev  http://127.0.0.1:$WXS_PORT   (simulator at /__wxsim, auth at /__auth)
  backend.py        http://127.0.0.1:$BACKEND_PORT
  nginx (gateway)   http://127.0.0.1:$GATEWAY_PORT  (/applet/ -> wxsessiond, /api/ -> backend)

Try:
  # a code for test user alice, as wx.login() would give it (the simulator, on wxsessiond)
  CODE=\$(curl -s 'http://127.0.0.1:$WXS_PORT/__wxsim/login?user=alice' | python3 -c 'import json,sys; print(json.load(sys.stdin)["code"])')
  # log in through nginx: a token
  TOKEN=\$(curl -s -X POST -H 'Content-Type: application/json' -d "{\"code\":\"\$CODE\"}" http://127.0.0.1:$GATEWAY_PORT/applet/login | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  # the backend sees alice's openId (and ignores a forged one)
  curl -s -H "Authorization: Bearer \$TOKEN" -H 'X-WX-OpenId: forged' http://127.0.0.1:$GATEWAY_PORT/api/hello
  # no token: 401 {"error":{"code":"ERR_TOKEN_INVALID",...}}, the backend never sees it
  curl -si http://127.0.0.1:$GATEWAY_PORT/api/hello
  # log out; the token is refused from then on
  curl -s -X POST -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' -d '{}' http://127.0.0.1:$GATEWAY_PORT/applet/logout
  curl -s http://127.0.0.1:$BACKEND_PORT/__backend/count

Ctrl-C stops everything.
HELP
wait
