"""Words on the maps, in Bahasa Indonesia (the default) and English.

Official terms stay Indonesian in both languages (desa, kelurahan, kecamatan, kode wilayah):
they are what the users write in their own documents. Layer titles come from
:data:`geo.store.models.ASSET_LAYERS` (``title_id`` / ``title``) so a layer has one name everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping

from geo.store.models import ASSET_LAYERS

LANGUAGES = ("id", "en")

_STRINGS: dict[str, dict[str, str]] = {
    "id": {
        "villages": "Desa/kelurahan",
        "district": "Kecamatan",
        "district_short": "Kec.",
        "code": "Kode wilayah",
        "kind": "Jenis",
        "area": "Luas",
        "boundary_source": "Sumber batas",
        "assets": "Aset tercatat",
        "village": "Desa/kelurahan",
        "layer": "Lapisan",
        "source": "Sumber",
        "sample": "sampel",
        "sample_note": "Fitur bertanda \u201csampel\u201d adalah data contoh, bukan data nyata.",
        "legend_fill": "Desa/kelurahan dengan BTS, destinasi wisata, produk unggulan",
        "present_0": "tidak ada satu pun",
        "present_1": "satu dari tiga",
        "present_2": "dua dari tiga",
        "present_3": "ketiganya",
        "legend_layers": "Aset",
        "unlinked": "di luar desa/kelurahan mana pun",
        "none": "tidak ada",
        "links": "Tautan",
    },
    "en": {
        "villages": "Villages (desa/kelurahan)",
        "district": "Kecamatan (district)",
        "district_short": "Kec.",
        "code": "Kode wilayah (code)",
        "kind": "Kind",
        "area": "Area",
        "boundary_source": "Boundary source",
        "assets": "Registered assets",
        "village": "Village",
        "layer": "Layer",
        "source": "Source",
        "sample": "sample",
        "sample_note": "Features marked \u201csample\u201d are made-up demo data, not real data.",
        "legend_fill": "Villages with a BTS tower, a destination, a flagship product",
        "present_0": "none of them",
        "present_1": "one of three",
        "present_2": "two of three",
        "present_3": "all three",
        "legend_layers": "Assets",
        "unlinked": "outside every village",
        "none": "none",
        "links": "Links",
    },
}

_FIELDS: dict[str, dict[str, str]] = {
    "id": {
        "operator": "Operator",
        "technologies": "Teknologi",
        "height_m": "Tinggi (m)",
        "status": "Status",
        "commissioned_on": "Beroperasi sejak",
        "node_type": "Jenis titik",
        "provider": "Penyedia",
        "bandwidth_mbps": "Bandwidth (Mbps)",
        "category": "Kategori",
        "description": "Deskripsi",
        "facilities": "Fasilitas",
        "opening_hours": "Jam buka",
        "ticket_price_idr": "Tiket (Rp)",
        "contact": "Kontak",
        "photo_links": "Foto",
        "product": "Produk",
        "producer": "Produsen",
        "certifications": "Sertifikasi",
        "facility_type": "Jenis fasilitas",
        "internet_status": "Internet",
    },
    "en": {
        "operator": "Operator",
        "technologies": "Technologies",
        "height_m": "Height (m)",
        "status": "Status",
        "commissioned_on": "In service since",
        "node_type": "Node type",
        "provider": "Provider",
        "bandwidth_mbps": "Bandwidth (Mbps)",
        "category": "Category",
        "description": "Description",
        "facilities": "Facilities",
        "opening_hours": "Opening hours",
        "ticket_price_idr": "Ticket (IDR)",
        "contact": "Contact",
        "photo_links": "Photos",
        "product": "Product",
        "producer": "Producer",
        "certifications": "Certifications",
        "facility_type": "Facility type",
        "internet_status": "Internet",
    },
}


def check_language(lang: str) -> str:
    """Return ``lang`` if the maps speak it, else raise ``ValueError`` naming the choices."""
    if lang not in LANGUAGES:
        raise ValueError(f"unknown map language {lang!r}; choose one of {', '.join(LANGUAGES)}")
    return lang


def strings(lang: str) -> Mapping[str, str]:
    """Return the map's words in ``lang`` (``id`` or ``en``)."""
    return _STRINGS[check_language(lang)]


def field_labels(lang: str) -> Mapping[str, str]:
    """Return the labels of asset attribute columns in ``lang``."""
    return _FIELDS[check_language(lang)]


def layer_title(layer: str, lang: str) -> str:
    """Return the title of an asset layer in ``lang`` (from the registry's layer list)."""
    info = ASSET_LAYERS[layer]
    return info.title_id if check_language(lang) == "id" else info.title
