#!/bin/sh
# Printed into pjsip.conf by #exec: the trunk named "trunk", which DIAL_STRING (PJSIP/{to}@trunk) uses.
: "${SIP_TRUNK_HOST:?SIP_TRUNK_HOST must be set (the carrier's SIP host[:port])}"
if [ -n "$SIP_EXTERNAL_ADDRESS" ]; then
cat <<CONF
[transport-udp](+)
external_media_address = ${SIP_EXTERNAL_ADDRESS}
external_signaling_address = ${SIP_EXTERNAL_ADDRESS}
CONF
fi
cat <<CONF
[trunk](trunk-endpoint-template)
aors = trunk
outbound_auth = trunk-auth
from_domain = ${SIP_TRUNK_FROM_DOMAIN:-${SIP_TRUNK_HOST%%:*}}

[trunk]
type = aor
contact = sip:${SIP_TRUNK_HOST}
qualify_frequency = 60

[trunk-auth]
type = auth
auth_type = userpass
username = ${SIP_TRUNK_USERNAME:-}
password = ${SIP_TRUNK_PASSWORD:-}

[trunk]
type = identify
match = ${SIP_TRUNK_HOST%%:*}
CONF
if [ "${SIP_TRUNK_REGISTER:-yes}" = "yes" ]; then
cat <<CONF

[trunk-reg]
type = registration
transport = transport-udp
outbound_auth = trunk-auth
server_uri = sip:${SIP_TRUNK_HOST}
client_uri = sip:${SIP_TRUNK_USERNAME}@${SIP_TRUNK_HOST%%:*}
retry_interval = 60
expiration = 3600
CONF
fi
