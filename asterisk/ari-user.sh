#!/bin/sh
# Printed into ari.conf by #exec so the ARI credentials come from the container's environment.
cat <<CONF
[${ARI_USERNAME:-agentline}]
type = user
read_only = no
password = ${ARI_PASSWORD:?ARI_PASSWORD must be set}
CONF
