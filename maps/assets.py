"""Folium maps that work with no internet: every JS/CSS asset from local npm copies.

Stock folium links Leaflet, jQuery, Bootstrap, Font Awesome, awesome-markers and its plugins'
scripts from CDNs; offline the page is blank. The repository's ``package.json`` (with its lock
file) declares each of them at the version folium pins, and the setup step installs them into
``node_modules`` with ``npm ci``. This module maps every CDN URL folium uses to a local file
(:data:`CDN_ASSETS`) and writes a map in one of two forms:

- **linked** (:func:`save_map`): the HTML references ``assets/...`` beside it and the needed
  files (with the fonts and images their CSS uses) are copied there. It works opened from disk
  and served over HTTP; the API serves the same tree (:func:`write_assets`, or
  :func:`render_html` with its own ``asset_base``);
- **inline** (``inline=True``): one self-contained HTML file, every script and stylesheet
  inlined and every font or image a stylesheet uses as a ``data:`` URI.

A CDN URL with no local copy is an error (:class:`UnknownMapAsset`), never a silent link: no
map Petadesa writes references a CDN. Missing ``node_modules`` is a
:class:`MapAssetsMissing` that names the package and the command to run.

Two assets are not npm files: folium's ``leaflet.awesome.rotate.css`` lives only in folium's
git repository (generated here, 360 one-line rules), and the glyphicons stylesheet of
Bootstrap 3.0's CDN is the glyphicons section of Bootstrap 3.4.1's ``bootstrap.css``. Font
Awesome's ``all.min.css`` becomes ``fontawesome + brands + regular + solid`` (the same icons;
without the v4/v5 compatibility font families, which only repeat the same font files), and
font sources keep their WOFF2 form only (every browser in use reads it).
"""

from __future__ import annotations

import base64
import json
import mimetypes
import posixpath
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import folium
from branca.element import Element, Figure
from folium.elements import JSCSSMixin
from pydantic_settings import BaseSettings, SettingsConfigDict

from geo.errors import ConfigurationError

REPO_ROOT = Path(__file__).resolve().parents[1]
INSTALL_COMMAND = "npm ci --ignore-scripts --no-audit --no-fund"
ASSETS_DIRNAME = "assets"
DEFAULT_MAX_ZOOM = 18
OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
OSM_ATTRIBUTION = '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a>'

_SENTINEL = "petadesa-asset:"
_SCRIPT_TAG = re.compile(r'<script src="petadesa-asset:([^"]+)"></script>')
_LINK_TAG = re.compile(r'<link rel="stylesheet" href="petadesa-asset:([^"]+)"/>')
_REMOTE_TAG = re.compile(r"<(?:script|link)\b[^>]*\b(?:src|href)=\"(?:https?:)?//[^\"]*\"", re.I)
_CSS_URL = re.compile(r"""url\(\s*(['"]?)([^'")]+)\1\s*\)""")
_FONT_FACE = re.compile(r"@font-face\s*\{[^}]*\}")
_FONT_SRC = re.compile(r"src\s*:\s*([^;}]*)(;?)")
_SOURCE_MAP = re.compile(r"^\s*(?://# sourceMappingURL=.*|/\*# sourceMappingURL=.*\*/)\s*$", re.M)


class MapAssetsMissing(ConfigurationError):
    """The local JS/CSS copies a map needs are not installed (``node_modules``)."""

    code = "map_assets_missing"


class UnknownMapAsset(ConfigurationError):
    """A map element links a CDN URL that has no declared local copy."""

    code = "unknown_map_asset"


class MapAssetSettings(BaseSettings):
    """Where the npm-installed map assets are (``PETADESA_MAP_NODE_MODULES``)."""

    model_config = SettingsConfigDict(env_prefix="PETADESA_MAP_", env_file=".env", extra="ignore")

    node_modules: Path = REPO_ROOT / "node_modules"


# --------------------------------------------------------------------------------------------
# What each CDN URL becomes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NpmFile:
    """A file of an npm package as installed in ``node_modules/<package>/<path>``."""

    package: str
    """Folder under node_modules (``bootstrap3`` is the alias of ``bootstrap@3.4.1``)."""
    version: str
    path: str

    @property
    def key(self) -> str:
        """Its path under ``node_modules`` (and under the assets folder)."""
        return f"{self.package}/{self.path}"


@dataclass(frozen=True)
class LocalAsset:
    """The local stand-in for one CDN script or stylesheet.

    ``key`` is where it sits under the assets folder; it mirrors ``node_modules`` so that the
    relative ``url()`` references of a stylesheet resolve to the package's own fonts and images.
    """

    key: str
    kind: Literal["js", "css"]
    sources: tuple[NpmFile, ...] = ()
    build: Callable[[Path], str] | None = field(default=None, compare=False)
    """Makes the text from node_modules; ``None`` concatenates ``sources``."""

    def text(self, node_modules: Path) -> str:
        """Build the asset's text, cleaned (no source-map comments, WOFF2-only fonts)."""
        if self.build is not None:
            raw = self.build(node_modules)
        else:
            raw = "\n".join(_read(node_modules, source) for source in self.sources)
        raw = _SOURCE_MAP.sub("", raw)
        return _prefer_woff2(raw) if self.kind == "css" else raw


def _read(node_modules: Path, source: NpmFile) -> str:
    return (node_modules / source.key).read_text(encoding="utf-8")


def _npm(kind: Literal["js", "css"], package: str, version: str, path: str) -> LocalAsset:
    source = NpmFile(package, version, path)
    return LocalAsset(source.key, kind, (source,))


_FONTAWESOME = "@fortawesome/fontawesome-free"
_FA_VERSION = "6.2.0"
_FA_PARTS = tuple(
    NpmFile(_FONTAWESOME, _FA_VERSION, f"css/{name}.min.css")
    for name in ("fontawesome", "brands", "regular", "solid")
)
_BOOTSTRAP3_CSS = NpmFile("bootstrap3", "3.4.1", "dist/css/bootstrap.css")


def _glyphicons(node_modules: Path) -> str:
    """Cut the glyphicons section (@font-face and icon rules) out of Bootstrap 3's CSS."""
    css = _read(node_modules, _BOOTSTRAP3_CSS)
    start = css.find('@font-face {\n  font-family: "Glyphicons Halflings"')
    selector = r"\.glyphicon[\w:-]*"
    rule = re.compile(rf"\s*(?:{selector}\s*,\s*)*{selector}\s*\{{[^}}]*\}}")
    end = css.find("}", start) + 1
    while start >= 0 and (match := rule.match(css, end)):
        end = match.end()
    if start < 0 or end - start < 1000:
        raise MapAssetsMissing(
            f"no glyphicons section in {node_modules / _BOOTSTRAP3_CSS.key}; "
            f"reinstall the map assets: {INSTALL_COMMAND}"
        )
    return css[start:end] + "\n"


def _awesome_rotate(_node_modules: Path) -> str:
    """Generate folium's ``leaflet.awesome.rotate.css``: ``.fa-rotate-N``, N in 0..359 deg."""
    return "".join(f".fa-rotate-{n}{{transform:rotate({n}deg)}}" for n in range(360)) + "\n"


_CDNJS = "https://cdnjs.cloudflare.com/ajax/libs"
_JSDELIVR = "https://cdn.jsdelivr.net"
_FOLIUM_GH = f"{_JSDELIVR}/gh/python-visualization/folium/folium/templates"

CDN_ASSETS: dict[str, LocalAsset] = {
    # folium.Map (folium/folium.py: _default_js, _default_css)
    f"{_JSDELIVR}/npm/leaflet@1.9.3/dist/leaflet.js": _npm(
        "js", "leaflet", "1.9.3", "dist/leaflet.js"
    ),
    "https://code.jquery.com/jquery-3.7.1.min.js": _npm(
        "js", "jquery", "3.7.1", "dist/jquery.min.js"
    ),
    f"{_JSDELIVR}/npm/bootstrap@5.2.2/dist/js/bootstrap.bundle.min.js": _npm(
        "js", "bootstrap", "5.2.2", "dist/js/bootstrap.bundle.min.js"
    ),
    f"{_CDNJS}/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.js": _npm(
        "js", "drmonty-leaflet-awesome-markers", "2.0.2", "js/leaflet.awesome-markers.js"
    ),
    f"{_JSDELIVR}/npm/leaflet@1.9.3/dist/leaflet.css": _npm(
        "css", "leaflet", "1.9.3", "dist/leaflet.css"
    ),
    f"{_JSDELIVR}/npm/bootstrap@5.2.2/dist/css/bootstrap.min.css": _npm(
        "css", "bootstrap", "5.2.2", "dist/css/bootstrap.min.css"
    ),
    "https://netdna.bootstrapcdn.com/bootstrap/3.0.0/css/bootstrap-glyphicons.css": LocalAsset(
        "bootstrap3/dist/css/glyphicons.css", "css", (_BOOTSTRAP3_CSS,), _glyphicons
    ),
    f"{_JSDELIVR}/npm/@fortawesome/fontawesome-free@6.2.0/css/all.min.css": LocalAsset(
        f"{_FONTAWESOME}/css/petadesa-all.min.css", "css", _FA_PARTS
    ),
    f"{_CDNJS}/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.css": _npm(
        "css", "drmonty-leaflet-awesome-markers", "2.0.2", "css/leaflet.awesome-markers.css"
    ),
    f"{_FOLIUM_GH}/leaflet.awesome.rotate.min.css": LocalAsset(
        "folium/leaflet.awesome.rotate.min.css", "css", (), _awesome_rotate
    ),
    # folium.plugins.MarkerCluster
    f"{_CDNJS}/leaflet.markercluster/1.1.0/leaflet.markercluster.js": _npm(
        "js", "leaflet.markercluster", "1.1.0", "dist/leaflet.markercluster.js"
    ),
    f"{_CDNJS}/leaflet.markercluster/1.1.0/MarkerCluster.css": _npm(
        "css", "leaflet.markercluster", "1.1.0", "dist/MarkerCluster.css"
    ),
    f"{_CDNJS}/leaflet.markercluster/1.1.0/MarkerCluster.Default.css": _npm(
        "css", "leaflet.markercluster", "1.1.0", "dist/MarkerCluster.Default.css"
    ),
}
"""Every CDN URL a Petadesa map may use, by folium's exact URL. A plugin joins by adding its
URLs here and its package to ``package.json`` (at the version folium pins)."""

_BY_KEY = {asset.key: asset for asset in CDN_ASSETS.values()}


def npm_packages() -> dict[str, str]:
    """``{folder under node_modules: version}`` of every npm file the assets come from."""
    return {
        source.package: source.version for asset in CDN_ASSETS.values() for source in asset.sources
    }


# --------------------------------------------------------------------------------------------
# Maps
# --------------------------------------------------------------------------------------------


def offline_map(
    bounds: tuple[float, float, float, float],
    *,
    basemap: bool = False,
    max_zoom: int = DEFAULT_MAX_ZOOM,
    **options: Any,
) -> folium.Map:
    """Create a ``folium.Map`` fitted to ``bounds`` (min_lon, min_lat, max_lon, max_lat).

    Offline, boundaries give the context; ``basemap=True`` adds OpenStreetMap tiles (fetched
    from the network when the map is viewed: opt in only where there is one). ``maxZoom`` is
    set on the map itself, which MarkerCluster needs when there is no tile layer; quarter
    zoom steps let the map fit its bounds closely.
    """
    min_lon, min_lat, max_lon, max_lat = bounds
    fmap = folium.Map(
        location=[(min_lat + max_lat) / 2, (min_lon + max_lon) / 2],
        tiles=None,
        control_scale=True,
        maxZoom=max_zoom,
        minZoom=0,
        zoomSnap=0.25,
        **options,
    )
    if basemap:
        folium.TileLayer(
            OSM_TILES, attr=OSM_ATTRIBUTION, name="OpenStreetMap", max_zoom=max_zoom
        ).add_to(fmap)
    fmap.fit_bounds([[min_lat, min_lon], [max_lat, max_lon]])
    return fmap


def save_map(
    fmap: folium.Map, path: Path | str, *, inline: bool = False, node_modules: Path | None = None
) -> Path:
    """Write ``fmap`` to ``path``; linked to ``assets/`` beside it, or self-contained.

    Linked (the default) copies the assets the map needs into ``<folder of path>/assets``.
    Returns the path written. Raises :class:`MapAssetsMissing` or :class:`UnknownMapAsset`.
    """
    path = Path(path)
    root = _node_modules(node_modules)
    html = render_html(fmap, inline=inline, asset_base=ASSETS_DIRNAME, node_modules=root)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not inline:
        write_assets(path.parent / ASSETS_DIRNAME, used_assets(html, ASSETS_DIRNAME), root)
    path.write_text(html, encoding="utf-8")
    return path


def render_html(
    fmap: folium.Map,
    *,
    inline: bool = False,
    asset_base: str = ASSETS_DIRNAME,
    node_modules: Path | None = None,
) -> str:
    """Render the map's HTML with local assets, inlined or linked under ``asset_base``.

    ``asset_base`` is a folder relative to the page (``assets``) or an absolute URL path for a
    server (``/maps/assets``, serving :func:`write_assets`' tree).
    """
    root = _node_modules(node_modules)
    localise(fmap)
    html = fmap.get_root().render()
    keys = _SCRIPT_TAG.findall(html) + _LINK_TAG.findall(html)
    check_installed([_BY_KEY[key] for key in keys], root)
    if inline:
        html = _SCRIPT_TAG.sub(lambda m: _inline_script(_BY_KEY[m[1]], root), html)
        html = _LINK_TAG.sub(lambda m: _inline_style(_BY_KEY[m[1]], root), html)
    else:
        base = asset_base.rstrip("/")
        html = _SCRIPT_TAG.sub(lambda m: f'<script src="{base}/{m[1]}"></script>', html)
        html = _LINK_TAG.sub(lambda m: f'<link rel="stylesheet" href="{base}/{m[1]}"/>', html)
    _refuse_remote_links(html)
    return html


def localise(fmap: folium.Map) -> None:
    """Point every folium element's CDN links at local assets (idempotent).

    Raises :class:`UnknownMapAsset` for a URL with no declared local copy.
    """
    for element in _walk(fmap.get_root()):
        if isinstance(element, JSCSSMixin):
            element.default_js = [(name, _sentinel(url)) for name, url in element.default_js]
            element.default_css = [(name, _sentinel(url)) for name, url in element.default_css]


def used_assets(html: str, asset_base: str = ASSETS_DIRNAME) -> list[LocalAsset]:
    """List the local assets a linked HTML page (from :func:`render_html`) references."""
    prefix = re.escape(asset_base.rstrip("/") + "/")
    found = re.findall(rf'<(?:script src|link rel="stylesheet" href)="{prefix}([^"]+)"', html)
    return [_BY_KEY[key] for key in found if key in _BY_KEY]


def write_assets(
    directory: Path, assets: list[LocalAsset] | None = None, node_modules: Path | None = None
) -> list[Path]:
    """Write ``assets`` and the fonts and images their stylesheets use into ``directory``.

    ``assets`` defaults to all of :data:`CDN_ASSETS`; the layout is node_modules' own, so the
    stylesheets' relative ``url()`` references hold. Returns the files written.
    """
    root = _node_modules(node_modules)
    chosen = list(CDN_ASSETS.values()) if assets is None else assets
    check_installed(chosen, root)
    written = []
    for asset in chosen:
        text = asset.text(root)
        written.append(_write_text(directory / asset.key, text))
        if asset.kind == "css":
            for key in _css_dependencies(asset.key, text):
                written.append(_copy(root / key, directory / key))
    return written


def check_installed(assets: list[LocalAsset], node_modules: Path | None = None) -> None:
    """Raise :class:`MapAssetsMissing` unless every npm file of ``assets`` is installed.

    The message names every missing package and the command to run; a package installed at
    another version than the pinned one is refused too.
    """
    root = _node_modules(node_modules)
    sources = list(dict.fromkeys(source for asset in assets for source in asset.sources))
    missing = [
        f"{source.package}@{source.version}"
        for source in sources
        if _installed_version(root, source) is None
    ]
    if missing:
        where = root if root.is_dir() else f"{root} (absent)"
        raise MapAssetsMissing(
            f"map assets not installed in {where}: {', '.join(dict.fromkeys(missing))}. "
            f"Install them with `{INSTALL_COMMAND}` in {REPO_ROOT} (scripts/bootstrap.sh does "
            "it), or point PETADESA_MAP_NODE_MODULES at an installed node_modules."
        )
    for source in sources:
        installed = _installed_version(root, source)
        if installed != source.version:
            raise MapAssetsMissing(
                f"map asset {source.package} is {installed} in {root}, folium needs "
                f"{source.version}. Reinstall the map assets with `{INSTALL_COMMAND}` "
                f"in {REPO_ROOT}."
            )


def _installed_version(root: Path, source: NpmFile) -> str | None:
    manifest = root / source.package / "package.json"
    if not (root / source.key).is_file() or not manifest.is_file():
        return None
    return json.loads(manifest.read_text(encoding="utf-8")).get("version", "")


# --------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------


def _node_modules(node_modules: Path | None) -> Path:
    return node_modules if node_modules is not None else MapAssetSettings().node_modules


def _walk(element: Element) -> Iterator[Element]:
    yield element
    if isinstance(element, Figure):
        for part in (element.header, element.html, element.script):
            yield from _walk(part)
    for child in element._children.values():
        yield from _walk(child)


def _sentinel(url: str) -> str:
    if url.startswith(_SENTINEL):
        return url
    asset = CDN_ASSETS.get(url)
    if asset is None:
        raise UnknownMapAsset(
            f"a map element links {url}, which has no local copy: add its npm package to "
            "package.json (at the version folium pins) and the URL to maps.assets.CDN_ASSETS"
        )
    return _SENTINEL + asset.key


def _inline_script(asset: LocalAsset, root: Path) -> str:
    text = re.sub(r"</(script)", r"<\\/\1", asset.text(root), flags=re.I)
    return f"<script>/* {asset.key} */\n{text}\n</script>"


def _inline_style(asset: LocalAsset, root: Path) -> str:
    text = _CSS_URL.sub(lambda m: _data_url(m, asset.key, root), asset.text(root))
    text = re.sub(r"</(style)", r"<\\/\1", text, flags=re.I)
    return f"<style>/* {asset.key} */\n{text}\n</style>"


def _data_url(match: re.Match[str], css_key: str, root: Path) -> str:
    key = _resolve(css_key, match[2])
    if key is None:
        return match[0]
    mime = _MIME.get(Path(key).suffix) or mimetypes.guess_type(key)[0] or "application/octet-stream"
    data = base64.b64encode((root / key).read_bytes()).decode("ascii")
    return f'url("data:{mime};base64,{data}")'


_MIME = {
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".ttf": "font/ttf",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".gif": "image/gif",
    ".eot": "application/vnd.ms-fontobject",
}


def _resolve(css_key: str, ref: str) -> str | None:
    """Resolve a stylesheet's relative ``url()`` to a node_modules key (``None``: data:, #)."""
    if ref.startswith(("data:", "#", "about:")):
        return None
    if re.match(r"^(?:[a-z][a-z0-9+.-]*:|//)", ref, re.I):
        raise UnknownMapAsset(f"stylesheet {css_key} references the remote {ref}")
    path = re.split(r"[?#]", ref, maxsplit=1)[0]
    key = posixpath.normpath(posixpath.join(posixpath.dirname(css_key), path))
    if key.startswith("../") or key.startswith("/"):
        raise UnknownMapAsset(f"stylesheet {css_key} references {ref}, outside its package")
    return key


def _css_dependencies(css_key: str, text: str) -> list[str]:
    keys = (_resolve(css_key, match[2]) for match in _CSS_URL.finditer(text))
    return sorted({key for key in keys if key is not None})


def _prefer_woff2(css: str) -> str:
    """Keep only the WOFF2 sources of each @font-face that has one (drops eot/woff/ttf/svg)."""
    return _FONT_FACE.sub(lambda m: _woff2_only(m[0]), css)


def _woff2_only(rule: str) -> str:
    if "woff2" not in rule or "data:" in rule:
        return rule

    def keep(match: re.Match[str]) -> str:
        items = re.split(r",\s*(?=url\()", match[1].strip())
        woff2 = [item for item in items if "woff2" in item]
        return f"src:{','.join(woff2)}{match[2]}" if woff2 else ""

    return _FONT_SRC.sub(keep, rule)


def _write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _copy(source: Path, target: Path) -> Path:
    if not source.is_file():
        raise MapAssetsMissing(f"{source} is missing; reinstall the map assets: {INSTALL_COMMAND}")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target


def _refuse_remote_links(html: str) -> None:
    """Last guard: no <script src> or <link href> in the page may point off the machine."""
    match = _REMOTE_TAG.search(html)
    if match:
        raise UnknownMapAsset(f"the map still links a remote asset: {match[0]}")
