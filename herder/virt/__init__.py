"""Hypervisor drivers: what a compute host does to guests and their disks."""
