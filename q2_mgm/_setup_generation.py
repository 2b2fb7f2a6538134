"""Registration of the generation actions."""
