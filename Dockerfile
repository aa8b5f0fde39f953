# The REST endpoint (mlops-serve, scripts/deploy_endpoint.py) as an image for replicas: a slim base, every dependency
# pinned by constraints.txt, a non-root user, a health check on /ping. CI builds it on GitHub's runners
# (make image); this repository's own machines have no Docker engine. hadolint checks it in make lint.
# By tag: no image registry answers from this repository's machines, so the digest could not be read here. Where one
# does, pin it (`docker buildx imagetools inspect python:3.11.7-slim-bookworm`, then `FROM ...@sha256:<digest>`);
# Dependabot's docker updates (.github/dependabot.yml) then move tag and digest together.
FROM python:3.11.7-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    MPLCONFIGDIR=/tmp/matplotlib \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MLFLOW_DISABLE_TELEMETRY=true \
    MLOPS_PROJECT_ROOT=/app

WORKDIR /app
# Dependencies first: this layer is rebuilt only when a requirements or constraints file changes.
COPY requirements.txt constraints.txt ./
RUN pip install --no-cache-dir -r requirements.txt

# The project as a package (its console scripts: mlops-serve, ...); configs/ stays in /app (MLOPS_PROJECT_ROOT).
COPY pyproject.toml setup.py README.md ./
COPY src/ src/
COPY scripts/ scripts/
COPY pipelines/ pipelines/
COPY configs/ configs/
RUN pip install --no-cache-dir --no-deps . \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin model \
    && mkdir -p /app/logs \
    && chown model /app/logs

USER 10001
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/ping', timeout=2).status != 200)"]
ENTRYPOINT ["mlops-serve", "--host", "0.0.0.0", "--port", "8080"]
CMD ["--alias", "production"]
