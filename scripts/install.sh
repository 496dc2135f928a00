#!/usr/bin/env bash
# Installs everything drkit needs on a fresh Debian 12 machine: system packages (database servers and
# clients for the tests, restic and pgbackrest for the benchmarks) and a .venv with drkit and its test extras.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  make python3 python3-venv python3-dev
  postgresql-15 postgresql-client-15 redis-server redis-tools
  restic pgbackrest zstd
  docker.io debootstrap   # container drills: a private dockerd and stand-in images built by the tests
  docker-compose   # Compose v1 (1.29): deploy/compose, tested by tests/deploy/test_compose.py
  sqlite3   # the sqlite3 shell: the oracle (.dump) of the out-of-tree source plugin test (tests/plugins/sqlite)
  rsync attr acl unzip   # the files restore tests' independent oracle (rsync -aHAXS), xattr/ACL tools; unzip: the zip dump oracle
  linux-perf   # bench/gil_share.py and bench/gil_wait.py (perf record / perf trace)
  fuse3   # drkit mount: libfuse 3 and fusermount3 (tests/integration/test_mount.py)
  prometheus   # for promtool: the alert rules are checked and unit-tested with it
  systemd   # systemd-analyze verify of the units in deploy/systemd (tests/deploy/test_systemd.py)
  mariadb-server mariadb-client   # the MySQL/MariaDB source (drkit/sources/mysql) and its test servers
  gcc pkg-config libacl1-dev liblz4-dev libzstd-dev libxxhash-dev libssl-dev   # build Borg 1.4 (bench peer; DRKIT_BENCH_BORG=1)
)

if command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${APT_PACKAGES[@]}" >/dev/null
  # Debian starts the packaged servers; drkit's tests start their own on free ports, so stop the
  # system ones to keep the machine quiet (ignored where there is no init system).
  $SUDO service postgresql stop >/dev/null 2>&1 || true
  $SUDO service redis-server stop >/dev/null 2>&1 || true
  $SUDO service mariadb stop >/dev/null 2>&1 || true
  $SUDO service prometheus stop >/dev/null 2>&1 || true
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
  fi
else
  echo "install.sh: apt-get not found; install these yourself: ${APT_PACKAGES[*]}" >&2
fi

# Debian's interpreter, not a per-user one: PostgreSQL runs `drkit pg wal-push` as the postgres user
# (archive_command), which must be able to execute the venv's python (a pyenv under /root is 0700).
if [ -z "${PYTHON:-}" ]; then
  if [ -x /usr/bin/python3 ]; then PYTHON=/usr/bin/python3; else PYTHON=python3; fi
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -c constraints.txt -e '.[test]'  # pinned by constraints.txt; test includes drkit[all]: every backend, source and sandbox
echo "drkit installed: $(.venv/bin/drkit --version)"

# Borg 1.4, the benches' second peer (bench/_borg.py), in its own venv; pip builds it (no wheels), a few minutes.
if [ "${DRKIT_BENCH_BORG:-0}" = 1 ]; then
  BORG_VENV="${XDG_CACHE_HOME:-$HOME/.cache}/drkit-bench/borg-1.4"
  [ -x "$BORG_VENV/bin/python" ] || "$PYTHON" -m venv "$BORG_VENV"
  "$BORG_VENV/bin/pip" install -q 'borgbackup==1.4.*'
  echo "bench peer installed: $("$BORG_VENV/bin/borg" --version)"
fi
