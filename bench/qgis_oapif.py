"""Time QGIS reading one OGC API Features collection whole, headless (for ``bench/api.py``).

Run by Debian's ``/usr/bin/python3`` (``python3-qgis qgis-providers``), not by the venv:
``QT_QPA_PLATFORM=offscreen /usr/bin/python3 bench/qgis_oapif.py http://127.0.0.1:8000 village``.
Opens the collection with QGIS's ``OAPIF`` provider (``pageSize=1000`` unless told), iterates
every feature (so every page is fetched and parsed) and prints one JSON object: ``seconds``
from opening the layer to the last feature (exit status 1 and an ``error`` when the layer
cannot be opened), ``features`` counted, ``peak_mb`` of this process,
and the QGIS version. Only the standard library and QGIS are imported.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def peak_mb() -> float:
    """This process's peak resident memory in MiB (``VmHWM``)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url", help="the service's landing page, e.g. http://127.0.0.1:8000")
    parser.add_argument("typename", help="the collection id")
    parser.add_argument("--page-size", type=int, default=1000)
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from qgis.core import Qgis, QgsApplication, QgsFeatureRequest, QgsVectorLayer  # noqa: PLC0415

    app = QgsApplication([], False)
    app.initQgis()
    status = 1
    try:
        uri = f"url='{args.url}' typename='{args.typename}' pageSize={args.page_size}"
        start = time.perf_counter()
        layer = QgsVectorLayer(uri, "v", "OAPIF")
        if not layer.isValid():
            print(json.dumps({"error": f"layer not valid: {uri}"}))
            return
        count = sum(1 for _ in layer.getFeatures(QgsFeatureRequest()))
        seconds = time.perf_counter() - start
        print(
            json.dumps(
                {
                    "seconds": seconds,
                    "features": count,
                    "peak_mb": peak_mb(),
                    "qgis": Qgis.QGIS_VERSION,
                }
            ),
            flush=True,
        )
        status = 0
    finally:
        # exitQgis() of 3.22 may crash on the way out, after the answer: leave at once
        sys.stdout.flush()
        os._exit(status)


if __name__ == "__main__":
    main()
