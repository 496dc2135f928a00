#!/usr/bin/env bash
# A full restore drill on the embedded defaults, in one command (`make drill-demo`):
# a small sample file tree, a demo repository next to drkit's default one, a backup job, a drill
# (restore into a throwaway directory, verify every file, RPO/RTO against targets) and the reports.
set -euo pipefail
DRKIT="${DRKIT:-$(dirname "$0")/../.venv/bin/drkit}"
DATA_HOME="${XDG_DATA_HOME:-$HOME/.local/share}/drkit"
DEMO="$DATA_HOME/demo"
REPO="$DATA_HOME/demo-repository"
export DRKIT_DEMO_PASSPHRASE="${DRKIT_DEMO_PASSPHRASE:-demo-passphrase-change-me}"
mkdir -p "$DEMO/files/docs"
for i in $(seq 1 50); do echo "document $i, written $(date -u +%FT%TZ)" > "$DEMO/files/docs/doc-$i.txt"; done
head -c 4000000 /dev/urandom > "$DEMO/files/blob.bin"
cat > "$DEMO/drkit.yaml" <<YAML
repositories:
  default: {url: "$REPO", passphrase: {env: DRKIT_DEMO_PASSPHRASE}}
jobs:
  demo-files:
    source: {kind: files, paths: ["$DEMO/files"]}
    targets: {rpo: 5min, rto: 15min}
    checks: [{path_exists: files/docs/doc-1.txt}]
YAML
[ -f "$REPO/config" ] || DRKIT_PASSWORD="$DRKIT_DEMO_PASSPHRASE" "$DRKIT" init --repo "$REPO"
"$DRKIT" --config "$DEMO/drkit.yaml" job run demo-files
"$DRKIT" --config "$DEMO/drkit.yaml" drill demo-files --sandbox local \
  --json "$DEMO/drill.json" --junit "$DEMO/drill.xml" --prom-file "$DEMO/drill.prom"
"$DRKIT" --config "$DEMO/drkit.yaml" report --html "$DEMO/drill-report.html"
echo "reports: $DEMO/drill.json $DEMO/drill.xml $DEMO/drill.prom $DEMO/drill-report.html"
