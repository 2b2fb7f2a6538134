"""q2-mgm: the Microbial General Model (MGM) as a QIIME 2 plugin."""
__version__ = "0.1.0"
