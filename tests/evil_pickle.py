"""A pickle that writes a file when it is loaded: the readers must never unpickle what a user gives them."""
from __future__ import annotations


class Evil:
    """Unpickling this creates `path`: tests check that the file never appears."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))
