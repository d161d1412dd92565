"""Readers and fetchers for upstream sources: boundary polygons and the Kemendagri code list."""

from geo.ingest.sources.cahyadsn import FetchResult, fetch_regency, read_upstream_sql
from geo.ingest.sources.codelist import read_code_list

__all__ = ["FetchResult", "fetch_regency", "read_code_list", "read_upstream_sql"]
