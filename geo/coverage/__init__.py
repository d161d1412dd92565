"""Coverage and blank spots: which villages have usable mobile signal, and who lives without.

- :mod:`geo.coverage.rasters`: the user's rasters (a DEM, a population grid), checked and read
  by window over the region only;
- :mod:`geo.coverage.grid`: the analysis grid, a UTM zone over the region at the DEM's step;
- :mod:`geo.coverage.model`: modelled coverage per tower (GDAL's viewshed over the DEM, range
  per technology, sectors), combined into the best technology per cell;
- :mod:`geo.coverage.zonal`: per-village shares of area and people per technology
  (``exactextract``, partial-pixel weights);
- :mod:`geo.coverage.register`: the connectivity register, a row per village and run, the
  class reconciled from the census, the model and the fibre network.
"""
