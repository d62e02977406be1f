#!/bin/sh
# Printed into pjsip.conf by #exec: the trunk named "trunk", which DIAL_STRING (PJSIP/{to}@trunk) uses.
# Asterisk includes what this prints and logs what it writes to stderr as errors; on a bad environment it
# exits non-zero with the reason, and the trunk is missing rather than half-configured.
#
# Two kinds of trunk:
# - digest: SIP_TRUNK_USERNAME and SIP_TRUNK_PASSWORD answer the carrier's challenges; with
#   SIP_TRUNK_REGISTER=yes (the default) Asterisk also registers to it.
# - IP-authenticated: SIP_TRUNK_USERNAME empty. The carrier knows us by our public address, so there is no
#   auth object and no registration (SIP_TRUNK_REGISTER is ignored).
# Asterisk sends OPTIONS to the carrier every SIP_TRUNK_QUALIFY seconds (default 60, 0 turns it off) and
# does not dial a contact that stopped answering them: with a carrier that ignores OPTIONS every call fails
# ("Could not create dialog to invalid URI 'trunk'"), so set 0 for such a carrier.
# Behind NAT, SIP_EXTERNAL_ADDRESS (the public IP) goes into SIP headers and SDP. Without local_net on the
# transport Asterisk applies it to every peer, which is right here: the only SIP peer is the carrier.
set -eu

fail() {
  echo "pjsip-trunk.sh: $*" >&2
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

host=${SIP_TRUNK_HOST:-}
[ -n "$host" ] || fail "SIP_TRUNK_HOST must be set (the carrier's SIP host[:port])"
host=$(conf_value SIP_TRUNK_HOST "$host")
host_only=${host%%:*}
username=$(conf_value SIP_TRUNK_USERNAME "${SIP_TRUNK_USERNAME:-}")
password=$(conf_value SIP_TRUNK_PASSWORD "${SIP_TRUNK_PASSWORD:-}")
from_domain=$(conf_value SIP_TRUNK_FROM_DOMAIN "${SIP_TRUNK_FROM_DOMAIN:-}")
external=$(conf_value SIP_EXTERNAL_ADDRESS "${SIP_EXTERNAL_ADDRESS:-}")
register=${SIP_TRUNK_REGISTER:-yes}
qualify=${SIP_TRUNK_QUALIFY:-60}
case "$qualify" in
'' | *[!0-9]*) fail "SIP_TRUNK_QUALIFY must be a number of seconds (0 turns qualifying off)" ;;
esac
if [ -n "$username" ] && [ -z "$password" ]; then
  fail "SIP_TRUNK_PASSWORD must be set with SIP_TRUNK_USERNAME (leave both empty for an IP-authenticated trunk)"
fi

if [ -n "$external" ]; then
  cat <<CONF
[transport-udp](+)
external_media_address = ${external}
external_signaling_address = ${external}

CONF
fi

cat <<CONF
[trunk](trunk-endpoint-template)
aors = trunk
from_domain = ${from_domain:-$host_only}
CONF
if [ -n "$username" ]; then
  echo "outbound_auth = trunk-auth"
fi

cat <<CONF

[trunk]
type = aor
contact = sip:${host}
qualify_frequency = ${qualify}

; Requests from the carrier's address belong to the trunk (inbound calls land in from-trunk).
[trunk]
type = identify
endpoint = trunk
match = ${host_only}
CONF

[ -n "$username" ] || exit 0

cat <<CONF

[trunk-auth]
type = auth
auth_type = digest
username = ${username}
password = ${password}
CONF

case "$register" in
[Yy][Ee][Ss] | [Tt][Rr][Uu][Ee] | 1 | [Oo][Nn])
  cat <<CONF

[trunk-reg]
type = registration
transport = transport-udp
outbound_auth = trunk-auth
server_uri = sip:${host}
client_uri = sip:${username}@${host_only}
retry_interval = 60
expiration = 3600
CONF
  ;;
esac
