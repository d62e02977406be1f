#!/bin/sh
# Printed into ari.conf by #exec so the ARI credentials come from the container's environment. Asterisk logs
# what this writes to stderr as errors; without a password it exits non-zero and no ARI user exists.
set -eu

fail() {
  echo "ari-user.sh: $*" >&2
  exit 1
}

# A value as Asterisk's config parser reads it back: ';' starts a comment unless escaped, and a newline
# would end the line and start another setting.
conf_value() {
  case "$2" in
  *'
'*) fail "$1 must not contain a newline" ;;
  esac
  printf '%s' "$2" | sed 's/;/\\;/g'
}

[ -n "${ARI_PASSWORD:-}" ] || fail "ARI_PASSWORD must be set"
user=$(conf_value ARI_USERNAME "${ARI_USERNAME:-agentline}")
password=$(conf_value ARI_PASSWORD "$ARI_PASSWORD")

cat <<CONF
[${user}]
type = user
read_only = no
password = ${password}
CONF
