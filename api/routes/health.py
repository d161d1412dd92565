"""Whether the registry database answers."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import EngineDep
from api.errors import RegistryUnavailable, problem_responses
from api.schemas import Health
from geo.store.backend import backend_of
from geo.store.db import schema_exists

router = APIRouter()


@router.get(
    "/health",
    operation_id="getHealth",
    name="getHealth",
    response_model=Health,
    responses=problem_responses(503),
    summary="Database reachable",
)
def health(engine: EngineDep) -> Health:
    """200 when the database answers and holds a registry; a 503 problem otherwise."""
    if not schema_exists(engine):
        raise RegistryUnavailable("the database holds no Petadesa registry: run `petadesa init`")
    return Health(status="ok", backend=backend_of(engine).name)
