#!/usr/bin/env bash
# The README's first command: set everything up, then run the main job on the embedded default:
# build the registry, render its maps into ./out, and serve the API until Ctrl+C.
#
#   bash scripts/demo.sh                 # Kabupaten Malang (35.07) into ./petadesa.gpkg
#   bash scripts/demo.sh --regency 35.79 # Kota Batu
#   bash scripts/demo.sh --no-serve      # build and render only
#
# Arguments go to `petadesa quickstart` (see `.venv/bin/petadesa quickstart --help`).
# PETADESA_DATABASE_URL=postgresql+psycopg://... builds the same registry in PostGIS instead.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$REPO/scripts/bootstrap.sh"
cd "$REPO"
exec "$REPO/.venv/bin/petadesa" quickstart --serve "$@"
