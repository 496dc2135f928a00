"""The commented example written by ``drkit init-config``."""

EXAMPLE = """\
# drkit.yaml — validated by `drkit config validate`; shown (secrets redacted) by `drkit config show`.
# Every value can be overridden from the environment: DRKIT_<SECTION>__<KEY>, e.g.
#   DRKIT_SCHEDULER__MAX_CONCURRENT=4   DRKIT_LOG_LEVEL=debug
# Secrets are never written here: give a reference — {env: NAME}, {file: PATH} or {command: "..."}.
# Durations: 90s, 15min, 1h30min, 2d, 1w (or seconds); `m` alone is refused (min or mo?).

repositories:
  default:
    url: /var/lib/drkit/repository          # or s3://bucket/prefix, gs://bucket/prefix
    passphrase: {env: DRKIT_PASSWORD}
    prune: {schedule: "0 4 * * 0"}         # `drkit schedule run` prunes weekly (two phases)
    check: {schedule: "0 3 * * *", read_data_period: 30d}   # nightly; every pack read within 30 days
    # copy: {schedule: "30 3 * * *", to: offsite}           # into another repository of this file
    # retry_for: 5min                       # how long a store outage is waited out (default 5min)
    # workers: 4                            # sealing/restore threads (default: one per usable CPU)
    # connections: 16                       # requests in flight (default: 8 remote; local 2 uploads, 4 reads)
    # limit_upload: 2048                    # KiB/s to the store, all threads together (default: no limit)
    # limit_download: 8192                  # KiB/s from the store (--limit-upload/--limit-download win)

jobs:
  app-db:
    source:
      kind: postgres
      dsn: postgresql://backup@127.0.0.1:5432/app   # no password in the DSN
      password: {env: PGPASSWORD}
      mode: logical                                 # or physical (base backup; WAL via `drkit pg wal-push`)
    schedule: "0 2 * * *"                           # cron; 6 fields = seconds first
    jitter: 2min
    retention: {keep_daily: 7, keep_weekly: 4, keep_monthly: 6}
    targets: {rpo: 24h, rto: 15min}                 # drills fail (exit 20) when missed
    checks:
      - {sql: "SELECT count(*) > 0 FROM users", expect: "t"}
    drill: {schedule: "30 4 * * *", sandbox: auto}  # auto: Docker when reachable, else local processes

  cache:
    source: {kind: redis, url: "redis://127.0.0.1:6379/0", password: {env: REDIS_PASSWORD}}
    # or, through Sentinel (no url needed): {kind: redis, sentinels: ["10.0.0.5:26379"], master_name: cache}
    schedule: "15 * * * *"
    targets: {rpo: 1h, rto: 10min}
    checks:
      - {redis: "GET config:version", expect: "42"}

  uploads:
    source: {kind: files, paths: [/srv/uploads], exclude: ["*.tmp"]}
    schedule: "0 3 * * *"
    checks:
      - {path_exists: "uploads/README"}

systems:                   # jobs restored and drilled together, to one point in time (docs/systems.md)
  shop:
    jobs: [app-db, cache, uploads]    # `restore --system` to a point in time needs app-db in mode physical
    targets: {rpo: 24h, rto: 30min}
    # heartbeat: "*/5 * * * *"        # one instant into every component (row, key, file): the system canary

scheduler:
  max_concurrent: 2        # jobs running at once (one run per job at most)
  shutdown_grace: 5min     # on SIGTERM, how long a running backup may take to finish
  misfire_grace: 24h       # a run missed while the daemon was down runs once at start-up

http: {host: 127.0.0.1, port: 9187}   # /healthz /readyz /metrics
log_level: info
"""
