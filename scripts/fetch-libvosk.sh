#!/bin/sh
# Puts libvosk.so (from the vosk@0.3.39 npm tarball, which ships lib/linux-x86_64/libvosk.so) into
# DEST (default data/lib/, where the Vosk adapter looks next to the default MODELS_DIR data/models;
# with another layout, point VOSK_LIB at the file). Only the library is extracted: installing the vosk package
# itself fails on Node 20 (its ffi-napi does not build).
set -eu
DEST="${1:-data/lib}"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
( cd "$TMP" && npm pack vosk@0.3.39 --silent >/dev/null )
TARBALL="$(ls "$TMP"/vosk-*.tgz)"
tar -xzf "$TARBALL" -C "$TMP" package/lib/linux-x86_64/libvosk.so
mkdir -p "$DEST"
mv "$TMP/package/lib/linux-x86_64/libvosk.so" "$DEST/libvosk.so"
echo "$DEST/libvosk.so"
