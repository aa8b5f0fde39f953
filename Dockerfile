# The REST endpoint (scripts/deploy_endpoint.py) as an image for replicas: a slim base, every dependency
# pinned by constraints.txt, a non-root user, a health check on /ping. CI builds it on GitHub's runners
# (make image); this repository's own machines have no Docker engine. hadolint checks it in make lint.
FROM python:3.11.7-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    HOME=/tmp \
    MPLCONFIGDIR=/tmp/matplotlib \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MLFLOW_DISABLE_TELEMETRY=true

WORKDIR /app
# Dependencies first: this layer is rebuilt only when a requirements or constraints file changes.
COPY requirements.txt constraints.txt ./
RUN pip install --no-cache-dir -r requirements.txt

COPY src/ src/
COPY scripts/ scripts/
COPY configs/ configs/
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin model \
    && mkdir -p /app/logs \
    && chown model /app/logs

USER 10001
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/ping', timeout=2).status != 200)"]
ENTRYPOINT ["python", "scripts/deploy_endpoint.py", "--host", "0.0.0.0", "--port", "8080"]
CMD ["--alias", "production"]
