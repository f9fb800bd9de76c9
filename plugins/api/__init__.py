"""The public API for ProjectQA plugins: import everything a plugin needs from here.

Internal modules (``projectqa.server.*``) may change between releases; this one does not
without a deprecation (plugins/README.md).
"""
