"""The container engine behind `lading container`: layers, containers, bundles, the monitor (docs/engine.md)."""
