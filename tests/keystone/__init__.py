"""A real Keystone (from .venv-keystone, scripts/keystone/install.sh) for tests that need one."""
