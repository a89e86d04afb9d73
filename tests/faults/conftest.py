# The lab fixtures of the integration tests (the lab must be up; unique guest names, deleted after).
from tests.integration.conftest import guest_name, lab_up  # noqa: F401
