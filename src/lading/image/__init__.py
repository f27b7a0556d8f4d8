"""OCI images: content store, registry client, layer unpacking, image to bundle."""
