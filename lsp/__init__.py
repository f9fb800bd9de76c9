"""``projectqa-lsp``: the language server bridging editors to a ProjectQA server.

See docs/EDITORS.md for the protocol (commands, notifications, errors).
"""
