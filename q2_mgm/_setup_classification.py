"""Registration of the classification actions."""
