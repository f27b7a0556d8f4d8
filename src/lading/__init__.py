"""lading: an OCI container runtime and image engine.

The package is layered: linux/ (kernel interfaces) < spec/ (OCI data models) < runtime/ and
image/ < engine/ < cli/. See docs/architecture.md.
"""

__version__ = "0.1.0"
OCI_VERSION = "1.3.0"
