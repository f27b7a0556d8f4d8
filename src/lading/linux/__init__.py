"""Typed wrappers over Linux kernel interfaces. Nothing here knows what a container is."""
