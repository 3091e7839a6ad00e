#!/bin/sh
# Writes FOLDER/agents.sha256: the SHA-256, size and modification time of each agent there
# (tunnel-dispatcher, tunnel-dispatcher-ARCH), so that `tunnel` need not hash them on every
# start (see Sources/TunnelClient/Bootstrap/AgentManifest.swift, which believes a line only
# while the file keeps that size and time). Run by `make` after each agent, and by
# `make install`. Usage: write-agent-manifest.sh FOLDER
set -eu
folder=$1
lines=
for name in tunnel-dispatcher tunnel-dispatcher-x86_64 tunnel-dispatcher-aarch64 tunnel-dispatcher-armv7 \
            tunnel-dispatcher-i686 tunnel-dispatcher-riscv64; do
    path=$folder/$name
    [ -f "$path" ] || continue
    set -- $(sha256sum "$path") $(stat -c '%s %.9Y' "$path")
    lines="$lines$1 $3 $4 $name
"
done
# Replaced whole (a reader never sees half a manifest); mktemp: the folder may be shared.
temporary=$(mktemp "$folder/.agents.sha256.XXXXXX")
printf '%s' "$lines" > "$temporary"
chmod 644 "$temporary"
mv -f "$temporary" "$folder/agents.sha256"
