import pytest


@pytest.mark.parametrize("make, ext, problems", [
    pytest.param(["qemu-img", "create", "-q", "-f", "qcow2", "{p}", "16M"], ".qcow2", [], id="plain-qcow2"),
    pytest.param(["qemu-img", "create", "-q", "-f", "raw", "{p}", "16M"], ".iso", [], id="raw-iso"),
    pytest.param(["qemu-img", "create", "-q", "-f", "raw", "{p}", "16M"], ".qcow2", ["format raw, expected qcow2"],
                 id="raw-named-qcow2"),
    pytest.param(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", "/etc/hostname", "{p}", "16M"],
                 ".qcow2", ["has a backing file of its own (/etc/hostname)"], id="own-backing-file"),
    pytest.param(["qemu-img", "create", "-q", "-f", "qcow2", "-o", "data_file={p}.data", "{p}", "16M"], ".qcow2",
                 ["has an external data file ({p}.data)"], id="external-data-file"),
])
def test_image_problems_on_real_images(tmp_path, make, ext, problems):
    """Real images made by qemu-img, probed by qemu-img info without -f, as ferry_base_image does."""
    import json
    import subprocess
    from ansible.module_utils import ferry_imagecache
    p = str(tmp_path / "img")
    subprocess.run([a.format(p=p) for a in make], check=True)
    info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", p], check=True, capture_output=True,
                                     text=True).stdout)
    assert ferry_imagecache.image_problems(info, ferry_imagecache.expected_format(ext)) == \
        [x.format(p=p) for x in problems]
