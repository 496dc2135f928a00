#!/bin/sh
# Creates ./secrets (or $DRKIT_SECRETS_DIR) for the Compose stack: a random repository passphrase and
# database password, readable by the drkit container's UID 10001 only. Keep a copy of the passphrase
# somewhere else: without it the backups cannot be read. Existing files are left alone.
set -eu
dir="${DRKIT_SECRETS_DIR:-$(dirname "$0")/secrets}"
mkdir -p "$dir"
for name in repository-passphrase postgres-password; do
  if [ ! -e "$dir/$name" ]; then
    (umask 077; head -c 32 /dev/urandom | base64 | tr -d '\n=/+' > "$dir/$name")
  fi
done
if [ "$(id -u)" = 0 ]; then chown -R 10001:10001 "$dir"; else
  echo "note: run as root (or chown -R 10001:10001 $dir) so the drkit container can read the secrets" >&2
fi
chmod 0750 "$dir"
