import os

import pytest

from tests.integration import lab


@pytest.fixture(scope="session", autouse=True)
def lab_up():
    if not os.path.exists(lab.INVENTORY):
        pytest.fail("the lab is not up: run `make lab` (make test does it)")
    return lab.inventory()


@pytest.fixture
def guest_name(request):
    """A unique guest name, deleted (everywhere) after the test."""
    names = []

    def make(prefix="t"):
        n = lab.unique(prefix)
        names.append(n)
        return n

    yield make
    for n in names:
        lab.run_playbook("delete.yml", instance=n, ferry_delete_takeover=True)
        lab.drop_refs(n)   # its reference copies (tens of MiB each) go with it
