"""``python -m tests.packs PACK DESTINATION``: make a project of this repository with another model pack."""

import sys
from pathlib import Path

from tests.packs import project_with

if len(sys.argv) != 3:
    sys.exit("usage: python -m tests.packs PACK DESTINATION")
print(project_with(sys.argv[1], Path(sys.argv[2])))
