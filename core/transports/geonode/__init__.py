"""GeoNode: datasets in one multipart POST, the server's import followed until published."""

from upqueue.core.transports.geonode.transport import GeoNodeTransport

__all__ = ["GeoNodeTransport"]
