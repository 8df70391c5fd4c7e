"""upbit_hub.config: the settings schema and loader; default.toml and sim.toml ship as data."""
