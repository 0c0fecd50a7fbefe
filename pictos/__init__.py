"""Pictos for every question, life domain and button of Gespreksmaatje.

A default, openly licensed set (OpenMoji, CC BY-SA 4.0) plus, optionally, an organisation's
own set through a manifest (see ``pictos/README.md``). This package does not import ``bot``:
the bot passes the manifest path and cache folder from its settings.
"""

from pictos.library import PictoLibrary
from pictos.manifest import ManifestError, check_manifest

__all__ = ["ManifestError", "PictoLibrary", "check_manifest"]
