"""Registration of the interpretation actions."""
