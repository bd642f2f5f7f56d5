"""The pipeline: stages named in configuration, run by Dramatiq actors over item ids."""
