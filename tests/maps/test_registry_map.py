"""The registry map of Kab. Malang, opened in a real headless Chromium on a closed network.

Every request the page makes is routed: file: and data: go through, anything else is aborted
and recorded, and the list must stay empty. The map must draw one path per village of the
registry, show its legend and layer control, and open a village's popup on a click; the inline
file must work with no assets folder at all.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import folium
import pytest
from folium.plugins import Fullscreen, MarkerCluster

from geo import queries
from geo.demo import build_demo_registry
from geo.store.db import transaction
from geo.store.models import ASSET_LAYERS
from maps import MapAssetsMissing, UnknownMapAsset, registry_map, save_map
from maps.assets import ASSETS_DIRNAME, CDN_ASSETS, REPO_ROOT, npm_packages, offline_map
from maps.registry import VILLAGE_CLASS, FeatureTexts, asset_popup, village_popup

MALANG = "35.07"
MALANG_VILLAGES = 390

DRAWN_VILLAGES = """cls => [...document.querySelectorAll("path." + cls)]
    .filter(path => { const d = path.getAttribute("d"); return d && d !== "M0 0"; }).length"""
POINT_ON_SCREEN = """([name, lat, lon]) => {
    const map = window[name];
    const box = map.getContainer().getBoundingClientRect();
    const point = map.latLngToContainerPoint([lat, lon]);
    const x = box.left + point.x, y = box.top + point.y;
    const hit = document.elementFromPoint(x, y);
    return {x, y, hit: hit ? hit.getAttribute("class") : null};
}"""


@dataclass
class OfflinePage:
    """A page opened with every request routed; what it tried and what went wrong."""

    page: Any
    off_machine: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def open_offline(chromium: Any, html: Path) -> OfflinePage:
    page = chromium.new_page()
    run = OfflinePage(page)

    def route(route: Any) -> None:
        url = route.request.url
        if url.startswith(("file:", "data:")):
            route.continue_()
        else:
            run.off_machine.append(url)
            route.abort()

    page.route("**/*", route)
    page.on("pageerror", lambda exc: run.errors.append(f"page error: {exc}"))
    page.on(
        "console",
        lambda msg: (
            run.errors.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None
        ),
    )
    page.on("requestfailed", lambda req: run.errors.append(f"failed: {req.url} {req.failure}"))
    page.goto(html.as_uri(), wait_until="load")
    page.wait_for_function(f"document.querySelectorAll('path.{VILLAGE_CLASS}').length > 0")
    page.evaluate("document.fonts.ready")
    return run


def hide_asset_layers(page: Any) -> None:
    """Untick every asset layer in the layer control, as a user would, to reach a village."""
    boxes = page.locator(".leaflet-control-layers-overlays input[type=checkbox]")
    for index in range(1, boxes.count()):
        boxes.nth(index).click()


def click_village(page: Any, map_name: str, village: Any) -> str:
    """Click a village at its label point; return the text of the popup that opens."""
    spot = page.evaluate(POINT_ON_SCREEN, [map_name, village.label_lat, village.label_lon])
    assert spot["hit"] and VILLAGE_CLASS in spot["hit"], f"no village drawn at {spot}"
    page.mouse.click(spot["x"], spot["y"])
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for(state="visible")
    return popup.inner_text()


def screenshot(run: OfflinePage, path: Path, keep_artifact: Any) -> None:
    run.page.wait_for_function("document.getAnimations().every(a => a.playState !== 'running')")
    run.page.screenshot(path=str(path))
    keep_artifact(path)


def check_offline_map(run: OfflinePage, expected_villages: int) -> None:
    page = run.page
    assert run.off_machine == []
    assert run.errors == []
    assert page.evaluate(DRAWN_VILLAGES, VILLAGE_CLASS) == expected_villages
    assert page.locator(".leaflet-control-layers").is_visible()
    overlays = page.locator(".leaflet-control-layers-overlays label")
    assert overlays.count() == 1 + len(ASSET_LAYERS)
    assert page.locator(".petadesa-legend").is_visible()


@pytest.fixture
def malang(engine, shared_data):
    """The Kab. Malang registry (real boundaries, real and sample assets) on the backend."""
    build_demo_registry(engine, data_dir=shared_data)
    with transaction(engine) as session:
        villages = queries.villages(session, regency=MALANG)
    assert len(villages) == MALANG_VILLAGES
    return SimpleNamespace(
        engine=engine, villages=villages, known=villages.loc[villages["area_km2"].idxmax()]
    )


def test_registry_map_works_offline_linked_and_inline(
    malang, chromium, tmp_path, keep_artifact, backend
):
    with transaction(malang.engine) as session:
        fmap = registry_map(session, regency=MALANG)
    linked = save_map(fmap, tmp_path / "linked" / "peta-desa.html")
    inline_dir = tmp_path / "inline"
    inline_dir.mkdir()
    inline = save_map(fmap, inline_dir / "peta-desa.html", inline=True)
    assert list(inline_dir.iterdir()) == [inline]
    assert (linked.parent / ASSETS_DIRNAME / "leaflet" / "dist" / "leaflet.js").is_file()

    for mode, html in (("linked", linked), ("inline", inline)):
        run = open_offline(chromium, html)
        check_offline_map(run, len(malang.villages))
        legend = run.page.locator(".petadesa-legend").inner_text()
        assert "ketiganya" in legend and "sampel" in legend
        screenshot(run, tmp_path / f"registry-map-{backend}-{mode}.png", keep_artifact)
        hide_asset_layers(run.page)
        text = click_village(run.page, fmap.get_name(), malang.known)
        assert malang.known["name"] in text and malang.known["code"] in text
        assert "Kode wilayah" in text
        run.page.close()


def test_registry_map_in_english(malang, chromium, tmp_path, keep_artifact, backend):
    with transaction(malang.engine) as session:
        fmap = registry_map(session, regency=MALANG, lang="en")
    html = save_map(fmap, tmp_path / "registry-en.html", inline=True)
    shutil.rmtree(tmp_path / ASSETS_DIRNAME, ignore_errors=True)

    run = open_offline(chromium, html)
    check_offline_map(run, len(malang.villages))
    legend = run.page.locator(".petadesa-legend").inner_text()
    assert "all three" in legend and "sample" in legend and "ketiganya" not in legend
    screenshot(run, tmp_path / f"registry-map-{backend}-en.png", keep_artifact)
    hide_asset_layers(run.page)
    text = click_village(run.page, fmap.get_name(), malang.known)
    assert malang.known["name"] in text and "Registered assets" in text
    run.page.close()


def test_district_map_holds_only_its_villages(malang):
    district = malang.known["district_code"]
    with transaction(malang.engine) as session:
        fmap = registry_map(session, regency=MALANG, district=district)
        expected = len(queries.villages(session, regency=MALANG, district=district))
    layers = [
        element
        for element in walk(fmap)
        if getattr(element, "options", {}).get("class_name") == VILLAGE_CLASS
    ]
    assert len(layers) == 1
    codes = [feature["id"] for feature in layers[0].data["features"]]
    assert len(codes) == expected and all(code.startswith(district + ".") for code in codes)


def walk(element: Any) -> Any:
    yield element
    for child in element._children.values():
        yield from walk(child)


# --------------------------------------------------------------------------------------------
# Assets and templates (no database, no browser)
# --------------------------------------------------------------------------------------------


def test_package_json_pins_the_versions_folium_uses():
    declared = json.loads((REPO_ROOT / "package.json").read_text())["dependencies"]
    wanted = {
        package: (f"npm:bootstrap@{version}" if package == "bootstrap3" else version)
        for package, version in npm_packages().items()
    }
    assert {name: declared[name] for name in wanted} == wanted
    lock = json.loads((REPO_ROOT / "package-lock.json").read_text())["packages"]
    assert {name: lock[f"node_modules/{name}"]["version"] for name in wanted} == npm_packages()


def test_every_cdn_url_of_folium_and_its_used_plugins_has_a_local_copy():
    for element in (folium.Map, MarkerCluster):
        for _name, url in [*element.default_js, *element.default_css]:
            assert url in CDN_ASSETS, url


def test_missing_node_modules_names_the_package_and_the_command(tmp_path):
    fmap = offline_map((112.0, -8.5, 113.0, -7.5))
    with pytest.raises(MapAssetsMissing, match=r"leaflet@1\.9\.3.*npm ci --ignore-scripts"):
        save_map(fmap, tmp_path / "map.html", node_modules=tmp_path / "node_modules")


def test_a_cdn_url_without_a_local_copy_is_refused(tmp_path):
    fmap = offline_map((112.0, -8.5, 113.0, -7.5))
    Fullscreen().add_to(fmap)
    with pytest.raises(UnknownMapAsset, match="Fullscreen|fullscreen"):
        save_map(fmap, tmp_path / "map.html")


def test_osm_basemap_is_opt_in():
    bounds = (112.0, -8.5, 113.0, -7.5)
    assert "tile.openstreetmap.org" not in offline_map(bounds).get_root().render()
    assert "tile.openstreetmap.org" in offline_map(bounds, basemap=True).get_root().render()


def destination(**overrides: Any) -> SimpleNamespace:
    row = dict(
        name="Coban <b>Rondo</b>",
        source_id="d-1",
        source="sample",
        village_code="35.07.01.2001",
        category="air terjun",
        description='<img src=x onerror="alert(1)">',
        facilities=None,
        opening_hours=float("nan"),
        ticket_price_idr=15000.0,
        contact="",
        photo_links="javascript:alert(1) https://example.org/a.jpg",
    )
    row.update(overrides)
    return SimpleNamespace(**row)


def test_asset_popup_escapes_imported_text_and_marks_samples():
    html = asset_popup("destination", destination(), "id", {"35.07.01.2001": "Tulungrejo"})
    assert "<img" not in html and "<b>Rondo" not in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in html
    assert "javascript:" not in html
    assert html.count("<a href=") == 1 and 'href="https://example.org/a.jpg"' in html
    assert '<span class="pd-sample">sampel</span>' in html
    assert "15.000" in html and "Tulungrejo (35.07.01.2001)" in html
    english = asset_popup("destination", destination(source="upstream"), "en", {})
    assert "pd-sample" not in english and "15,000" in english and "Ticket (IDR)" in english


def test_village_popup_lists_every_layer_count():
    row = SimpleNamespace(
        name="Ngadas",
        kind="desa",
        code="35.07.07.2017",
        district="Poncokusumo",
        area_km2=148.79,
        source="cahyadsn/wilayah_boundaries",
        **{layer: n for n, layer in enumerate(ASSET_LAYERS)},
    )
    html = village_popup(row, "id")
    for n, layer in enumerate(ASSET_LAYERS):
        assert f"<th>{ASSET_LAYERS[layer].title_id}</th><td>{n}</td>" in html
    assert "148.79 km&sup2;" in html and "pd-sample" not in html


def test_feature_texts_cannot_close_their_script():
    texts = FeatureTexts({"x": ("</script><script>alert(1)</script>", "<!-- <script>")})
    assert "</" not in texts.data and "<!--" not in texts.data
    assert json.loads(texts.data) == {"x": ["</script><script>alert(1)</script>", "<!-- <script>"]}
