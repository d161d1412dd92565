"""Getting data into the registry: readers, validation, the import frame and its importers.

Importing this package registers the readers of the upstream sources (:mod:`geo.ingest.sources`)
with :func:`geo.ingest.readers.register_reader`.
"""

from geo.ingest import sources  # noqa: F401 - registers the upstream readers
