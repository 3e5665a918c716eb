#!/bin/sh
# What users write today: a POSIX shell entrypoint doing sp-entrypoint's job with curl and jq.
# Check the variables, call whoami, check the email, exec the app. The baseline of bench/run.sh.
#
#   SYSTEMPROMPT_API_TOKEN=... SYSTEMPROMPT_USER_EMAIL=... [SYSTEMPROMPT_API_URL=...] \
#       bench/curl-entrypoint.sh COMMAND [ARGS...]
set -eu
: "${SYSTEMPROMPT_API_TOKEN:?SYSTEMPROMPT_API_TOKEN is required}"
: "${SYSTEMPROMPT_USER_EMAIL:?SYSTEMPROMPT_USER_EMAIL is required}"
api=${SYSTEMPROMPT_API_URL:-https://api.systemprompt.io}
api=${api%/}
case $api in
    https://*|http://127.0.0.1*|http://localhost*|http://\[::1\]*) ;;
    *) echo "curl-entrypoint: SYSTEMPROMPT_API_URL must be https://" >&2; exit 78 ;;
esac
[ $# -gt 0 ] || { echo "curl-entrypoint: no command" >&2; exit 64; }
# --cacert only when SSL_CERT_FILE is set (curl reads it too, but be explicit).
body=$(curl -fsS --max-time 30 --retry 5 --retry-connrefused \
    ${SSL_CERT_FILE:+--cacert "$SSL_CERT_FILE"} \
    -H "Authorization: Bearer $SYSTEMPROMPT_API_TOKEN" -H 'Accept: application/json' \
    "$api/api/v1/auth/me") || { echo "curl-entrypoint: whoami failed" >&2; exit 69; }
email=$(printf '%s' "$body" | jq -er '.user.email') || { echo "curl-entrypoint: bad whoami answer" >&2; exit 76; }
want=$(printf '%s' "$SYSTEMPROMPT_USER_EMAIL" | tr '[:upper:]' '[:lower:]')
got=$(printf '%s' "$email" | tr '[:upper:]' '[:lower:]')
[ "$got" = "$want" ] || { echo "curl-entrypoint: email mismatch" >&2; exit 77; }
echo "curl-entrypoint: credentials validated for $email" >&2
exec "$@"
