"""Prints each NAME==VERSION argument that the running Python does not have installed at exactly
that version (one per line): what a setup script still has to pip install."""
import importlib.metadata as m
import sys

for spec in sys.argv[1:]:
    name, version = spec.split("==")
    try:
        ok = m.version(name) == version
    except m.PackageNotFoundError:
        ok = False
    if not ok:
        print(spec)
