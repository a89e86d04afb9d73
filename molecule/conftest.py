"""pytest, for every molecule scenario's testinfra tests (molecule/<scenario>/tests/): puts
molecule/shared on sys.path, so a test module can `import labinfra`, and gives them its fixtures
(lab, domains, and where/domxml/metadata for the test module's INSTANCE)."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "shared"))
from labinfra import domains, domxml, lab, metadata, where  # noqa: E402, F401
