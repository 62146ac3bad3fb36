"""Where models run: hardware probing (devices), runtime sessions and their registry (backends), ais_bench."""
