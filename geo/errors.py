"""Domain exceptions. The API maps each to an HTTP status in one place; the CLI to an exit code."""

from __future__ import annotations


class PetadesaError(Exception):
    """Base of every error a user can cause and fix."""

    code = "petadesa_error"


class ConfigurationError(PetadesaError):
    """A setting or a database URL that cannot be used."""

    code = "configuration_error"


class SourceUnavailable(PetadesaError):
    """A remote or mirrored source could not be reached or did not match its checksum."""

    code = "source_unavailable"


class UnreadableFile(PetadesaError):
    """A file that cannot be opened or parsed as the format it claims to be."""

    code = "unreadable_file"


class FileTooLarge(PetadesaError):
    """A file over the configured import size limit."""

    code = "file_too_large"


class CRSProblem(PetadesaError):
    """A missing, unknown or implausible coordinate reference system."""

    code = "crs_problem"


class ImportRejected(PetadesaError):
    """An import refused as a whole; ``report`` says which features and fields, and why.

    Nothing was written: every import is one transaction.
    """

    code = "import_rejected"

    def __init__(self, message: str, report: object) -> None:
        super().__init__(message)
        self.report = report


class UnknownLayer(PetadesaError):
    """An asset layer name that is not in the registry."""

    code = "unknown_layer"


class AreaNotFound(PetadesaError):
    """No administrative area with that code."""

    code = "area_not_found"


class RasterRejected(PetadesaError):
    """A raster that cannot serve its purpose (no overlap, only nodata, negative counts...)."""

    code = "raster_rejected"


class CollectionNotFound(PetadesaError):
    """No feature collection of that id (collection ids are the registry's layer names)."""

    code = "collection_not_found"


class FeatureNotFound(PetadesaError):
    """No feature of that id in the collection."""

    code = "feature_not_found"
