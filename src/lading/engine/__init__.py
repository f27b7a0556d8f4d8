"""The engine: overlayfs layer store, containers, logs, monitor."""
