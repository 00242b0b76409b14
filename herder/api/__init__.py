"""The OpenStack Compute API (v2.1 with microversions), as a Falcon WSGI application."""
