"""herder's plugin for the `openstack` CLI (python-openstackclient): `openstack server move ...`
shows the work of a migrate or a resize (docs/cli.md). Loaded only by the CLI: nothing else in
herder imports it, and herder's services do not depend on osc-lib."""
