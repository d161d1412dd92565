"""The registry summary: counts per level, village kind and layer, and the gaps."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import EngineDep, RegencyFilter
from api.errors import problem_responses
from api.schemas import Summary
from geo.summary import registry_summary

router = APIRouter()


@router.get(
    "/summary",
    operation_id="getSummary",
    name="getSummary",
    response_model=Summary,
    responses=problem_responses(400),
    summary="Registry summary",
)
def get_summary(engine: EngineDep, regency: RegencyFilter) -> dict[str, Any]:
    """Count the whole registry, or of one regency (``?regency=35.07``).

    A regency code that is well formed but not in the registry gives zero counts.
    """
    return registry_summary(engine, regency=regency)
