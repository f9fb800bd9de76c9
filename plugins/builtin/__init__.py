"""Built-in connectors and tools, registered through the ``projectqa`` entry points."""
