#!/usr/bin/env python3
"""The former name of vp3d_convert.py (converts saved 3D poses to .bvh and other formats); kept so that
existing commands keep working."""
import sys

from vp3d_convert import build_parser, main  # noqa: F401

if __name__ == "__main__":
    sys.exit(main())
