"""Printing reports for people (rich tables) and for scripts (JSON)."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from geo.ingest.report import ImportReport, Severity

console = Console(stderr=False, highlight=False)
err_console = Console(stderr=True, highlight=False)
MAX_LISTED = 20


def print_json(data: Any) -> None:
    """Write JSON to stdout (dates and other values as strings; NaN as ``null``)."""
    text = json.dumps(_finite(data), indent=2, ensure_ascii=False, default=str, allow_nan=False)
    sys.stdout.write(text + "\n")


def _finite(data: Any) -> Any:
    """``data`` with every NaN (pandas' missing value) made ``None``, which JSON can hold."""
    if isinstance(data, float):
        return None if math.isnan(data) or math.isinf(data) else data
    if isinstance(data, dict):
        return {k: _finite(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_finite(v) for v in data]
    return data


def print_report(report: ImportReport, *, title: str) -> None:
    """Counts, then refused features, repairs and warnings, a bounded number of each."""
    table = Table(title=title, show_header=True, header_style="bold")
    for name in ("read", "inserted", "updated", "unchanged", "rejected"):
        table.add_column(name, justify="right")
    table.add_row(
        *(str(getattr(report, n)) for n in ("read", "inserted", "updated", "unchanged", "rejected"))
    )
    console.print(table)
    if report.derived:
        plural = {"province": "provinces", "regency": "regencies", "district": "districts"}
        derived = ", ".join(
            f"{n:,} {level if n == 1 else plural.get(level, level)}"
            for level, n in report.derived.items()
        )
        console.print(f"parent areas dissolved from their children: {derived}")
    _print_issues("refused", report.errors, "red")
    _print_issues("repaired", report.repaired, "yellow")
    _print_issues("warnings", report.warnings, "cyan")
    if report.link:
        print_link(report.link)


def _print_issues(label: str, issues: list, colour: str) -> None:
    if not issues:
        return
    console.print(f"[{colour}]{label} ({len(issues)}):[/{colour}]")
    for issue in issues[:MAX_LISTED]:
        console.print(f"  {issue}", markup=False)
    if len(issues) > MAX_LISTED:
        console.print(f"  ... and {len(issues) - MAX_LISTED} more (use --json for all)")


def print_link(link: dict[str, Any]) -> None:
    """One line per layer, then assets outside every village and disagreeing claims."""
    for layer, counts in link.get("layers", {}).items():
        if counts.get("total"):  # an empty layer has nothing to say
            console.print(f"linked {layer}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    outside = link.get("outside", [])
    if outside:
        console.print(f"[yellow]assets in no village ({len(outside)}):[/yellow]")
        for item in outside[:MAX_LISTED]:
            where = f"{item['lon']:.6f}, {item['lat']:.6f}"
            text = f"  {item['layer']} {item['id']} {item['name']!r} at {where}"
            console.print(text, markup=False)
    mismatched = link.get("mismatched", [])
    if mismatched:
        label = f"assets in another village than their source claims ({len(mismatched)})"
        console.print(f"[yellow]{label}:[/yellow]")
        for item in mismatched[:MAX_LISTED]:
            console.print(
                f"  {item['layer']} {item['id']} {item['name']!r}: source says "
                f"{item['claimed_village_code']}, lies in {item['village_code'] or 'no village'}",
                markup=False,
            )


def severity_counts(report: ImportReport) -> dict[str, int]:
    """Number of findings per severity."""
    return {str(s): sum(1 for i in report.issues if i.severity is s) for s in Severity}


def print_decisions(rows: list[dict[str, Any]], by: str) -> None:
    """The numbers behind a decision, one row per district or regency."""
    table = Table(title=f"Villages per {by}: how many, with fibre, 4G or better, ...")
    table.add_column("code", no_wrap=True)
    table.add_column("name", min_width=10)
    for header in ("vill.", "fibre", "4G+", "blank", "unkn.", "no sig.", "dest.", "prod."):
        table.add_column(header, justify="right", no_wrap=True)
    for row in rows:
        people = row["people_without_signal"]
        table.add_row(
            row["code"], row["name"] or "", str(row["villages"]),
            *(str(row[k]) for k in ("with_fibre", "with_4g", "blank_spot", "unknown")),
            "" if people is None else f"{people:,.0f}",
            str(row["with_destination"]), str(row["with_product"]),
        )  # fmt: skip
    console.print(table)


def print_summary(data: dict[str, Any]) -> None:
    """The registry summary as two tables and a few lines."""
    console.print(f"[bold]Registry:[/bold] {data['database']}")
    areas = Table(
        "level", "count", "derived", "repaired", "sample", "area km²", title="Administrative areas"
    )
    for level, row in data["areas"].items():
        areas.add_row(
            level,
            *(str(row[k]) for k in ("count", "derived", "repaired", "sample")),
            f"{row['area_km2']:,.1f}",
        )
    console.print(areas)
    kinds = ", ".join(f"{n} {kind}" for kind, n in data["villages_by_kind"].items())
    console.print(f"villages: {kinds or 'none'}")
    layers = Table("layer", "features", "linked", "unlinked", "sample", title="Asset layers")
    for name, row in data["layers"].items():
        layers.add_row(name, *(str(row[k]) for k in ("count", "linked", "unlinked", "sample")))
    console.print(layers)
    gaps = data["villages_without"]
    console.print(
        f"villages without a destination: {gaps['destination']}; "
        f"without a product site: {gaps['product_site']}"
    )


def print_coverage_run(data: dict[str, Any], register: Any) -> None:
    """What a coverage run found: classes, blank-spot villages, people without signal."""
    if data["sample"]:
        console.print(
            "[yellow]SAMPLE inputs[/yellow]: these results come from seeded sample rasters, "
            "not real terrain or people"
        )
    console.print(
        f"run {data['run_id']} ({data['scope']}): {data['towers_modelled']} towers modelled"
        + (f", skipped {data['towers_skipped']}" if data["towers_skipped"] else "")
    )
    table = Table("class", "villages")
    for name, count in data["classes"].items():
        table.add_row(name, str(count))
    console.print(table)
    blank = register[register["connectivity_class"] == "blank spot"].sort_values(
        "population_uncovered", ascending=False
    )
    if len(blank):
        listing = Table("blank-spot village", "name", "people without signal", "source")
        for row in blank.head(MAX_LISTED).itertuples():
            people = (
                ""
                if row.population_uncovered != row.population_uncovered
                else f"{row.population_uncovered:,.0f}"
            )
            listing.add_row(row.code, str(getattr(row, "name", "")), people, row.class_source)
        console.print(listing)
    if data["population_uncovered"] is not None:
        console.print(f"people without signal: {data['population_uncovered']:,.0f}")
    if data["coverage_path"]:
        console.print(f"coverage raster: {data['coverage_path']}")
    else:
        console.print("no DEM given: classes from the census and the fibre network only")


def print_register(records: list[dict[str, Any]]) -> None:
    """The connectivity register as a table, one village a row."""
    table = Table("code", "name", "class", "source", "confidence", "covered", "without signal")
    for r in records:
        share = r["covered_area_share"]
        people = r["population_uncovered"]
        table.add_row(
            r["code"],
            r["name"],
            r["connectivity_class"],
            r["class_source"],
            r["confidence"],
            "" if share is None else f"{share:.0%}",
            "" if people is None else f"{people:,.0f}",
        )
    console.print(table)
    console.print(f"{len(records):,} villages")
