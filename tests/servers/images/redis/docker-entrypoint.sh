#!/bin/sh
# The official image's start-up contract, reduced to what drkit's sandboxes use.
set -eu
case "${1:-}" in -*) set -- redis-server "$@" ;; esac
if [ "${1:-}" = "redis-server" ] && [ "$(id -u)" = "0" ]; then
  chown -R redis:redis /data 2>/dev/null || true
  exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi
if [ "${1:-}" = "redis-server" ]; then
  case "${2:-}" in
    */*.conf|*.conf) ;;  # a config file decides protected mode itself
    *) shift; set -- redis-server --protected-mode no "$@" ;;
  esac
fi
exec "$@"
