"""Make ferry's module_utils importable as ansible.module_utils.ferry_* in tests."""
import os
import sys

import ansible.module_utils

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_MU = os.path.join(ROOT, "plugins", "module_utils")
if _MU not in ansible.module_utils.__path__:
    ansible.module_utils.__path__.append(_MU)
sys.path.insert(0, os.path.join(ROOT, "library"))
