"""Stand-in for Nuke's ``nukescripts`` package: only ``panels`` is used."""
from . import panels  # noqa: F401
