"""Readers and fetchers for upstream sources: boundary polygons and the Kemendagri code list."""

from geo.sources.cahyadsn import FetchResult, fetch_regency, read_upstream_sql
from geo.sources.codelist import read_code_list

__all__ = ["FetchResult", "fetch_regency", "read_code_list", "read_upstream_sql"]
