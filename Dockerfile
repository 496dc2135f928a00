# drkit container image; docs/deployment.md ("Run it on Kubernetes", "Docker image") explains how to run it.
# It builds with the classic builder and with BuildKit alike, and names no `# syntax=` frontend (an
# air-gapped engine cannot pull one); tests/deploy/test_image.py builds it and runs it as the CronJobs do.
#
#   docker build -t drkit .                                     # backup + drill image
#   docker build --build-arg DRILL_SERVERS=false -t drkit .     # backup-only image, much smaller
#   docker run --rm drkit --version
#
# Stage 1 builds wheels (drkit with every extra, drkit[all], and their dependencies) and installs them
# into a virtual environment, /opt/drkit; stage 2 copies that environment into a slim runtime with
# the PostgreSQL 15 and Redis tools, as the non-root user 10001, ready for a read-only root file
# system: drkit writes only to /var/lib/drkit (HOME, XDG_DATA_HOME; a volume) and /tmp.
#
# The base image is pinned by tag. To pin a digest as well, resolve it where a registry is reachable
# (`docker buildx imagetools inspect python:3.11-slim-bookworm`) and use `python:3.11-slim-bookworm@sha256:…`
# in both FROM lines.

FROM python:3.11-slim-bookworm AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY drkit ./drkit
COPY storage_backends ./storage_backends
COPY setup.py ./
COPY recovery_runbooks ./recovery_runbooks

# drkit's own wheel, then the wheels of its dependencies at the versions constraints.txt pins (all
# published as binary wheels for CPython 3.11 on amd64, so no compiler is needed).
# The virtual environment is copied whole into the runtime stage (same base image, so the same
# interpreter path): no wheel lands in a runtime layer, and no BuildKit-only bind mount is needed.
# EXTRA_CA_CERTS: PEM certificates to trust besides the system's while fetching wheels (a site whose
# egress goes through a TLS-inspecting proxy); only this build stage sees them, never the runtime image.
ARG EXTRA_CA_CERTS=""
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN if [ -n "$EXTRA_CA_CERTS" ]; then \
      cat /etc/ssl/certs/ca-certificates.crt > /tmp/ca.pem 2>/dev/null || true; \
      printf '%s\n' "$EXTRA_CA_CERTS" >> /tmp/ca.pem; export PIP_CERT=/tmp/ca.pem; \
    fi \
    && pip wheel --no-deps --wheel-dir /wheels . \
    && whl="$(echo /wheels/drkit-*.whl)" \
    && pip wheel -c constraints.txt --wheel-dir /wheels "${whl}[all]" \
    && python -m venv /opt/drkit \
    && /opt/drkit/bin/pip install --no-index --find-links=/wheels "${whl}[all]"


FROM python:3.11-slim-bookworm AS runtime

# true: also install the PostgreSQL 15 server and redis-server, which `drkit drill --sandbox local`
# uses to start the restored database (the drill CronJob needs them); false: backup-only image.
ARG DRILL_SERVERS=true
# for apt-get only (tzdata and the PostgreSQL packages ask debconf questions); not kept in the image
ARG DEBIAN_FRONTEND=noninteractive

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/var/lib/drkit \
    XDG_DATA_HOME=/var/lib/drkit \
    XDG_CACHE_HOME=/tmp/drkit-cache \
    DRKIT_PG_BINDIR=/usr/lib/postgresql/15/bin \
    PATH=/opt/drkit/bin:$PATH

# Versions are not pinned: Debian's security archive replaces a package version when it fixes it
# (the old one disappears from the mirror), so a pinned version would break the build on the next
# security update; bookworm's PostgreSQL 15 and Redis 7 are stable major versions by construction.
# create_main_cluster = false: the server package would otherwise create (and fill) a cluster in
# /var/lib/postgresql that drills never use.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client-15 redis-tools \
    && if [ "$DRILL_SERVERS" = "true" ]; then \
         apt-get install -y --no-install-recommends postgresql-common \
         && sed -ri 's/^#?(create_main_cluster) .*$/\1 = false/' /etc/postgresql-common/createcluster.conf \
         && apt-get install -y --no-install-recommends postgresql-15 redis-server; \
       fi \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*

# A fixed UID/GID, so Kubernetes' runAsUser/fsGroup and volume ownership line up with the image.
RUN groupadd --gid 10001 drkit \
    && useradd --uid 10001 --gid 10001 --home-dir /var/lib/drkit --no-create-home \
       --shell /usr/sbin/nologin drkit \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/drkit

COPY --from=build /opt/drkit /opt/drkit
RUN drkit --version && test -n "$(drkit runbook list)"

VOLUME ["/var/lib/drkit"]
WORKDIR /var/lib/drkit

# drkit's HTTP endpoints (/healthz, /readyz, /metrics) in daemon mode: `drkit schedule run`.
EXPOSE 9187

# Meaningful in daemon mode only (one-shot commands serve no HTTP). Python, because slim has no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9187/healthz', timeout=3)"]

USER 10001:10001

ENTRYPOINT ["drkit"]
CMD ["--help"]
