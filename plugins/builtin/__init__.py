"""Built-in plugins, registered through the upbit_hub.plugins entry-point group like any other."""
