# delivermon container image.
#
#   docker build -t delivermon .
#   docker run -v /path/to/delivermon.toml:/etc/delivermon/delivermon.toml:ro \
#              -v delivermon-data:/var/lib/delivermon -p 9640:9640 delivermon
#
# Two stages: the builder installs delivermon (uvloop comes with it on Linux)
# into a virtual environment; the runtime stage copies only that environment
# onto a fresh slim image and runs as an unprivileged user.

FROM python:3.11-slim AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/delivermon
COPY pyproject.toml README.md ./
COPY checks ./checks
COPY monitor ./monitor
RUN /opt/delivermon/bin/pip install --upgrade pip \
 && /opt/delivermon/bin/pip install . \
 && /opt/delivermon/bin/python -c "import uvloop, monitor, checks"

FROM python:3.11-slim
LABEL org.opencontainers.image.title="delivermon" \
      org.opencontainers.image.description="Deliverability and blacklist monitor with Prometheus metrics" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/delivermon/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN groupadd --system --gid 10001 delivermon \
 && useradd --system --uid 10001 --gid delivermon --home-dir /var/lib/delivermon \
        --no-create-home --shell /usr/sbin/nologin delivermon \
 && mkdir -p /etc/delivermon /var/lib/delivermon/data \
 && chown -R delivermon:delivermon /var/lib/delivermon
COPY --from=builder /opt/delivermon /opt/delivermon
COPY examples/delivermon.toml /etc/delivermon/delivermon.toml.example

# The default store is sqlite:///data/delivermon.db, relative to the working
# directory: /var/lib/delivermon/data/delivermon.db, on the data volume (with
# the generated pseudonym key beside it unless [privacy] pseudonym_key is set).
WORKDIR /var/lib/delivermon
# `docker compose exec delivermon delivermon doctor` (or check, ...) reads the same file as run
ENV DELIVERMON_CONFIG=/etc/delivermon/delivermon.toml
VOLUME ["/etc/delivermon", "/var/lib/delivermon"]
USER 10001:10001
EXPOSE 9640

# slim has no curl: probe /healthz with the interpreter already in the image.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:9640/healthz', timeout=4).status == 200 else 1)"]

ENTRYPOINT ["delivermon"]
CMD ["run", "--config", "/etc/delivermon/delivermon.toml", "--listen", "0.0.0.0:9640"]
