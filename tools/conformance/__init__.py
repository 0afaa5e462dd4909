"""Conformance of karbon_async against Stoplight Prism's mock of Karbon's OpenAPI document.

``make conformance SPEC=path/to/KarbonAPI.json`` runs ``python -m conformance`` (with ``tools/``
on the path): Prism once static and then dynamic under several seeds, every operation driven
through the SDK's public methods.
"""
