"""Running tempest's compute tests against herder behind a real Keystone (scripts/tempest/run.sh)."""
