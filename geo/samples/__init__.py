"""Seeded, clearly labelled sample data (``source = "sample"``) for demos and tests.

:mod:`geo.samples.region` makes a regency that does not exist (*Kabupaten Contoh (sampel)*,
``99.01``) for when no official boundaries can be had; :mod:`geo.samples.assets` makes asset
layers for any villages, for the layers that have no public source.
"""

from geo.samples.assets import sample_assets
from geo.samples.region import SAMPLE_SOURCE, SampleRegion, sample_region

__all__ = ["SAMPLE_SOURCE", "SampleRegion", "sample_assets", "sample_region"]
