# syntax=docker/dockerfile:1
#
# The Nursery server image: one image for every server process (`nursery-cloud api`,
# `collector`, `migrate`, `user add`, `device add|revoke`, `broker passwd`, `certs`) and, for the
# demo profile of docker-compose.yml, the simulated devices (`nursery-edge simulate`).
# Built and run by docker-compose.yml; docs/operations.md is the guide.

# Both stages must use the same interpreter: the venv is copied from one to the other.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- builder: the package with its cloud and edge extras, installed into a venv --------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
RUN python -m venv /opt/nursery/venv
WORKDIR /src
# Only what the package is built from (.dockerignore keeps the rest of the checkout out).
COPY pyproject.toml README.md ./
COPY models ./models
COPY edge ./edge
COPY cloud ./cloud
# `pip install .` builds this project's wheel and installs it (not editable) with its
# dependencies. --only-binary: every dependency publishes wheels for amd64 and arm64 that carry
# their own native libraries (soundfile bundles libsndfile, av bundles FFmpeg, psycopg-binary
# libpq, numpy/scipy OpenBLAS), so no compiler is needed here and no source build can make the
# runtime stage depend on a system library it does not have. The edge extra is for the demo
# profile's simulated devices (paho-mqtt, segno: small, pure Python). The one exception:
# http-ece (Web Push encryption, through pywebpush) publishes only a source archive; it is pure
# Python, so building it needs no compiler either.
RUN /opt/nursery/venv/bin/pip install --only-binary=:all: --no-binary=http-ece '.[cloud,edge]'

# --- runtime ----------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="nursery-cloud" \
      org.opencontainers.image.description="Nursery server: MQTT collector, parents' API, operator CLI"

# No apt packages: the wheels carry their native libraries (see the builder stage) and the slim
# image already has libstdc++ for the LiteRT interpreter.
#
# Two unprivileged users:
# - nursery (10001): the default, for the collector and one-off commands;
# - mosquitto (1883:1883): the uid/gid of the eclipse-mosquitto image's broker. Whatever
#   changes broker accounts (the API's provisioning, the compose file's init and demo jobs) runs
#   as this uid, so the broker can read the password file (it refuses files of other owners in
#   future versions) and accepts SIGHUP from it (docker-compose.yml explains the signal).
# The mount points of the named volumes are created here, owned by the user that writes them:
# Docker gives an empty named volume the ownership of the directory it is first mounted on.
RUN groupadd --system --gid 10001 nursery \
    && useradd --system --uid 10001 --gid nursery --home-dir /var/lib/nursery \
        --no-create-home --shell /usr/sbin/nologin nursery \
    && groupadd --system --gid 1883 mosquitto \
    && useradd --system --uid 1883 --gid mosquitto --home-dir /nonexistent \
        --no-create-home --shell /usr/sbin/nologin mosquitto \
    && install -d -o nursery -g nursery -m 0755 /var/lib/nursery \
    && install -d -o mosquitto -g mosquitto -m 0750 \
        /mosquitto/accounts /var/lib/nursery/uploads /var/lib/nursery-demo

COPY --from=builder /opt/nursery/venv /opt/nursery/venv
# The demo profile's "microphones": the short test clips, with their licences and attribution.
COPY tests/data/audio/*.flac tests/data/audio/ATTRIBUTION.md /opt/nursery/demo-audio/

ENV PATH=/opt/nursery/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

# Numeric, so that orchestrators can verify runAsNonRoot without reading /etc/passwd.
USER 10001:10001
WORKDIR /var/lib/nursery
# 8000: the API; 9100: the collector's /metrics, /healthz and /readyz.
EXPOSE 8000 9100

# The API's readiness (its database answers). docker-compose.yml gives the collector and the
# one-shot jobs their own checks; this default is for `docker run ... api`.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4)"]

ENTRYPOINT ["nursery-cloud"]
CMD ["--help"]
