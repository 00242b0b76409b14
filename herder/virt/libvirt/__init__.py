"""Real guests: QEMU through libvirt (`[compute] compute_driver = libvirt`)."""
