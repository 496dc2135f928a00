# syntax=docker/dockerfile:1
#
# drkit container image (issue 9, "Running drkit in production"); README.md ("Run it on Kubernetes", "Docker image") explains how to run it.
#
#   docker build -t drkit .                                     # backup + drill image
#   docker build --build-arg DRILL_SERVERS=false -t drkit .     # backup-only image, much smaller
#   docker run --rm drkit --version
#
# Stage 1 builds wheels (drkit and every dependency); stage 2 installs them into a slim runtime with
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
COPY pyproject.toml README.md ./
COPY drkit ./drkit
COPY storage_backends ./storage_backends

# drkit's own wheel, then the wheels of its dependencies (all published as binary wheels for CPython
# 3.11 on amd64, so no compiler is needed).
RUN pip wheel --no-deps --wheel-dir /wheels . \
    && pip wheel --wheel-dir /wheels /wheels/drkit-*.whl


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
    DRKIT_PG_BINDIR=/usr/lib/postgresql/15/bin

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

# The wheels are bind-mounted from the build stage, so they never land in a layer of this image.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels /wheels/drkit-*.whl \
    && drkit --version

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
