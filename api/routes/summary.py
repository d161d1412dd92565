"""The registry summary: counts per level, village kind and layer, and the gaps."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import EngineDep, RegencyFilter, SessionDep
from api.errors import problem_responses
from api.schemas import DecisionNumbers, Summary
from geo.summary import decision_numbers, registry_summary

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


def _decisions(session: SessionDep, by: str, regency: str | None) -> list[dict[str, Any]]:
    frame = decision_numbers(session, by=by, regency=regency)
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


@router.get(
    "/summary/districts",
    operation_id="getDistrictNumbers",
    name="getDistrictNumbers",
    response_model=list[DecisionNumbers],
    responses=problem_responses(400),
    summary="Per district: villages with and without fibre, 4G, a destination, a product",
)
def get_district_numbers(session: SessionDep, regency: RegencyFilter) -> list[dict[str, Any]]:
    """The numbers behind a decision for each kecamatan (of one regency with ``?regency=``).

    Connectivity is each village's latest coverage run; the blank spots are the villages of
    class blank spot, ``people_without_signal`` the people the model leaves without signal.
    """
    return _decisions(session, "district", regency)


@router.get(
    "/summary/regencies",
    operation_id="getRegencyNumbers",
    name="getRegencyNumbers",
    response_model=list[DecisionNumbers],
    responses=problem_responses(400),
    summary="Per regency: villages with and without fibre, 4G, a destination, a product",
)
def get_regency_numbers(session: SessionDep, regency: RegencyFilter) -> list[dict[str, Any]]:
    """The numbers of :func:`get_district_numbers`, for each regency (or one)."""
    return _decisions(session, "regency", regency)
