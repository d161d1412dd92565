"""``petadesa``: build and query the village registry from the shell.

Exit codes: 0 success; 1 the input was refused (nothing written); 2 wrong usage;
3 a source could not be reached; 4 the database or a setting cannot be used.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError

from cli.output import MAX_LISTED, console, err_console, print_json, print_link, print_report
from geo.errors import ConfigurationError, ImportRejected, PetadesaError, SourceUnavailable

EXIT_REFUSED, EXIT_SOURCE, EXIT_DATABASE = 1, 3, 4
EPILOG = (
    "Database: --database URL or PETADESA_DATABASE_URL; default gpkg:///petadesa.gpkg in the "
    "working directory. Exit codes: 0 ok, 1 input refused (nothing written), 2 usage, "
    "3 source unreachable, 4 database or setting unusable."
)

app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode="rich",
    epilog=EPILOG,
    add_completion=False,
    help="Petadesa: the village registry (desa/kelurahan boundaries and their assets).",
)
codes_app = typer.Typer(no_args_is_help=True, help="The Kemendagri code list (kode wilayah).")
boundaries_app = typer.Typer(
    no_args_is_help=True, help="Administrative boundaries, province to village."
)
assets_app = typer.Typer(
    no_args_is_help=True, help="Asset layers: towers, fibre, destinations, products..."
)
app.add_typer(codes_app, name="codes")
app.add_typer(boundaries_app, name="boundaries")
map_app = typer.Typer(no_args_is_help=True, help="Maps as HTML files that work offline.")
app.add_typer(assets_app, name="assets")
census_app = typer.Typer(
    no_args_is_help=True,
    help="Village census (BPS PODES): signal, mobile internet, BTS, flagship product.",
)
app.add_typer(census_app, name="census")
speedtests_app = typer.Typer(
    no_args_is_help=True,
    help="Speed tests: Ookla's open tiles and measured tests, and what they say per village.",
)
app.add_typer(speedtests_app, name="speedtests")
keys_app = typer.Typer(
    no_args_is_help=True,
    help="API keys: who may write which layers (public, planner, tourism, economy, admin).",
)
app.add_typer(keys_app, name="keys")
coverage_app = typer.Typer(
    no_args_is_help=True,
    help="Coverage and blank spots: modelled signal and the per-village connectivity register.",
)
app.add_typer(coverage_app, name="coverage")
plan_app = typer.Typer(
    no_args_is_help=True, help="Planning: new tower sites by people reached, fibre extensions."
)
app.add_typer(plan_app, name="plan")
app.add_typer(map_app, name="map")

F = TypeVar("F", bound=Callable[..., Any])


class State:
    """Options given before the subcommand, kept on the click context of one invocation."""

    def __init__(self, database: str | None = None, verbose: bool = False) -> None:
        self.database, self.verbose = database, verbose
        self._engine: Engine | None = None

    def engine(self) -> Engine:
        """The registry's engine (:func:`geo.store.db.open_registry`).

        Its schema is made on first use; a GeoPackage of an older version is upgraded.
        """
        if self._engine is None:
            from geo.store.db import open_registry  # noqa: PLC0415

            self._engine = open_registry(self.database)
        return self._engine

    def close(self) -> None:
        """Release the database connections."""
        if self._engine is not None:
            self._engine.dispose()


_current = State()


def current() -> State:
    """The state of the running invocation (set by the top-level options)."""
    return _current


@app.callback()
def main_options(
    database: Annotated[
        str | None,
        typer.Option(
            "--database",
            "-d",
            envvar="PETADESA_DATABASE_URL",
            help="gpkg:///file.gpkg or postgresql+psycopg://...",
        ),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show tracebacks of errors.")
    ] = False,
) -> None:
    """Petadesa: the village registry (desa/kelurahan boundaries and their assets)."""
    global _current
    _current.close()  # a previous invocation in the same process (tests, notebooks)
    _current = State(database, verbose)


def handle_errors(func: F) -> F:
    """Turn the errors a user can fix into one plain sentence and an exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ImportRejected as exc:
            if kwargs.get("as_json"):
                print_json({"error": exc.code, "message": str(exc), "report": exc.report.to_dict()})
            else:
                print_report(exc.report, title="Import refused")
                err_console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(EXIT_REFUSED) from None
        except (
            SourceUnavailable,
            ConfigurationError,
            OperationalError,
            ProgrammingError,
            PetadesaError,
            ValueError,
        ) as exc:
            if current().verbose:
                raise
            code = _exit_code(exc)
            err_console.print(f"[red]error:[/red] {_message(exc)}", markup=True)
            raise typer.Exit(code) from None

    return wrapper  # type: ignore[return-value]


def _exit_code(exc: Exception) -> int:
    if isinstance(exc, SourceUnavailable):
        return EXIT_SOURCE
    if isinstance(exc, ConfigurationError | OperationalError | ProgrammingError):
        return EXIT_DATABASE
    return EXIT_REFUSED


def _message(exc: Exception) -> str:
    if isinstance(exc, OperationalError | ProgrammingError):
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        return f"cannot use the database: {reason}"
    return str(exc)


JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


@app.command()
@handle_errors
def init() -> None:
    """Create the registry (or upgrade its schema) in the chosen database."""
    from geo.store.db import init_schema, make_engine  # noqa: PLC0415
    from geo.summary import describe_database  # noqa: PLC0415

    engine = make_engine(current().database)  # not open_registry: it refuses an old PostGIS
    try:
        init_schema(engine)
        console.print(f"registry ready: {describe_database(engine)}")
    finally:
        engine.dispose()


@codes_app.command("import")
@handle_errors
def codes_import(
    path: Annotated[
        Path, typer.Argument(help="kode_wilayah CSV (kode,nama,...) or upstream wilayah.sql.")
    ],
    prefix: Annotated[
        str | None, typer.Option(help="Keep only codes under this one, e.g. 35.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Load the official Kemendagri code list (names parent areas, refuses unknown codes)."""
    from geo.ingest.boundaries import import_code_list  # noqa: PLC0415

    with console.status(f"loading code list {path.name}..."):
        report = import_code_list(current().engine(), path, prefix=prefix)
    print_json(report.to_dict()) if as_json else print_report(
        report, title=f"Code list {path.name}"
    )


ImportOptions = dict[str, Any]


@boundaries_app.command("import")
@handle_errors
def boundaries_import(
    path: Annotated[
        Path, typer.Argument(help="GeoJSON, GeoPackage, zipped Shapefile, KML or upstream .sql.")
    ],
    code_field: Annotated[
        str | None, typer.Option(help="Column holding the Kemendagri code.")
    ] = None,
    name_field: Annotated[str | None, typer.Option(help="Column holding the area's name.")] = None,
    file_layer: Annotated[
        str | None, typer.Option("--layer", help="Layer of a multi-layer file.")
    ] = None,
    crs: Annotated[
        str | None, typer.Option(help="CRS of a file that names none, e.g. EPSG:32749.")
    ] = None,
    source: Annotated[str | None, typer.Option(help="Provenance recorded on every row.")] = None,
    skip_invalid: Annotated[
        bool, typer.Option(help="Import the valid features, report the refused.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Import boundaries; the level (province to village) is read from each code.

    Invalid geometries are repaired and reported. Parents the file lacks are dissolved from
    their children and named from the code list. One transaction: a refused feature means
    nothing is written, unless --skip-invalid.
    """
    from geo.ingest.boundaries import import_boundaries  # noqa: PLC0415

    with console.status(f"importing boundaries from {path.name}...") as status:
        report = import_boundaries(
            current().engine(),
            path,
            code_field=code_field,
            name_field=name_field,
            file_layer=file_layer,
            assume_crs=crs,
            source_name=source,
            skip_invalid=skip_invalid,
            progress=_status_step(status, path.name),
        )
    print_json(report.to_dict()) if as_json else print_report(
        report, title=f"Boundaries {path.name}"
    )


@boundaries_app.command("fetch")
@handle_errors
def boundaries_fetch(
    regency: Annotated[str, typer.Argument(help="Regency code, e.g. 35.07 (Kabupaten Malang).")],
    mirror: Annotated[
        Path | None,
        typer.Option(
            envvar="PETADESA_BOUNDARY_MIRROR_DIR", help="Local folder holding upstream files."
        ),
    ] = None,
    do_import: Annotated[
        bool, typer.Option("--import/--no-import", help="Import after fetching.")
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """Fetch a regency's village boundaries from cahyadsn/wilayah_boundaries at a pinned commit.

    Tries the cache, then --mirror, then the network; checks the checksum the project knows.
    """
    from geo.ingest.sources.cahyadsn import fetch_regency, load_manifest  # noqa: PLC0415

    result = _fetch_with_progress(fetch_regency, regency, mirror)
    fetched = {
        "path": str(result.path),
        "origin": result.origin,
        "sha256": result.sha256,
        "verified": result.verified,
    }
    if not as_json:
        verified = "verified" if result.verified else "not known to the project"
        console.print(f"fetched {result.path} (from {result.origin}, sha256 {verified})")
    report = None
    if do_import:
        from geo.ingest.boundaries import import_boundaries  # noqa: PLC0415

        with console.status("importing...") as status:
            report = import_boundaries(
                current().engine(),
                result.path,
                source_name="cahyadsn/wilayah_boundaries",
                source_version=load_manifest().commit,
                progress=_status_step(status, regency),
            )
    if as_json:
        print_json({"fetched": fetched, "report": report.to_dict() if report else None})
    elif report is not None:
        print_report(report, title=f"Boundaries {regency}")


def _status_step(status: Any, label: str) -> Callable[[str], None]:
    """A progress callback that shows the current step beside the spinner."""
    return lambda message: status.update(f"{label}: {message}...")


def _fetch_with_progress(fetch: Callable[..., Any], regency: str, mirror: Path | None) -> Any:
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn  # noqa: PLC0415

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(f"fetching {regency}", total=None)

        def update(done: int, total: int | None) -> None:
            progress.update(task, completed=done, total=total)

        return fetch(regency, mirror_dir=mirror, progress=update)


def _parse_pairs(pairs: list[str] | None, option: str) -> dict[str, str]:
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{pair!r} is not COLUMN=VALUE", param_hint=option)
        out[key.strip()] = value.strip()
    return out


@assets_app.command("import")
@handle_errors
def assets_import(
    layer: Annotated[
        str,
        typer.Argument(
            metavar="LAYER",
            help="tower, fibre_route, fibre_node, hotspot, destination, product_site, facility; "
            "the measurement layers speed_tile, speed_test.",
        ),
    ],
    path: Annotated[
        Path, typer.Argument(help="GeoJSON, GeoPackage, zipped Shapefile, KML or CSV (lat/lon).")
    ],
    map_fields: Annotated[
        list[str] | None, typer.Option("--map", help="LAYER_COLUMN=FILE_COLUMN, repeatable.")
    ] = None,
    set_values: Annotated[
        list[str] | None, typer.Option("--set", help="COLUMN=VALUE where the file has none.")
    ] = None,
    lat_field: Annotated[str | None, typer.Option(help="CSV latitude column.")] = None,
    lon_field: Annotated[str | None, typer.Option(help="CSV longitude column.")] = None,
    file_layer: Annotated[
        str | None, typer.Option("--layer", help="Layer of a multi-layer file.")
    ] = None,
    crs: Annotated[str | None, typer.Option(help="CRS of a file that names none.")] = None,
    source: Annotated[
        str | None, typer.Option(help="Provenance; with the id, the key for re-imports.")
    ] = None,
    skip_invalid: Annotated[
        bool, typer.Option(help="Import the valid features, report the refused.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Import an asset layer and link every feature to its village.

    Columns are matched by name (Indonesian names too: nama, kategori, harga_tiket...);
    `petadesa assets layers` lists them. Re-importing the same file changes nothing.
    """
    from geo.ingest.assets import import_assets  # noqa: PLC0415

    with console.status(f"importing {layer} from {path.name}...") as status:
        report = import_assets(
            current().engine(),
            layer,
            path,
            field_map=_parse_pairs(map_fields, "--map"),
            defaults=_parse_pairs(set_values, "--set"),
            lat_field=lat_field,
            lon_field=lon_field,
            file_layer=file_layer,
            assume_crs=crs,
            source_name=source,
            skip_invalid=skip_invalid,
            progress=_status_step(status, path.name),
        )
    print_json(report.to_dict()) if as_json else print_report(report, title=f"{layer} {path.name}")


@assets_app.command("import-opencellid")
@handle_errors
def assets_import_opencellid(
    path: Annotated[
        Path, typer.Argument(help="OpenCelliD cell export (CSV, e.g. 510.csv.gz unzipped).")
    ],
    mcc: Annotated[
        int, typer.Option(help="The country's MCC; cells of others are left out.")
    ] = 510,
    site_radius_m: Annotated[
        float, typer.Option(min=1.0, help="Cells this close to one another are one site.")
    ] = 150.0,
    skip_invalid: Annotated[
        bool, typer.Option(help="Import the valid cells, report the refused.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Import OpenCelliD's cells as tower sites (technologies and operators per site).

    Cells within --site-radius-m of one another are grouped into one tower at their mean
    position, carrying every technology (GSM 2G, UMTS 3G, LTE 4G, NR 5G) and operator (by MNC)
    of its cells and the median of their ranges as range_km. Data: OpenCelliD, CC BY-SA 4.0.
    """
    from geo.ingest.sources.opencellid import import_opencellid  # noqa: PLC0415

    with console.status(f"importing {path.name}...") as status:
        cells, report = import_opencellid(
            current().engine(),
            path,
            mcc=mcc,
            site_radius_m=site_radius_m,
            skip_invalid=skip_invalid,
            progress=_status_step(status, path.name),
        )
    if as_json:
        print_json({"cells": cells.to_dict(), "sites": report.to_dict()})
        return
    print_report(cells, title=f"cells {path.name}")
    console.print(f"{cells.read - cells.rejected:,} cells read as {report.read:,} tower sites")
    print_report(report, title="tower sites")


@assets_app.command("layers")
def assets_layers() -> None:
    """List the asset layers (and the measurement layers) and the columns a file can fill."""
    from rich.table import Table  # noqa: PLC0415

    from geo.ingest.assets import layer_columns  # noqa: PLC0415
    from geo.store.models import LINKED_LAYERS  # noqa: PLC0415

    table = Table("layer", "title", "geometry", "columns")
    for name, info in LINKED_LAYERS.items():
        table.add_row(
            name,
            f"{info.title} / {info.title_id}",
            info.model.geometry_type,
            ", ".join(layer_columns(name)),
        )
    console.print(table)


@census_app.command("import")
@handle_errors
def census_import(
    path: Annotated[
        Path,
        typer.Argument(help="CSV (or XLSX, ODS, DBF): one row per village, by Kemendagri code."),
    ],
    survey: Annotated[
        str | None,
        typer.Option(help="The survey's name; default PODES <year> from the file name."),
    ] = None,
    year: Annotated[int | None, typer.Option(help="The survey's year, if not in its name.")] = None,
    map_fields: Annotated[
        list[str] | None, typer.Option("--map", help="CENSUS_COLUMN=FILE_COLUMN, repeatable.")
    ] = None,
    file_layer: Annotated[
        str | None, typer.Option("--layer", help="Sheet or layer of a multi-layer file.")
    ] = None,
    source: Annotated[str | None, typer.Option(help="Provenance (default file:<name>).")] = None,
    skip_invalid: Annotated[
        bool, typer.Option(help="Import the valid villages, report the refused.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Import a village census, keyed by Kemendagri code (never the BPS id).

    PODES fields are read by their codes (R1005C signal strength, R1005D mobile internet,
    R1005A BTS, R1005B operators, R1006B office internet, R1203A-C flagship product, R307B office
    point) or by the registry's names (`petadesa census fields`). Every village must be in the
    registry; a refused row names its code and field, and nothing is written.
    """
    from geo.ingest.census import import_census  # noqa: PLC0415

    with console.status(f"importing the census {path.name}...") as status:
        report = import_census(
            current().engine(),
            path,
            survey=survey,
            survey_year=year,
            field_map=_parse_pairs(map_fields, "--map"),
            file_layer=file_layer,
            source_name=source,
            skip_invalid=skip_invalid,
            progress=_status_step(status, path.name),
        )
    print_json(report.to_dict()) if as_json else print_report(report, title=report.target)


@census_app.command("fields")
def census_fields() -> None:
    """List the census answers the registry keeps, their PODES fields and accepted values."""
    from rich.table import Table  # noqa: PLC0415

    from geo.ingest.census import ANSWERS  # noqa: PLC0415

    table = Table("column", "PODES", "also read from", "values")
    for answer in ANSWERS:
        values = ", ".join(
            f"{code} {word if word is not None else 'n/a'}" for code, word in answer.classes.items()
        )
        if answer.limits:
            values = f"{answer.limits[0]:g}..{answer.limits[1]:g}"
        table.add_row(
            answer.column, answer.podes or "", ", ".join(answer.aliases), values or answer.kind
        )
    console.print(table)


@census_app.command("show")
@handle_errors
def census_show(
    regency: Annotated[str | None, typer.Option(help="Only this regency, e.g. 35.79.")] = None,
    district: Annotated[str | None, typer.Option(help="Only this district.")] = None,
    survey: Annotated[
        str | None, typer.Option(help="This survey (default: each village's latest).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """The census answers per village."""
    from geo.queries import census  # noqa: PLC0415
    from geo.store.db import transaction  # noqa: PLC0415

    with transaction(current().engine()) as session:
        frame = census(session, regency=regency, district=district, survey=survey)
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    if as_json:
        print_json(records)
        return
    from rich.table import Table  # noqa: PLC0415

    table = Table(
        "code", "name", "survey", "signal", "mobile internet", "BTS", "operators", "flagship"
    )
    for row in records:
        flagship = "; ".join(p for p in (row["flagship_food"], row["flagship_nonfood"]) if p)
        table.add_row(
            row["code"],
            row["name"],
            row["survey"],
            row["signal_strength"] or "",
            row["mobile_internet"] or "",
            "" if row["bts_count"] is None else str(row["bts_count"]),
            "" if row["operator_count"] is None else str(row["operator_count"]),
            flagship,
        )
    console.print(table)
    console.print(f"{len(records):,} villages")


@keys_app.command("create")
@handle_errors
def keys_create(
    role: Annotated[
        str,
        typer.Option(
            help="public (reads), planner (towers, fibre, hotspots, facilities), tourism "
            "(destinations), economy (product sites) or admin (every layer)."
        ),
    ],
    regency: Annotated[
        str | None, typer.Option(help="Only features inside this regency, e.g. 35.07.")
    ] = None,
    label: Annotated[str | None, typer.Option(help="Who or what the key is for.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Make an API key and print it once (only its digest is kept).

    Send it as `Authorization: Bearer <key>`.
    """
    from geo.keys import create_key  # noqa: PLC0415

    key, row = create_key(current().engine(), role, regency=regency, label=label)
    record = {"key": key, "id": row.id, "prefix": row.prefix, "role": row.role}
    record |= {"regency": row.regency_code, "label": row.label}
    if as_json:
        print_json(record)
        return
    console.print(key)
    scope = f" in regency {row.regency_code}" if row.regency_code else ""
    err_console.print(
        f"key {row.id} ({row.prefix}...), role {row.role}{scope}: keep it, it is not shown again"
    )


@keys_app.command("revoke")
@handle_errors
def keys_revoke(
    key: Annotated[str, typer.Argument(help="The key, or its first 8 characters.")],
) -> None:
    """Revoke a key: writes with it are refused from now on."""
    from geo.keys import revoke_key  # noqa: PLC0415

    row = revoke_key(current().engine(), key)
    console.print(f"key {row.id} ({row.prefix}...) revoked")


@keys_app.command("list")
@handle_errors
def keys_list(as_json: JsonOption = False) -> None:
    """Every key: id, prefix, role, regency, label, made and revoked when."""
    from geo.keys import list_keys  # noqa: PLC0415
    from geo.store.db import transaction  # noqa: PLC0415

    with transaction(current().engine()) as session:
        rows = [
            {
                "id": k.id, "prefix": k.prefix, "role": k.role, "regency": k.regency_code,
                "label": k.label, "created_at": k.created_at.isoformat(),
                "revoked_at": None if k.revoked_at is None else k.revoked_at.isoformat(),
            }
            for k in list_keys(session)
        ]  # fmt: skip
    if as_json:
        print_json(rows)
        return
    from rich.table import Table  # noqa: PLC0415

    table = Table("id", "prefix", "role", "regency", "label", "revoked")
    for row in rows:
        table.add_row(
            str(row["id"]), row["prefix"], row["role"], row["regency"] or "",
            row["label"] or "", row["revoked_at"] or "",
        )  # fmt: skip
    console.print(table)


@speedtests_app.command("import-ookla")
@handle_errors
def speedtests_import_ookla(
    path: Annotated[
        Path,
        typer.Argument(
            help="Ookla open-data tiles: 2024-07-01_performance_mobile_tiles.parquet (or .zip)."
        ),
    ],
    period: Annotated[
        str | None,
        typer.Option(help="The quarter's first day, YYYY-MM-DD (default: from the file name)."),
    ] = None,
    network: Annotated[
        str | None, typer.Option(help="mobile or fixed (default: from the file name).")
    ] = None,
    regency: Annotated[
        str | None, typer.Option(help="Only tiles over this regency (default: every village).")
    ] = None,
    skip_invalid: Annotated[
        bool, typer.Option(help="Import the valid tiles, report the refused.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Import Ookla's open speed-test tiles over the registry's regencies.

    Only the tiles over the regencies are read and kept (a quarter's world file holds
    millions; Parquet is read by quadkey range, a shapefile by box; with no boundaries yet,
    all of Indonesia's). Each quarter and network is kept beside the others;
    importing a file again changes nothing. Each tile is linked to the village holding most of
    it. Data: Speedtest by Ookla Open Data, CC BY-NC-SA 4.0.
    """
    import datetime as dt  # noqa: PLC0415

    from geo.ingest.sources.ookla import import_ookla_tiles  # noqa: PLC0415

    try:
        start = dt.date.fromisoformat(period) if period else None
    except ValueError:
        raise typer.BadParameter(
            f"{period!r} is not a date YYYY-MM-DD", param_hint="--period"
        ) from None
    with console.status(f"importing {path.name}...") as status:
        rows, report = import_ookla_tiles(
            current().engine(),
            path,
            regency=regency,
            period=start,
            network=network,
            skip_invalid=skip_invalid,
            progress=_status_step(status, path.name),
        )
    if as_json:
        print_json({"rows": rows.to_dict(), "tiles": report.to_dict()})
        return
    print_report(rows, title=f"rows {path.name}")
    print_report(report, title="speed-test tiles")


@speedtests_app.command("import")
@handle_errors
def speedtests_import(
    path: Annotated[
        Path, typer.Argument(help="Tests at points: CSV (lat/lon), GeoJSON, GeoPackage...")
    ],
    map_fields: Annotated[
        list[str] | None, typer.Option("--map", help="LAYER_COLUMN=FILE_COLUMN, repeatable.")
    ] = None,
    lat_field: Annotated[str | None, typer.Option(help="CSV latitude column.")] = None,
    lon_field: Annotated[str | None, typer.Option(help="CSV longitude column.")] = None,
    crs: Annotated[str | None, typer.Option(help="CRS of a file that names none.")] = None,
    source: Annotated[str | None, typer.Option(help="Provenance (default file:<name>).")] = None,
    skip_invalid: Annotated[
        bool, typer.Option(help="Import the valid tests, report the refused.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Import speed tests or signal readings at points (a field survey, an app's export).

    Columns: measured_on, network (mobile/fixed), technology (2G-5G), operator,
    download_kbps, upload_kbps, latency_ms, signal_dbm; also read as avg_d_kbps, rsrp,
    radio, date... Speeds in Mbit/s must be given in kbit/s.
    """
    from geo.ingest.assets import import_assets  # noqa: PLC0415

    with console.status(f"importing speed tests from {path.name}...") as status:
        report = import_assets(
            current().engine(),
            "speed_test",
            path,
            field_map=_parse_pairs(map_fields, "--map"),
            lat_field=lat_field,
            lon_field=lon_field,
            assume_crs=crs,
            source_name=source,
            skip_invalid=skip_invalid,
            progress=_status_step(status, path.name),
        )
    print_json(report.to_dict()) if as_json else print_report(report, title=f"tests {path.name}")


@speedtests_app.command("show")
@handle_errors
def speedtests_show(
    regency: Annotated[str | None, typer.Option(help="Only this regency, e.g. 35.07.")] = None,
    district: Annotated[str | None, typer.Option(help="Only this district.")] = None,
    as_json: JsonOption = False,
) -> None:
    """What the mobile speed tests of the newest year say per village.

    The measured class is the best technology at least half of the tests reach, each test
    classed by its technology or its download speed (>= 5 Mbit/s 4G, >= 0.5 Mbit/s 3G).
    """
    from geo import queries  # noqa: PLC0415
    from geo.coverage.measured import village_measurements  # noqa: PLC0415
    from geo.store.db import transaction  # noqa: PLC0415

    with transaction(current().engine()) as session:
        tests = queries.speed_measurements(session, regency=regency, district=district)
    frame = village_measurements(tests).drop(columns="measured_code")
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    if as_json:
        print_json(records)
        return
    from rich.table import Table  # noqa: PLC0415

    table = Table("code", "class", "tests", "median download", "period")
    for row in records:
        speed = row["measured_download_kbps"]
        table.add_row(
            row["code"],
            row["measured_class"],
            f"{row['measured_tests']:,}",
            "" if speed is None else f"{speed / 1000:,.1f} Mbit/s",
            row["measured_period"] or "",
        )
    console.print(table)
    console.print(f"{len(records):,} villages with tests")


@coverage_app.command("sample-inputs")
@handle_errors
def coverage_sample_inputs(
    output_dir: Annotated[
        Path, typer.Option("-o", "--output-dir", help="Where to write them.")
    ] = Path("petadesa-samples"),
    regency: Annotated[str | None, typer.Option(help="Only this regency's villages.")] = None,
    seed: Annotated[int, typer.Option(help="Same seed, same rasters.")] = 11,
) -> None:
    """Write a seeded SAMPLE DEM and population grid over the registry's villages.

    For trying the analysis without real rasters: the files are marked as samples, and so is
    every run made from them. Bring a real DEM (SRTM, Copernicus GLO-30, DEMNAS) and
    population grid (WorldPop, HRSL) for real answers.
    """
    from geo import queries  # noqa: PLC0415
    from geo.samples.rasters import sample_dem, sample_population  # noqa: PLC0415
    from geo.store.db import transaction  # noqa: PLC0415

    with transaction(current().engine()) as session:
        villages = queries.villages(session, regency=regency)
    if villages.empty:
        raise ValueError("the registry holds no village: import boundaries first")
    with console.status("writing sample rasters..."):
        dem = sample_dem(villages, output_dir / "sample_dem.tif", seed=seed)
        population = sample_population(
            villages, output_dir / "sample_population.tif", seed=seed + 2
        )
    console.print(f"[yellow]SAMPLE[/yellow] DEM (not real terrain): {dem}")
    console.print(f"[yellow]SAMPLE[/yellow] population (not real people): {population}")


SignalOption = Annotated[
    list[str] | None,
    typer.Option(
        "--signal",
        metavar="TECH=FILE",
        help="An operator's coverage or signal raster of one technology (2G-5G), repeatable.",
    ),
]
SignalMinOption = Annotated[
    float | None,
    typer.Option(
        min=-160.0,
        max=-20.0,
        help="Weakest usable signal in dBm for every --signal raster in dBm (e.g. -110).",
    ),
]


def _signals(pairs: list[str] | None, min_dbm: float | None) -> list[Any]:
    """The ``--signal TECH=FILE`` options as :class:`~geo.coverage.signal.SignalInput`."""
    from geo.coverage.signal import SignalInput  # noqa: PLC0415

    out = []
    for pair in pairs or []:  # one technology may come twice: two operators' 4G
        technology, sep, path = pair.partition("=")
        if not sep or not path.strip():
            raise typer.BadParameter(f"{pair!r} is not TECH=FILE", param_hint="--signal")
        try:
            out.append(SignalInput(Path(path.strip()), technology.strip().upper(), min_dbm))
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--signal") from None
    return out


@coverage_app.command("model")
@handle_errors
def coverage_model(
    dem: Annotated[
        Path | None,
        typer.Option(help="DEM GeoTIFF (heights in metres), any CRS; without: census and fibre."),
    ] = None,
    population: Annotated[
        Path | None, typer.Option(help="Population grid GeoTIFF (people per cell), any CRS.")
    ] = None,
    signal: SignalOption = None,
    signal_min_dbm: SignalMinOption = None,
    regency: Annotated[str | None, typer.Option(help="Only this regency, e.g. 35.07.")] = None,
    include_planned: Annotated[
        bool, typer.Option(help="Model planned towers too (coverage once they are built).")
    ] = False,
    output_dir: Annotated[Path, typer.Option(help="Where the coverage GeoTIFF goes.")] = Path(
        "petadesa-coverage"
    ),
    min_blank_km2: Annotated[
        float, typer.Option(help="Smallest blank-spot area listed, km².")
    ] = 0.05,
    as_json: JsonOption = False,
) -> None:
    """Model coverage for the registry's towers and write a run of the connectivity register.

    Line of sight over the DEM (GDAL's viewshed, earth curvature and radio refraction,
    receiver at 1.5 m) within a range per technology (2G 15 km, 3G 8 km, 4G 10 km, 5G 2 km,
    or the tower's range_km), sectors where towers give an azimuth. Each village gets its
    class reconciled with the census and the fibre network, shares of area and people per
    technology, people without signal and distances from its office; blank-spot areas are
    kept too. The run is dated and keeps its parameters and input digests.

    An operator's coverage raster (--signal 4G=FILE: a 0/1 mask, or signal in dBm counted
    from 2G -100, 3G -105, 4G/5G -110 dBm or --signal-min-dbm) is merged in: each cell keeps
    the better of the model and the operator.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn  # noqa: PLC0415

    from geo.coverage.model import ModelParameters  # noqa: PLC0415
    from geo.coverage.register import run_coverage  # noqa: PLC0415

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
        disable=as_json,
    ) as bar:
        task = bar.add_task("preparing", total=None)

        def towers_done(done: int, total: int) -> None:
            bar.update(task, description="modelling towers", completed=done, total=total)

        summary = run_coverage(
            current().engine(),
            dem=dem,
            population=population,
            signals=_signals(signal, signal_min_dbm),
            regency=regency,
            params=ModelParameters(include_planned=include_planned),
            output_dir=output_dir,
            min_blank_km2=min_blank_km2,
            progress=lambda message: bar.update(task, description=message),
            tower_progress=towers_done,
        )
    data = _coverage_summary(summary)
    if as_json:
        print_json(data)
        return
    from cli.output import print_coverage_run  # noqa: PLC0415

    print_coverage_run(data, summary.register)


def _coverage_summary(summary: Any) -> dict[str, Any]:
    """What a coverage run found, as plain data: classes, blank-spot villages, people."""
    register = summary.register
    counts = register["connectivity_class"].value_counts().to_dict()
    blank = register[register["connectivity_class"] == "blank spot"]
    return {
        "run_id": summary.run_id,
        "scope": summary.scope,
        "sample": summary.sample,
        "towers_modelled": summary.towers_modelled,
        "towers_skipped": summary.towers_skipped,
        "coverage_path": None if summary.coverage_path is None else str(summary.coverage_path),
        "villages": len(register),
        "classes": {k: int(v) for k, v in counts.items()},
        "blank_spot_villages": blank["code"].tolist(),
        "population_uncovered": _total(register["population_uncovered"]),
        "blank_spot_areas": len(summary.blank_spots),
    }


def _total(values: Any) -> float | None:
    """Sum of a column, ``None`` when every value is missing."""
    return None if values.isna().all() else round(float(values.sum()), 1)


@coverage_app.command("show")
@handle_errors
def coverage_show(
    regency: Annotated[str | None, typer.Option(help="Only this regency, e.g. 35.07.")] = None,
    district: Annotated[str | None, typer.Option(help="Only this district.")] = None,
    run: Annotated[int | None, typer.Option(help="This run (default: the latest).")] = None,
    as_json: JsonOption = False,
) -> None:
    """The connectivity register per village: class, source, confidence, shares, people."""
    from geo.coverage.register import as_records  # noqa: PLC0415
    from geo.queries import connectivity  # noqa: PLC0415
    from geo.store.db import transaction  # noqa: PLC0415

    with transaction(current().engine()) as session:
        frame = connectivity(session, regency=regency, district=district, run=run)
    records = as_records(frame)
    if as_json:
        print_json(records)
        return
    from cli.output import print_register  # noqa: PLC0415

    print_register(records)


@coverage_app.command("runs")
@handle_errors
def coverage_runs_command(as_json: JsonOption = False) -> None:
    """The coverage runs, newest first, with their scope, inputs and whether they are samples."""
    import json  # noqa: PLC0415

    from geo.queries import coverage_runs  # noqa: PLC0415
    from geo.store.db import transaction  # noqa: PLC0415

    with transaction(current().engine()) as session:
        frame = coverage_runs(session)
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    for record in records:
        record["parameters"] = json.loads(record["parameters"])
        record["inputs"] = json.loads(record["inputs"])
    if as_json:
        print_json(records)
        return
    from rich.table import Table  # noqa: PLC0415

    table = Table("run", "when (UTC)", "scope", "towers", "inputs", "coverage GeoTIFF")
    for r in records:
        inputs = ", ".join(f"{i['kind']}{' (SAMPLE)' if i['sample'] else ''}" for i in r["inputs"])
        table.add_row(
            str(r["id"]),
            str(r["created_at"]),
            r["scope"],
            str(r["towers_modelled"]),
            inputs,
            r["coverage_path"] or "",
        )
    console.print(table)


@coverage_app.command("diff")
@handle_errors
def coverage_diff(
    before: Annotated[
        int | None, typer.Argument(help="The earlier run (default: the one before the latest).")
    ] = None,
    after: Annotated[
        int | None, typer.Argument(help="The later run (default: the latest).")
    ] = None,
    regency: Annotated[str | None, typer.Option(help="Only this regency.")] = None,
    as_json: JsonOption = False,
) -> None:
    """What changed in each village between two runs: class, source, shares, people, distances."""
    from geo.coverage.register import compare_runs  # noqa: PLC0415
    from geo.queries import connectivity, coverage_runs  # noqa: PLC0415
    from geo.store.db import transaction  # noqa: PLC0415

    with transaction(current().engine()) as session:
        ids = coverage_runs(session)["id"].tolist()
        if after is None:
            after = ids[0] if ids else None
        if before is None:
            earlier = [i for i in ids if after is not None and i < after]
            before = earlier[0] if earlier else None
        if before is None or after is None or before not in ids or after not in ids:
            raise ValueError(
                f"need two runs to compare; runs: {', '.join(map(str, ids)) or 'none'}"
            )
        changes = compare_runs(
            connectivity(session, regency=regency, run=before),
            connectivity(session, regency=regency, run=after),
        )
    records = changes.to_dict("records")
    if as_json:
        print_json({"before": before, "after": after, "changes": records})
        return
    from rich.table import Table  # noqa: PLC0415

    table = Table(
        "village", "name", "field", "before", "after", title=f"run {before} -> run {after}"
    )
    for r in records[:200]:
        table.add_row(r["code"], r["name"], r["field"], _shown(r["before"]), _shown(r["after"]))
    console.print(table)
    villages = len({r["code"] for r in records})
    console.print(f"{len(records):,} changes in {villages:,} villages")


def _shown(value: Any) -> str:
    """A value for a table cell: numbers rounded, nothing as a dash."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.0f}"
    return str(value)


@coverage_app.command("impact")
@handle_errors
def coverage_impact(
    regency: Annotated[str | None, typer.Option(help="Only this regency.")] = None,
    run: Annotated[int | None, typer.Option(help="This run (default: the latest).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Destinations and product sites inside blank spots, and villages ranked by need."""
    from geo.queries import assets_in_blank_spots, villages_by_need  # noqa: PLC0415
    from geo.store.db import transaction  # noqa: PLC0415

    with transaction(current().engine()) as session:
        ranked = villages_by_need(session, regency=regency, run=run)
        hit = {
            layer: assets_in_blank_spots(session, layer, regency=regency, run=run)
            for layer in ("destination", "product_site")
        }
    if as_json:
        clean = ranked.astype(object).where(ranked.notna(), None)
        print_json(
            {
                "villages": clean.to_dict("records"),
                **{
                    f"{layer}s_in_blank_spots": [
                        {
                            "id": int(r.id),
                            "name": r.name,
                            "village_code": r.village_code,
                            "blank_spot_village": r.blank_spot_village,
                        }
                        for r in frame.itertuples()
                    ]
                    for layer, frame in hit.items()
                },
            }
        )
        return
    from rich.table import Table  # noqa: PLC0415

    for layer, frame in hit.items():
        console.print(f"{len(frame):,} {layer.replace('_', ' ')}s inside blank spots")
        for r in frame.head(MAX_LISTED).itertuples():
            console.print(f"  {r.name} ({r.village_code})", markup=False)
    table = Table(
        "village",
        "name",
        "class",
        "without signal",
        "destinations hit",
        "products hit",
        title="Villages by need",
    )
    for r in ranked.head(MAX_LISTED).itertuples():
        table.add_row(
            r.code,
            r.name,
            r.connectivity_class,
            _shown(r.population_uncovered),
            str(r.destinations_in_blank_spots),
            str(r.product_sites_in_blank_spots),
        )
    console.print(table)


class ExportWhat(StrEnum):
    """What ``coverage export`` writes."""

    register = "register"
    blank_spots = "blank-spots"
    coverage = "coverage"


@coverage_app.command("export")
@handle_errors
def coverage_export(
    output: Annotated[Path, typer.Option("-o", "--output", help=".csv, .geojson, .gpkg or .tif")],
    what: Annotated[
        ExportWhat | None,
        typer.Option(help="register, blank-spots or coverage (default: by the file's suffix)."),
    ] = None,
    regency: Annotated[str | None, typer.Option(help="Only this regency.")] = None,
    run: Annotated[int | None, typer.Option(help="This run (default: the latest).")] = None,
) -> None:
    """Export a run: the register, the blank-spot areas or the coverage GeoTIFF.

    The register as CSV, or as GeoJSON/GeoPackage with the village boundaries; blank spots as
    GeoJSON/GeoPackage; the coverage raster (best technology per cell) as the GeoTIFF it is.
    """
    import shutil  # noqa: PLC0415

    import pandas as pd  # noqa: PLC0415

    from geo import queries  # noqa: PLC0415
    from geo.store.db import transaction  # noqa: PLC0415

    suffix = output.suffix.lower()
    what = what or (ExportWhat.coverage if suffix in (".tif", ".tiff") else ExportWhat.register)
    with transaction(current().engine()) as session:
        runs = queries.coverage_runs(session)
        if runs.empty:
            raise ValueError("no coverage run yet: run petadesa coverage model first")
        if what is ExportWhat.coverage:
            chosen = runs.head(1) if run is None else runs[runs["id"] == run]
            if chosen.empty:
                raise ValueError(f"no run {run}; runs: {', '.join(map(str, runs['id']))}")
            path = chosen["coverage_path"].iloc[0]
            if pd.isna(path) or not Path(path).exists():
                raise ValueError(
                    f"run {chosen['id'].iloc[0]} has no coverage GeoTIFF (was a DEM given?)"
                )
            if Path(path).is_dir():  # modelled one regency at a time: a GeoTIFF per regency
                if suffix:
                    raise ValueError(
                        f"{output.name}: run {chosen['id'].iloc[0]} was modelled one regency "
                        "at a time; its coverage is a folder of GeoTIFFs: give a folder name"
                    )
                shutil.copytree(path, output)
            elif suffix not in (".tif", ".tiff"):
                raise ValueError(f"{output.name}: the coverage raster is a GeoTIFF (.tif)")
            else:
                shutil.copyfile(path, output)
        elif what is ExportWhat.blank_spots:
            _write_frame(queries.blank_spot_areas(session, regency=regency, run=run), output)
        else:
            register = queries.connectivity(session, regency=regency, run=run)
            if suffix == ".csv":
                register.to_csv(output, index=False)
            else:
                villages = queries.villages(session, regency=regency)[["code", "geometry"]]
                _write_frame(villages.merge(register, on="code"), output)
    console.print(f"written {output} ({what})")


@plan_app.command("towers")
@handle_errors
def plan_towers_command(
    dem: Annotated[Path, typer.Option(help="DEM GeoTIFF (heights in metres), any CRS.")],
    population: Annotated[Path, typer.Option(help="Population grid GeoTIFF, any CRS.")],
    k: Annotated[int, typer.Option("-k", min=1, max=500, help="How many sites to choose.")] = 10,
    signal: SignalOption = None,
    signal_min_dbm: SignalMinOption = None,
    candidates: Annotated[
        Path | None, typer.Option(help="Candidate sites (points: GeoJSON, GeoPackage, CSV...).")
    ] = None,
    spacing_km: Annotated[
        float, typer.Option(min=0.2, help="Without --candidates: a grid of sites this far apart.")
    ] = 2.0,
    regency: Annotated[str | None, typer.Option(help="Only this regency, e.g. 35.07.")] = None,
    technology: Annotated[str, typer.Option(help="What the new towers carry: 2G-5G.")] = "4G",
    height_m: Annotated[float | None, typer.Option(help="Antenna height (default 30 m).")] = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write the sites (.geojson, .gpkg, .csv).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Where K new towers would cover the most people who have no signal now.

    Today's coverage is modelled from the registry's towers; every candidate is modelled the
    same way, and sites are chosen by greedy maximal coverage (lazy evaluation), each with the
    people it adds (its marginal gain).
    """
    from geo.coverage.planning import plan_towers  # noqa: PLC0415

    points = _read_points(candidates) if candidates else None
    with console.status("planning tower sites...") as status:
        sites = plan_towers(
            current().engine(),
            dem=dem,
            population=population,
            signals=_signals(signal, signal_min_dbm),
            k=k,
            candidates=points,
            spacing_km=spacing_km,
            regency=regency,
            technology=technology.upper(),
            height_m=height_m,
            progress=lambda msg: status.update(msg + "..."),
        )
    if output:
        _write_frame(sites, output)
    plain = sites.drop(columns="geometry")
    records = plain.astype(object).where(plain.notna(), None).to_dict("records")
    if as_json:
        print_json(records)
        return
    from rich.table import Table  # noqa: PLC0415

    table = Table("rank", "village", "lon", "lat", "people added", "total", title="New tower sites")
    for r in records:
        table.add_row(
            str(r["rank"]),
            r["village_code"] or "(no village)",
            f"{r['lon']:.5f}",
            f"{r['lat']:.5f}",
            f"{r['gain']:,.0f}",
            f"{r['cumulative']:,.0f}",
        )
    console.print(table)


@plan_app.command("fibre")
@handle_errors
def plan_fibre_command(
    within_km: Annotated[
        float, typer.Option(min=0.0, help="Villages whose office is this close are near.")
    ] = 2.0,
    regency: Annotated[str | None, typer.Option(help="Only this regency, e.g. 35.10.")] = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write the connection order (.csv).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Villages within X km of the fibre network, and in what order to connect the rest.

    The order is a minimum spanning tree grown from the network over the village offices
    (each step the shortest link to the network or to a village already connected), with
    straight-line lengths in metres.
    """
    from geo.coverage.planning import plan_fibre  # noqa: PLC0415

    near, order = plan_fibre(current().engine(), within_km=within_km, regency=regency)
    if output:
        order.to_csv(output, index=False)
    if as_json:
        print_json(
            {
                "within_km": within_km,
                "near": near.to_dict("records"),
                "order": order.to_dict("records"),
            }
        )
        return
    from rich.table import Table  # noqa: PLC0415

    console.print(f"{len(near):,} villages within {within_km:g} km of the fibre network")
    table = Table(
        "step", "village", "name", "connect to", "link m", "total m", title="Connection order"
    )
    for r in order.head(MAX_LISTED).to_dict("records"):
        table.add_row(
            str(r["step"]),
            r["code"],
            r["name"],
            r["connect_to"],
            f"{r['link_m']:,.0f}",
            f"{r['cumulative_m']:,.0f}",
        )
    console.print(table)
    if len(order) > MAX_LISTED:
        console.print(f"... and {len(order) - MAX_LISTED} more (use --json or -o FILE.csv)")


def _read_points(path: Path) -> Any:
    """Points from a file, in EPSG:4326 (the CRS rules of every import)."""
    from geo.ingest.readers import read_features  # noqa: PLC0415
    from geo.ingest.report import ImportReport  # noqa: PLC0415
    from geo.ingest.validation import to_wgs84  # noqa: PLC0415

    frame = read_features(path)
    report = ImportReport(target="candidates", path=str(path), read=len(frame))
    frame = to_wgs84(frame, report)
    if report.errors:
        raise ValueError(f"{path.name}: {report.errors[0]}")
    if not (frame.geometry.geom_type == "Point").all():
        raise ValueError(f"{path.name}: candidate sites must be points")
    return frame


def _write_frame(frame: Any, path: Path) -> None:
    """Write a GeoDataFrame by the file's suffix: GeoJSON, GeoPackage or CSV (lon, lat)."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        frame.drop(columns="geometry").to_csv(path, index=False)
    elif suffix in (".geojson", ".json"):
        frame.to_file(path, driver="GeoJSON")
    elif suffix == ".gpkg":
        frame.to_file(path, driver="GPKG")
    else:
        raise ValueError(f"{path.name}: write .geojson, .gpkg or .csv")


@app.command()
@handle_errors
def link(
    layers: Annotated[
        list[str] | None, typer.Option("--layer", help="Only this layer (repeatable).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Link every asset to its village again (after boundaries changed)."""
    from geo.linking import link_assets  # noqa: PLC0415
    from geo.store.db import transaction  # noqa: PLC0415

    with (
        console.status("linking assets to villages..."),
        transaction(current().engine()) as session,
    ):
        result = link_assets(session, layers or None).to_dict()
    print_json(result) if as_json else print_link(result)


@app.command()
@handle_errors
def summary(
    regency: Annotated[str | None, typer.Option(help="Only this regency, e.g. 35.07.")] = None,
    by: Annotated[
        SummaryBy | None,
        typer.Option(
            help="Instead, per district or regency: villages with and without fibre, 4G, "
            "a destination, a product; blank spots and people without signal."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Counts per level and layer, what was derived or repaired, and the gaps."""
    from geo.summary import decision_numbers, registry_summary  # noqa: PLC0415

    if by is not None:
        from geo.store.db import transaction  # noqa: PLC0415

        with transaction(current().engine()) as session:
            frame = decision_numbers(session, by=by.value, regency=regency)
        rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
        if as_json:
            print_json(rows)
        else:
            from cli.output import print_decisions  # noqa: PLC0415

            print_decisions(rows, by.value)
        return
    data = registry_summary(current().engine(), regency=regency)
    if as_json:
        print_json(data)
    else:
        from cli.output import print_summary  # noqa: PLC0415

        print_summary(data)


class SummaryBy(StrEnum):
    """What the numbers behind a decision are grouped by."""

    district = "district"
    regency = "regency"


class MapLanguage(StrEnum):
    """Languages of map labels, legends and popups."""

    id = "id"
    en = "en"


@map_app.command("registry")
@handle_errors
def map_registry(
    regency: Annotated[str, typer.Option(help="Regency code, e.g. 35.07 (Kabupaten Malang).")],
    output: Annotated[
        Path, typer.Option("--output", "-o", dir_okay=False, help="HTML file to write.")
    ],
    district: Annotated[
        str | None, typer.Option(help="Only this kecamatan, e.g. 35.07.05.")
    ] = None,
    lang: Annotated[
        MapLanguage, typer.Option(help="id (Bahasa Indonesia) or en.")
    ] = MapLanguage.id,
    inline: Annotated[
        bool, typer.Option(help="One self-contained file, no assets/ folder.")
    ] = False,
    basemap: Annotated[
        bool, typer.Option(help="Add OpenStreetMap tiles (needs internet to view).")
    ] = False,
) -> None:
    """Write the registry map of a regency: villages, asset layers, legend; works offline."""
    path = _render_registry_map(
        regency, output, district=district, lang=lang.value, inline=inline, basemap=basemap
    )
    assets = "self-contained" if inline else f"assets in {path.parent / 'assets'}"
    console.print(f"map written: {path} ({path.stat().st_size / 2**20:.1f} MiB, {assets})")


def _render_registry_map(
    regency: str,
    output: Path,
    *,
    district: str | None = None,
    lang: str = "id",
    inline: bool = False,
    basemap: bool = False,
) -> Path:
    from geo.store.db import transaction  # noqa: PLC0415
    from maps import registry_map, save_map  # noqa: PLC0415

    with console.status("drawing the map..."), transaction(current().engine()) as session:
        fmap = registry_map(session, regency=regency, district=district, lang=lang, basemap=basemap)
    return save_map(fmap, output, inline=inline).resolve()


@app.command()
@handle_errors
def quickstart(
    regency: Annotated[
        str, typer.Option(help="Regency to build, e.g. 35.07 (Kab. Malang), 35.79 (Kota Batu).")
    ] = "35.07",
    data_dir: Annotated[
        Path | None,
        typer.Option(
            envvar="PETADESA_DATA_DIR",
            help="Folder of real public data (default: ../shared/data beside the repository).",
        ),
    ] = None,
    maps_dir: Annotated[Path, typer.Option(help="Where the maps are written.")] = Path("out"),
    serve_api: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the API afterwards (Ctrl+C stops).")
    ] = False,
    coverage: Annotated[
        bool,
        typer.Option(
            "--coverage/--no-coverage",
            help="Model coverage and blank spots (on SAMPLE terrain and population).",
        ),
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """The main job: build a registry of one regency, ready to explore.

    Real boundaries from the pinned upstream file (cache, mirror in the data folder, or
    network) with the code list; real asset files where the project knows some; seeded sample
    features (source=sample) for the other layers. With no network and no mirror a seeded
    sample region stands in, so this always completes.
    """
    from geo.demo import build_demo_registry, default_data_dir, run_demo_coverage  # noqa: PLC0415
    from geo.summary import registry_summary  # noqa: PLC0415

    engine = current().engine()
    data_dir = data_dir or default_data_dir()
    run = None
    with console.status("building the registry...") as status:
        result = build_demo_registry(
            engine,
            regency=regency,
            data_dir=data_dir,
            step=lambda msg: status.update(msg + "..."),
        )
        if coverage:
            run = run_demo_coverage(
                engine,
                result,
                data_dir=data_dir,
                work_dir=maps_dir,
                step=lambda msg: status.update(msg + "..."),
            )
    data = registry_summary(engine, regency=result.regency)
    analysis = _coverage_summary(run) if run else None
    maps = {
        lang: _render_registry_map(
            result.regency, maps_dir / f"registry-{result.regency}-{lang}.html", lang=lang
        )
        for lang in ("id", "en")
    }
    if as_json:
        print_json(
            {
                "regency": result.regency,
                "sample_region": result.sample_region,
                "notes": result.notes,
                "imports": [r.to_dict() for r in result.reports],
                "summary": data,
                "coverage": analysis,
                "maps": {lang: str(path) for lang, path in maps.items()},
            }
        )
    else:
        _print_quickstart(result, data)
        if run is not None:
            from cli.output import print_coverage_run  # noqa: PLC0415

            console.print("\n[bold]Coverage and blank spots[/bold]")
            print_coverage_run(analysis, run.register)
        console.print("[bold]Maps[/bold] (open in a browser; they work offline):")
        for path in maps.values():
            console.print(f"  {path.as_uri()}")
    if serve_api:
        serve()


def _print_quickstart(result: Any, data: dict[str, Any]) -> None:
    from rich.table import Table  # noqa: PLC0415

    from cli.output import print_summary  # noqa: PLC0415

    table = Table(
        "layer",
        "from",
        "read",
        "inserted",
        "updated",
        "unchanged",
        "repaired",
        "refused",
        "warnings",
        title="Imports",
    )
    for report in result.reports:
        table.add_row(
            report.target,
            Path(report.path).name,
            *(str(getattr(report, k)) for k in ("read", "inserted", "updated", "unchanged")),
            str(len(report.repaired)),
            str(len(report.errors)),
            str(len(report.warnings)),
        )
    console.print(table)
    for report in result.reports:
        for issue in (*report.repaired, *report.warnings):
            console.print(f"  {report.target}: {issue}", markup=False)
    for note in result.notes:
        console.print(f"[yellow]note:[/yellow] {note}")
    print_summary(data)
    console.print(
        "\n[bold]Next:[/bold]\n"
        "  petadesa serve                          the API on http://127.0.0.1:8000/\n"
        "  petadesa summary --json                 the numbers, for scripts\n"
        "  petadesa assets layers                  what each layer holds\n"
        "  petadesa assets import LAYER FILE       add your own towers, destinations...\n"
        "  open the GeoPackage in QGIS             every table is a layer"
    )


@app.command()
@handle_errors
def serve(
    host: Annotated[
        str | None,
        typer.Option(help="Address to listen on (default PETADESA_API_HOST, 127.0.0.1)."),
    ] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Port (default PETADESA_API_PORT, 8000).")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Server processes (default PETADESA_API_WORKERS, 1).")
    ] = None,
) -> None:
    """Serve the registry over HTTP (the Petadesa API) on either backend."""
    from api.server import serve as serve_api  # noqa: PLC0415
    from api.settings import ApiSettings  # noqa: PLC0415
    from geo.summary import describe_database  # noqa: PLC0415

    state = current()
    where = describe_database(state.engine())  # refuses a bad URL, creates the schema if missing
    state.close()
    given = {"host": host, "port": port, "workers": workers}
    settings = ApiSettings(**{k: v for k, v in given.items() if v is not None})
    base = f"http://{settings.host}:{settings.port}/"
    console.print(f"serving {where} on {base} ({settings.workers} worker(s)); Ctrl+C stops")
    console.print(
        f"  an OGC API Features service: add {base} in QGIS (WFS / OGC API - Features) or "
        f"read it with `ogrinfo OAPIF:{base}`; vector tiles: "
        f"{base}collections/village/tiles/WebMercatorQuad/tilejson.json"
    )
    serve_api(state.database, settings)


def main() -> None:
    """Entry point of the ``petadesa`` script."""
    app()


if __name__ == "__main__":
    main()
