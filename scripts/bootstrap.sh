#!/usr/bin/env bash
# Idempotent set-up of a Petadesa checkout: system packages, then .venv with the project installed
# in editable mode with its test extras. Safe to run on every test run: when nothing changed it
# only checks (well under a second).
#
#   bash scripts/bootstrap.sh        # from any directory
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$REPO/.venv"
# The stamp holds the sha256 of the pyproject.toml the venv was last installed from.
STAMP="$VENV/.petadesa-pyproject.sha256"
PYTHON=${PYTHON:-python3}

# PostGIS for the test cluster, SpatiaLite for the GeoPackage backend, ogr2ogr/ogrinfo for
# bulk loads and as an OGC API Features client, Chromium for the map tests (Playwright drives
# Debian's build; it cannot download its own here). None of them exists as a wheel.
# libgdal-dev and a compiler build GDAL's own Python bindings (osgeo: the in-process viewshed
# of the coverage model), which have no wheel for Python 3.11.
# python3-qgis and qgis-providers: QGIS itself, headless, as an OGC API Features client in
# tests/api/test_qgis.py (bindings for Debian's /usr/bin/python3 only; no wheel exists).
APT_PACKAGES=(postgresql-15-postgis-3 libsqlite3-mod-spatialite gdal-bin libgdal-dev build-essential
    chromium python3-qgis qgis-providers)
# npm installs the maps' JS/CSS (package-lock.json); Debian's nodejs/npm when the machine has none.
command -v npm >/dev/null || APT_PACKAGES+=(nodejs npm)

say() { echo "petadesa setup: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

install_system_packages() {
    local missing=() pkg
    for pkg in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
            || missing+=("$pkg")
    done
    if ((${#missing[@]} == 0)); then
        say "system packages present"
        return
    fi
    local sudo=()
    if ((EUID != 0)); then
        command -v sudo >/dev/null \
            || die "missing Debian packages: ${missing[*]}; install them as root with:
    apt-get update && apt-get install -y --no-install-recommends ${APT_PACKAGES[*]}"
        sudo=(sudo)
    fi
    say "installing ${missing[*]} (apt)"
    "${sudo[@]}" apt-get update -q >/dev/null
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${APT_PACKAGES[@]}" >/dev/null
}

create_venv() {
    # A venv whose interpreter is gone (the base Python was removed or upgraded) is rebuilt.
    if [[ -d "$VENV" ]] && ! "$VENV/bin/python" -c '' 2>/dev/null; then
        say "removing broken $VENV"
        rm -rf "$VENV"
    fi
    if [[ ! -x "$VENV/bin/python" ]]; then
        command -v "$PYTHON" >/dev/null || die "$PYTHON not found: Petadesa needs Python >= 3.11"
        "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
            || die "$PYTHON is $("$PYTHON" -V 2>&1): Petadesa needs Python >= 3.11 (set PYTHON=...)"
        say "creating $VENV with $("$PYTHON" -V 2>&1)"
        "$PYTHON" -m venv "$VENV"
    fi
}

install_python_packages() {
    local want
    want=$(sha256sum "$REPO/pyproject.toml" | cut -d' ' -f1)
    if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
        say "python packages up to date (pyproject.toml unchanged)"
        return
    fi
    say "pip install -e '.[test]'"
    (cd "$REPO" && "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
        --progress-bar off -e '.[test]')
    # Written only after pip succeeded, so a failed install is retried next time.
    echo "$want" >"$STAMP"
}

install_gdal_bindings() {
    # GDAL's Python bindings (osgeo), built against the system library at its exact version;
    # numpy is in the venv first, so osgeo.gdal_array is built too (pip's build isolation would
    # leave it out without a word). Rebuilt when the library or numpy's ABI no longer matches.
    local want have
    want=$(gdal-config --version)
    have=$("$VENV/bin/python" -c 'from osgeo import gdal, gdal_array; print(gdal.__version__)' \
        2>/dev/null || true)
    if [[ "$have" == "$want" ]]; then
        say "GDAL $want Python bindings present"
        return
    fi
    say "building GDAL $want Python bindings against the system library (about 30 s)"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --progress-bar off \
        'setuptools>=67' wheel
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --progress-bar off \
        --no-build-isolation --no-cache-dir --no-deps --force-reinstall "GDAL==$want"
    "$VENV/bin/python" -c 'from osgeo import gdal_array' \
        || die "GDAL $want bindings built without gdal_array (is numpy installed in $VENV?)"
}

install_map_assets() {
    # Folium's JS/CSS at the versions it pins, from the npm registry, so maps work offline.
    local stamp="$REPO/node_modules/.petadesa-lock.sha256" want
    want=$(sha256sum "$REPO/package-lock.json" | cut -d' ' -f1)
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        say "map assets up to date"
        return
    fi
    command -v npm >/dev/null \
        || die "npm not found: the offline maps need Node.js >= 18 with npm (apt-get install -y nodejs npm)"
    say "npm ci (map assets: leaflet, bootstrap, font awesome...)"
    (cd "$REPO" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
    echo "$want" >"$stamp"   # npm ci wipes node_modules, so the stamp is rewritten each install
}

install_system_packages
install_map_assets
create_venv
install_python_packages
install_gdal_bindings
say "ready ($VENV)"
