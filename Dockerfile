# The gateway as a container: the reference deployment (deploy/compose.yaml) runs two of these behind a proxy that
# spreads requests without affinity, sharing Redis and PostgreSQL. The command is the one the tests run:
# `voice-gateway serve --workers N` with REDIS_URL and DATABASE_URL (tests/shared/test_served_calls.py).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY channels ./channels
COPY web ./web
RUN pip install . && useradd --system --home /app gateway && mkdir -p /app/data && chown gateway /app/data
USER gateway

EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz').status != 200)"
# PEER_HOST: this container's own address, where the other replica hands over requests of calls answered here.
CMD ["sh", "-c", "PEER_HOST=\"${PEER_HOST:-$(hostname -i | cut -d' ' -f1)}\" exec voice-gateway serve --host 0.0.0.0 --port 8000 --workers \"${WORKERS:-2}\""]
