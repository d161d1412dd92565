"""One router per resource, mounted here, in one place, with its prefix and tag."""

from __future__ import annotations

from fastapi import APIRouter

from api.routes import (
    districts,
    features,
    gaps,
    health,
    landing,
    layers,
    maps,
    regencies,
    summary,
    tiles,
    villages,
)

TAGS = [
    {"name": "landing", "description": "What the API is and where everything is"},
    {"name": "health", "description": "Whether the registry database answers"},
    {"name": "features", "description": "OGC API Features: every layer as a collection"},
    {"name": "tiles", "description": "OGC API Tiles: vector tiles (MVT) of every collection"},
    {"name": "summary", "description": "Counts per level and layer"},
    {"name": "regencies", "description": "Regencies and cities (kabupaten/kota)"},
    {"name": "districts", "description": "Districts (kecamatan)"},
    {"name": "villages", "description": "Villages (desa/kelurahan) and their assets"},
    {"name": "layers", "description": "Asset layers: towers, fibre, destinations, products..."},
    {"name": "maps", "description": "Interactive maps (HTML) that work offline"},
]

api_router = APIRouter()
api_router.include_router(landing.router, tags=["landing"])
api_router.include_router(health.router, tags=["health"])
api_router.include_router(features.router, tags=["features"])
api_router.include_router(tiles.router, tags=["tiles"])
api_router.include_router(summary.router, tags=["summary"])
api_router.include_router(regencies.router, prefix="/regencies", tags=["regencies"])
api_router.include_router(districts.router, prefix="/districts", tags=["districts"])
api_router.include_router(villages.router, prefix="/villages", tags=["villages"])
api_router.include_router(gaps.router, prefix="/villages-without", tags=["villages"])
api_router.include_router(layers.router, prefix="/layers", tags=["layers"])
api_router.include_router(maps.router, prefix="/maps", tags=["maps"])
