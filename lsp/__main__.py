"""``python -m projectqa.lsp`` is ``projectqa-lsp``."""

from projectqa.lsp.cli import main

if __name__ == "__main__":
    main()
