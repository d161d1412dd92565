# The Petadesa API as an image: stateless, so compose.yaml runs as many replicas as it is asked
# for against one PostGIS. Build: docker build -t petadesa .
# Run:   docker run -e PETADESA_DATABASE_URL=postgresql://user:pass@host/db -p 8000:8000 petadesa

# The maps' JS/CSS from the npm registry at the versions package-lock.json pins (no CDN).
FROM node:20-bookworm-slim AS map-assets
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund --loglevel=error

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# GDAL (ogr2ogr for bulk loads; its headers and a compiler for GDAL's Python bindings, which
# have no wheel) and SpatiaLite, so the image's CLI also reads and writes GeoPackages.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gdal-bin libgdal-dev build-essential \
        libsqlite3-mod-spatialite \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY geo ./geo
COPY maps ./maps
COPY api ./api
COPY cli ./cli
# numpy first, so that GDAL's bindings are built with gdal_array (see scripts/bootstrap.sh).
RUN pip install . \
    && pip install 'setuptools>=67' wheel \
    && pip install --no-build-isolation --no-deps "GDAL==$(gdal-config --version)" \
    && python -c "from osgeo import gdal_array; import api.main"
COPY --from=map-assets /build/node_modules /app/node_modules
RUN useradd --system --uid 10001 --home-dir /app petadesa
USER petadesa
ENV PETADESA_MAP_NODE_MODULES=/app/node_modules \
    PETADESA_API_HOST=0.0.0.0 \
    PETADESA_API_PORT=8000
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=5 --start-period=60s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health')"
CMD ["petadesa", "serve"]
