"""The `herder` command line."""
