#!/bin/sh
# Creates ./secrets (or $DRKIT_SECRETS_DIR) for the Compose stack: a random repository passphrase,
# database password and S3 key pair (s3-config.json for the S3 server, s3-credentials for drkit), readable
# by the drkit container's UID 10001 only (and root). Keep a copy of the passphrase somewhere else:
# without it the backups cannot be read. Existing files are left alone.
set -eu
dir="${DRKIT_SECRETS_DIR:-$(dirname "$0")/secrets}"
mkdir -p "$dir"
random() { head -c 32 /dev/urandom | base64 | tr -d '\n=/+'; }
for name in repository-passphrase postgres-password; do
  if [ ! -e "$dir/$name" ]; then
    (umask 077; random > "$dir/$name")
  fi
done
if [ ! -e "$dir/s3-credentials" ]; then
  key="drkit$(random | cut -c1-12)"
  secret="$(random)"
  (umask 077
   printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$key" "$secret" > "$dir/s3-credentials"
   printf '{"identities": [{"name": "drkit", "credentials": [{"accessKey": "%s", "secretKey": "%s"}],\n  "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}\n' \
     "$key" "$secret" > "$dir/s3-config.json")
fi
if [ "$(id -u)" = 0 ]; then chown -R 10001:10001 "$dir"; else
  echo "note: run as root (or chown -R 10001:10001 $dir) so the drkit container can read the secrets" >&2
fi
chmod 0750 "$dir"
