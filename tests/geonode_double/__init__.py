"""A GeoNode double for the tests (no real GeoNode can run here); see server.py for what it does."""

from tests.geonode_double.server import GeoNodeDouble

__all__ = ["GeoNodeDouble"]
