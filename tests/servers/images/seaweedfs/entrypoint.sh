#!/bin/sh
# The official image's start-up contract, reduced to what drkit's Compose stack uses: `server ARGS`
# runs `weed server` with its data in /data, 1 GiB preallocated volumes and as many volumes as the disk
# holds; ARGS come after those defaults, so an ARG of the same name wins. Anything else runs `weed ARGS`.
set -eu
if [ "${1:-}" = "server" ]; then
  shift
  exec /usr/bin/weed server -dir=/data -volume.max=0 -master.volumePreallocate -master.volumeSizeLimitMB=1024 "$@"
fi
exec /usr/bin/weed "$@"
