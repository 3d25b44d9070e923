"""Operators' work behind the `flask momento` and `flask users` commands: plain functions over storage and catalog."""
