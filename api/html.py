"""HTML pages of the OGC API for a person in a browser: plain tables, no script, no CDN.

A request gets HTML when it asks for it, with ``f=html`` or a browser's ``Accept`` (``text/html``
before any JSON type), and JSON otherwise. One template (``templates/page.html``), rendered
by Jinja2 with autoescaping, so values from the registry never become markup.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

_ENV = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)


def wants_html(request: Request) -> bool:
    """Whether the client asked for HTML (``f=html``, or a browser's Accept)."""
    chosen = request.query_params.get("f")
    if chosen is not None:
        return chosen.lower() == "html"
    accept = request.headers.get("accept", "")
    html = accept.find("text/html")
    if html < 0:
        return False
    jsons = [accept.find(t) for t in ("application/json", "application/geo+json")]
    return all(j < 0 or j > html for j in jsons)


def page(
    request: Request,
    title: str,
    *,
    description: str | None = None,
    columns: list[str] | None = None,
    rows: list[list[Any]] | None = None,
    links: list[Any] | None = None,
) -> HTMLResponse:
    """A page: a title, a table (a cell may be ``{"href", "text"}``), links, the JSON link."""
    json_href = str(request.url.include_query_params(f="json"))
    body = _ENV.get_template("page.html").render(
        title=title,
        description=description,
        columns=columns or [],
        rows=rows or [],
        links=[_plain(link) for link in links or []],
        home=str(request.base_url),
        json_href=json_href,
    )
    return HTMLResponse(body)


def _plain(link: Any) -> dict[str, Any]:
    return link if isinstance(link, dict) else link.model_dump()
