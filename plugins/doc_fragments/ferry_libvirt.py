# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Option docs shared by ferry's libvirt modules (extends_documentation_fragment: ferry_libvirt)."""


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  uri:
    description:
      - libvirt URI on the host the task runs on (C(qemu:///system) in production, the lab's
        per-host session daemons use C(qemu:///session)).
      - Every libvirt call made through it fails the module after E(FERRY_LIBVIRT_TIMEOUT) seconds
        (default 120), so a hung daemon cannot hang the move.
    type: str
    default: qemu:///session
"""
