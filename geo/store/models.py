"""The registry's tables, one GeoAlchemy2 model set for PostGIS and GeoPackage alike.

Administrative areas (``province`` > ``regency`` > ``district`` > ``village``) are keyed by their
Kemendagri code and carry ``valid_from``/``valid_to`` so that boundary versions after a
*pemekaran* (split) fit without a schema change: the row in force has ``valid_to IS NULL``.
Asset layers are one table each so every layer opens in QGIS with real columns.

Real numbers are declared ``Double``: GDAL reads a GeoPackage ``FLOAT`` column as 32-bit
(QGIS would show a longitude to about a metre). Text columns are declared ``Text``: GDAL (so
QGIS and geopandas) drops ``VARCHAR`` columns of a GeoPackage written through GeoAlchemy2. A
GeoPackage feature table holds one geometry column, so the label point of an area is kept as
two numbers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Date,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.sqlite import DATETIME as SQLITE_DATETIME
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

from geoalchemy2 import Geometry

from geo.codes import Level
from geo.errors import UnknownLayer

SRID = 4326

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# GeoPackage wants ISO 8601 UTC timestamps, "2026-11-22T14:36:02Z" (GDAL warns on SQLite's
# default form); whole seconds are enough for provenance.
_GPKG_DATETIME = SQLITE_DATETIME(
    storage_format="%(year)04d-%(month)02d-%(day)02dT%(hour)02d:%(minute)02d:%(second)02dZ",
    regexp=r"(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)Z",
)
Timestamp = DateTime().with_variant(_GPKG_DATETIME, "geopackage", "sqlite")


def utcnow() -> dt.datetime:
    """Current time in UTC to the second, naive (both backends store it as given)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


class Base(DeclarativeBase):
    """Declarative base with stable constraint names (Alembic needs them)."""

    metadata = MetaData(naming_convention=NAMING)


class AreaCode(Base):
    """The official Kemendagri code list (names and hierarchy, no geometry).

    Used to name parent areas that a boundary file does not carry and to refuse unknown codes.
    """

    __tablename__ = "area_code"

    code: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    level: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    parent_code: Mapped[str | None] = mapped_column(Text, index=True)
    source: Mapped[str] = mapped_column(Text)


class Tracked:
    """Columns every registry row has: provenance, timestamps and a version counter."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))


class AdminArea(Tracked):
    """Columns shared by the four levels of the administrative hierarchy."""

    level: Level
    parent_table: str | None = None

    code: Mapped[str] = mapped_column(Text)
    """Indexed by ``uq_<area>_code_valid_from`` and ``ix_<area>_current_code``."""
    kind: Mapped[str] = mapped_column(Text)
    parent_code: Mapped[str | None] = mapped_column(Text, index=True)
    area_km2: Mapped[float] = mapped_column(Double)
    label_lon: Mapped[float] = mapped_column(Double)
    label_lat: Mapped[float] = mapped_column(Double)
    source_version: Mapped[str | None] = mapped_column(Text)
    geometry_note: Mapped[str | None] = mapped_column(Text)
    """What validation repaired in this boundary (empty when it was valid as imported)."""
    valid_from: Mapped[dt.date] = mapped_column(Date, default=dt.date(1970, 1, 1))
    valid_to: Mapped[dt.date | None] = mapped_column(Date)

    @declared_attr
    def boundary(cls) -> Mapped[Any]:  # noqa: N805 - SQLAlchemy declared_attr takes the class
        """Boundary, always a MultiPolygon in EPSG:4326 (islands and exclaves keep every part).

        On PostGIS the column is compressed with lz4 (migration 0003), as every geometry column.
        """
        return mapped_column(
            Geometry("MULTIPOLYGON", srid=SRID, spatial_index=True), nullable=False
        )

    @declared_attr
    def parent_id(cls) -> Mapped[int | None]:  # noqa: N805
        """The parent area's row (enforced by a foreign key; ``None`` only for a province)."""
        if cls.parent_table is None:
            return mapped_column(Integer, nullable=True)
        return mapped_column(
            Integer, ForeignKey(f"{cls.parent_table}.id", ondelete="RESTRICT"), index=True
        )

    @declared_attr.directive
    def __table_args__(cls) -> tuple:  # noqa: N805
        return (UniqueConstraint("code", "valid_from"),)

    @classmethod
    def in_force(cls) -> ColumnElement[bool]:
        """The rows in force: each area's current version (``valid_to`` empty)."""
        return cls.valid_to.is_(None)


class Province(AdminArea, Base):
    """Provinsi."""

    __tablename__ = "province"
    level = Level.PROVINCE


class Regency(AdminArea, Base):
    """Kabupaten (regency) or kota (city)."""

    __tablename__ = "regency"
    level = Level.REGENCY
    parent_table = "province"


class District(AdminArea, Base):
    """Kecamatan."""

    __tablename__ = "district"
    level = Level.DISTRICT
    parent_table = "regency"


class Village(AdminArea, Base):
    """Desa (village with its own elected government) or kelurahan (urban ward)."""

    __tablename__ = "village"
    level = Level.VILLAGE
    parent_table = "district"


AREA_MODELS: dict[Level, type[AdminArea]] = {
    Level.PROVINCE: Province,
    Level.REGENCY: Regency,
    Level.DISTRICT: District,
    Level.VILLAGE: Village,
}


ASSET_FILLFACTOR = 80
"""Percent of each heap page PostgreSQL fills on insert in an asset table (migration 0002).

The room left lets :func:`geo.linking.link_assets` rewrite ``village_code`` in place: an
updated row's new version goes on the same page and, while no indexed column changes, the
update is HOT and touches no index (not the GiST on ``geom`` either). A page then holds ~52
tower rows and room for ~12 new versions. Linking 196,091 of 1,000,000 freshly loaded points
(``bench/link_points.py``), the first run's updates were HOT for 189,000-193,000 rows at 80,
195,400 at 75, all at 70 (on a 13% larger table than at 80), 169,000 at 85, 122,000 at 90
and ~1,000 at 100; later runs, on pages vacuumed once, all at 75-80. The price is a 25%
larger table: with the dev server's 128 MB of shared buffers the join read it ~0.3 s slower.
The GeoPackage has no such setting.
"""


class Asset(Tracked):
    """Columns shared by every asset layer.

    ``village_code`` is the link, computed by :func:`geo.linking.link_assets`;
    ``claimed_village_code`` is what the source file said, kept to report disagreements.
    ``source_id`` is the feature's id in its source; with ``source`` it is the upsert key.
    """

    geometry_type: str = "POINT"

    source_id: Mapped[str] = mapped_column(Text)
    village_code: Mapped[str | None] = mapped_column(Text, index=True)
    claimed_village_code: Mapped[str | None] = mapped_column(Text)

    @declared_attr
    def geom(cls) -> Mapped[Any]:  # noqa: N805
        """Location, EPSG:4326."""
        return mapped_column(
            Geometry(cls.geometry_type, srid=SRID, spatial_index=True), nullable=False
        )

    @declared_attr.directive
    def __table_args__(cls) -> tuple:  # noqa: N805
        return (
            UniqueConstraint("source", "source_id"),
            # AUTOINCREMENT: SQLite would give a deleted feature's id to the next one, and an
            # ETag, the audit log or a revert would then name the wrong feature
            {"postgresql_with": {"fillfactor": ASSET_FILLFACTOR}, "sqlite_autoincrement": True},
        )


class Tower(Asset, Base):
    """Mobile base station (BTS)."""

    __tablename__ = "tower"
    operator: Mapped[str | None] = mapped_column(Text)
    technologies: Mapped[str | None] = mapped_column(Text)
    """Comma-separated, ordered: ``2G,4G``."""
    height_m: Mapped[float | None] = mapped_column(Double)
    """Antenna height above ground; the coverage model assumes 30 m where it is unknown."""
    status: Mapped[str | None] = mapped_column(Text)
    """``planned`` or ``on-air``."""
    range_km: Mapped[float | None] = mapped_column(Double)
    """The site's reach, overriding the coverage model's range per technology."""
    azimuth_deg: Mapped[float | None] = mapped_column(Double)
    """A sector antenna's direction, degrees clockwise from north (none: omnidirectional)."""
    beamwidth_deg: Mapped[float | None] = mapped_column(Double)
    """A sector's horizontal beam width in degrees (with ``azimuth_deg``; default 120)."""
    tx_power_dbm: Mapped[float | None] = mapped_column(Double)
    frequency_mhz: Mapped[float | None] = mapped_column(Double)


class FibreRoute(Asset, Base):
    """Fibre-optic (FO) cable route."""

    __tablename__ = "fibre_route"
    geometry_type = "MULTILINESTRING"
    operator: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str | None] = mapped_column(Text)
    commissioned_on: Mapped[dt.date | None] = mapped_column(Date)


class FibreNode(Asset, Base):
    """Fibre node or point of presence (POP, ODC, ODP)."""

    __tablename__ = "fibre_node"
    operator: Mapped[str | None] = mapped_column(Text)
    node_type: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str | None] = mapped_column(Text)


class Hotspot(Asset, Base):
    """Public Wi-Fi hotspot."""

    __tablename__ = "hotspot"
    provider: Mapped[str | None] = mapped_column(Text)
    bandwidth_mbps: Mapped[float | None] = mapped_column(Double)
    status: Mapped[str | None] = mapped_column(Text)


class Destination(Asset, Base):
    """Tourist destination (*one village, one destination*)."""

    __tablename__ = "destination"
    category: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    facilities: Mapped[str | None] = mapped_column(Text)
    opening_hours: Mapped[str | None] = mapped_column(Text)
    ticket_price_idr: Mapped[float | None] = mapped_column(Double)
    contact: Mapped[str | None] = mapped_column(Text)
    photo_links: Mapped[str | None] = mapped_column(Text)


class ProductSite(Asset, Base):
    """One-village-one-product (OVOP) or UMKM product site."""

    __tablename__ = "product_site"
    product: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(Text)
    producer: Mapped[str | None] = mapped_column(Text)
    certifications: Mapped[str | None] = mapped_column(Text)


class Facility(Asset, Base):
    """Public facility: village office, school, health post..."""

    __tablename__ = "facility"
    facility_type: Mapped[str | None] = mapped_column(Text)
    internet_status: Mapped[str | None] = mapped_column(Text)


class SpeedTile(Asset, Base):
    """A speed-test tile: the tests one network type had in one tile in one period.

    The schema of Ookla's open data (*Speedtest by Ookla Global Fixed and Mobile Network
    Performance Maps*): a Web Mercator tile at zoom 16 (``quadkey``, about 610 m across at the
    equator), the average download and upload speed in kbit/s and latency in ms of the tests
    in it, how many tests and devices; one file per quarter (``period_start``) and ``network``
    (``mobile`` or ``fixed``). The upsert key is the source (the file's quarter and network)
    and the quadkey, so quarters are kept side by side. A tile is linked to the village holding
    most of its area. Its square is stored as a one-part MultiPolygon, as every area here.
    """

    __tablename__ = "speed_tile"
    geometry_type = "MULTIPOLYGON"
    quadkey: Mapped[str | None] = mapped_column(Text)
    network: Mapped[str | None] = mapped_column(Text)
    """``mobile`` (tests over a mobile network) or ``fixed`` (Wi-Fi or cable)."""
    period_start: Mapped[dt.date | None] = mapped_column(Date)
    """First day of the quarter the tests were taken in."""
    avg_d_kbps: Mapped[float | None] = mapped_column(Double)
    avg_u_kbps: Mapped[float | None] = mapped_column(Double)
    avg_lat_ms: Mapped[float | None] = mapped_column(Double)
    tests: Mapped[int | None] = mapped_column(Integer)
    devices: Mapped[int | None] = mapped_column(Integer)


class SpeedTest(Asset, Base):
    """One measured speed test or signal reading at a point (a field survey, an app's export).

    ``technology`` is the radio the device was on (``2G``...``5G``), when the export says;
    speeds in kbit/s, latency in ms, ``signal_dbm`` the received signal (RSRP on 4G).
    """

    __tablename__ = "speed_test"
    measured_on: Mapped[dt.date | None] = mapped_column(Date)
    network: Mapped[str | None] = mapped_column(Text)
    technology: Mapped[str | None] = mapped_column(Text)
    operator: Mapped[str | None] = mapped_column(Text)
    download_kbps: Mapped[float | None] = mapped_column(Double)
    upload_kbps: Mapped[float | None] = mapped_column(Double)
    latency_ms: Mapped[float | None] = mapped_column(Double)
    signal_dbm: Mapped[float | None] = mapped_column(Double)


class VillageCensus(Tracked, Base):
    """One village's answers to a village census: BPS PODES, or a survey with its fields.

    Keyed by the Kemendagri code (never the BPS id, whose district and village numbers differ)
    and the survey (``PODES 2024``): a later survey is a new row, so earlier answers stay
    comparable. ``name`` is the village's name as the census writes it. Classes are stored as
    words (:mod:`geo.ingest.census` maps the PODES answer codes); ``None`` where the census has
    no answer. Provenance: ``source`` (the file or organisation), ``survey`` and
    ``survey_year``; every value here is self-reported by the village (method: survey).
    """

    __tablename__ = "village_census"
    village_code: Mapped[str] = mapped_column(Text, index=True)
    survey: Mapped[str] = mapped_column(Text)
    survey_year: Mapped[int | None] = mapped_column(Integer)
    bps_code: Mapped[str | None] = mapped_column(Text)
    """BPS's own village id, kept for reference (never joined on)."""
    signal_strength: Mapped[str | None] = mapped_column(Text)
    """Mobile signal over most of the village: ``very_strong``, ``strong``, ``weak``, ``none``."""
    mobile_internet: Mapped[str | None] = mapped_column(Text)
    """Best mobile internet signal: ``4G`` (PODES: 5G/4G/LTE), ``3G``, ``2G``, ``none``."""
    bts_count: Mapped[int | None] = mapped_column(Integer)
    operator_count: Mapped[int | None] = mapped_column(Integer)
    mobile_phone_use: Mapped[str | None] = mapped_column(Text)
    """Residents using a mobile phone: ``most``, ``few``, ``none``."""
    office_internet: Mapped[str | None] = mapped_column(Text)
    """Internet at the village office, as the census states it (``working`` ... ``none``)."""
    has_flagship_product: Mapped[bool | None] = mapped_column(Boolean)
    flagship_food: Mapped[str | None] = mapped_column(Text)
    flagship_nonfood: Mapped[str | None] = mapped_column(Text)
    flagship_exported: Mapped[str | None] = mapped_column(Text)
    """Whether the flagship product is exported: ``mostly``, ``partly``, ``no``."""
    office_lon: Mapped[float | None] = mapped_column(Double)
    office_lat: Mapped[float | None] = mapped_column(Double)
    """The village office's position as surveyed (EPSG:4326), where the census has it."""

    __table_args__ = (UniqueConstraint("survey", "village_code"),)


class CoverageRun(Base):
    """One run of the coverage analysis: when, with what parameters, from which inputs.

    Results are kept per run (:class:`VillageConnectivity`, :class:`BlankSpot`); queries read
    the latest run unless told otherwise, and two runs can be compared village by village.
    ``parameters`` and ``inputs`` are JSON text (the model's settings; each input's kind, path,
    SHA-256 digest and whether it is a seeded sample).
    """

    __tablename__ = "coverage_run"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=utcnow)
    scope: Mapped[str] = mapped_column(Text)
    """What was analysed: a regency or province code, or ``all``."""
    method: Mapped[str] = mapped_column(Text)
    """How coverage was obtained, e.g. ``gdal-viewshed line of sight``."""
    parameters: Mapped[str] = mapped_column(Text)
    inputs: Mapped[str] = mapped_column(Text)
    sample: Mapped[bool] = mapped_column(Boolean, default=False)
    """Whether any input is a seeded sample (then so are the results)."""
    towers_modelled: Mapped[int] = mapped_column(Integer, default=0)
    coverage_path: Mapped[str | None] = mapped_column(Text)
    """The best-technology GeoTIFF this run wrote."""


class VillageConnectivity(Base):
    """The connectivity register: one village in one run, its class and where it came from.

    ``connectivity_class`` is one of ``fibre``, ``4G``, ``3G only``, ``2G only``,
    ``blank spot``, ``unknown``, reconciled from the survey (``census_class``), the model
    (``model_class``) and the fibre network by the rules of :mod:`geo.coverage.register`;
    ``class_source`` and ``confidence`` say which and how sure, ``disagreement`` says where
    the sources differ. Shares are of the village's modelled area (0-1); populations are
    people, from the population grid.
    """

    __tablename__ = "village_connectivity"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("coverage_run.id", ondelete="CASCADE"), index=True
    )
    village_code: Mapped[str] = mapped_column(Text, index=True)
    connectivity_class: Mapped[str] = mapped_column(Text)
    class_source: Mapped[str] = mapped_column(Text)
    confidence: Mapped[str] = mapped_column(Text)
    disagreement: Mapped[str | None] = mapped_column(Text)
    census_class: Mapped[str | None] = mapped_column(Text)
    model_class: Mapped[str | None] = mapped_column(Text)
    measured_class: Mapped[str | None] = mapped_column(Text)
    """The class the village's speed tests give (:func:`geo.coverage.register.measured_class`)."""
    measured_tests: Mapped[int | None] = mapped_column(Integer)
    measured_download_kbps: Mapped[float | None] = mapped_column(Double)
    """Median download speed of the village's tests, each tile weighted by its tests."""
    measured_period: Mapped[str | None] = mapped_column(Text)
    """The dates the tests read were taken: ``2024-07-01..2024-09-30``."""
    has_fibre: Mapped[bool] = mapped_column(Boolean, default=False)
    covered_area_share: Mapped[float | None] = mapped_column(Double)
    area_share_2g: Mapped[float | None] = mapped_column(Double)
    area_share_3g: Mapped[float | None] = mapped_column(Double)
    area_share_4g: Mapped[float | None] = mapped_column(Double)
    area_share_5g: Mapped[float | None] = mapped_column(Double)
    population: Mapped[float | None] = mapped_column(Double)
    population_uncovered: Mapped[float | None] = mapped_column(Double)
    population_2g: Mapped[float | None] = mapped_column(Double)
    population_3g: Mapped[float | None] = mapped_column(Double)
    population_4g: Mapped[float | None] = mapped_column(Double)
    population_5g: Mapped[float | None] = mapped_column(Double)
    office_source: Mapped[str | None] = mapped_column(Text)
    """Where the village office point came from: ``facility``, ``census`` or ``label point``."""
    office_to_fibre_m: Mapped[float | None] = mapped_column(Double)
    office_to_tower_m: Mapped[float | None] = mapped_column(Double)
    provenance: Mapped[str | None] = mapped_column(Text)
    """Per field, where its value came from, by what method, when and how sure (JSON)."""

    __table_args__ = (UniqueConstraint("run_id", "village_code"),)


class BlankSpot(Base):
    """An area of a village that no modelled signal reaches, from one run."""

    __tablename__ = "blank_spot"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("coverage_run.id", ondelete="CASCADE"), index=True
    )
    village_code: Mapped[str] = mapped_column(Text, index=True)
    area_km2: Mapped[float] = mapped_column(Double)
    population: Mapped[float | None] = mapped_column(Double)
    geom: Mapped[Any] = mapped_column(
        Geometry("MULTIPOLYGON", srid=SRID, spatial_index=True), nullable=False
    )


class ApiKey(Base):
    """A key to the API: its role and, for a regency's staff, the regency it may write in.

    Only the key's SHA-256 digest is kept (a key is 32 random bytes, so a fast digest is as
    good as a slow one); ``prefix`` is its first characters, to tell keys apart in a list.
    A revoked key keeps its row (the audit log refers to it).
    """

    __tablename__ = "api_key"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    prefix: Mapped[str] = mapped_column(Text)
    key_hash: Mapped[str] = mapped_column(Text, unique=True)
    role: Mapped[str] = mapped_column(Text)
    """``public``, ``planner``, ``tourism``, ``economy`` or ``admin`` (:mod:`geo.keys`)."""
    regency_code: Mapped[str | None] = mapped_column(Text)
    label: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)


class AuditEntry(Base):
    """One write through the API: who, when, what, and the feature before and after (JSON)."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(Timestamp, default=utcnow)
    key_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("api_key.id"), index=True)
    role: Mapped[str] = mapped_column(Text)
    collection: Mapped[str] = mapped_column(Text, index=True)
    feature_id: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    """``create``, ``replace``, ``update``, ``delete`` or ``revert``."""
    before: Mapped[str | None] = mapped_column(Text)
    """The feature before the write, as GeoJSON (none for a create)."""
    after: Mapped[str | None] = mapped_column(Text)
    """The feature after the write, as GeoJSON (none for a delete)."""


class LayerChange(Base):
    """A write to a served table: appended by a trigger on every write, by any program.

    The triggers (:mod:`geo.store.backend`) run for this program, QGIS editing the GeoPackage
    or ``psql`` alike, so a cache keyed by a table's latest row here (the vector tiles, the
    counts of a collection) is never stale and costs one indexed read to check. A row is
    appended rather than a counter bumped, so concurrent writers of one table on PostGIS
    wait for each other only as they commit, when a deferred trigger gives the row its final
    id (migration 0010: ids in commit order); ``token`` is random, so a database built again from
    scratch (its ids starting over) never repeats a stamp a running server has seen. The
    GeoPackage keeps only each table's latest row (a trigger deletes the older); on PostGIS
    ``petadesa init`` deletes them.
    """

    __tablename__ = "layer_change"
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite", "geopackage"), primary_key=True
    )
    layer: Mapped[str] = mapped_column(Text)
    token: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("ix_layer_change_layer_id", "layer", "id"),)


@dataclass(frozen=True)
class LayerInfo:
    """What the CLI and importers need to know of an asset layer."""

    name: str
    model: type[Asset]
    title: str
    title_id: str


ASSET_LAYERS: dict[str, LayerInfo] = {
    info.name: info
    for info in (
        LayerInfo("tower", Tower, "BTS towers", "Menara BTS"),
        LayerInfo("fibre_route", FibreRoute, "Fibre routes", "Jalur serat optik"),
        LayerInfo("fibre_node", FibreNode, "Fibre nodes / POPs", "Titik serat optik"),
        LayerInfo("hotspot", Hotspot, "Public hotspots", "Hotspot publik"),
        LayerInfo("destination", Destination, "Tourist destinations", "Destinasi wisata"),
        LayerInfo("product_site", ProductSite, "OVOP / UMKM product sites", "Produk unggulan"),
        LayerInfo("facility", Facility, "Public facilities", "Fasilitas umum"),
    )
}


MEASUREMENT_LAYERS: dict[str, LayerInfo] = {
    info.name: info
    for info in (
        LayerInfo("speed_tile", SpeedTile, "Speed-test tiles", "Petak uji kecepatan"),
        LayerInfo("speed_test", SpeedTest, "Speed tests and signal readings", "Uji kecepatan"),
    )
}
"""Layers of measurements: imported, validated and linked to villages as assets are, but
evidence the coverage register reads rather than things a village owns (they are not drawn on
the registry map or counted with the assets)."""

LINKED_LAYERS: dict[str, LayerInfo] = {**ASSET_LAYERS, **MEASUREMENT_LAYERS}
"""Every layer linked to villages: the asset layers, then the measurement layers."""


def asset_layer(name: str) -> LayerInfo:
    """Look up a linked layer (asset or measurement) by name; :class:`~geo.errors.UnknownLayer`."""
    try:
        return LINKED_LAYERS[name]
    except KeyError:
        known = ", ".join(LINKED_LAYERS)
        raise UnknownLayer(f"unknown layer {name!r}; layers: {known}") from None


# Current-version lookups by code are the hot path of every join.
for _model in AREA_MODELS.values():
    Index(f"ix_{_model.__tablename__}_current_code", _model.code, _model.valid_to)


CHANGE_TRACKED: tuple[str, ...] = (
    *(m.__tablename__ for m in AREA_MODELS.values()),
    *(info.model.__tablename__ for info in LINKED_LAYERS.values()),
    VillageConnectivity.__tablename__,
    BlankSpot.__tablename__,
)
"""The tables whose writes :class:`LayerChange` counts: every table a collection is served from."""
