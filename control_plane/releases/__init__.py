"""Releases: immutable snapshots made from the store after each committed change."""

from control_plane.store.releases import Release

from .maker import ReleaseMaker, Subscriber

__all__ = ["Release", "ReleaseMaker", "Subscriber"]
