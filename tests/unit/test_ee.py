"""The execution environment (execution-environment.yml): `ansible-builder create` writes its build
context, and the context is checked for what a build would need, since no container engine runs
here and `create` alone validates little:
- the Python requirements the builder's introspection assembles (ferry's plus those of the
  collections, computed by the context's own introspect.py over the installed collections) and the
  ansible-core/ansible-runner pins resolve on PyPI (`pip install --dry-run`);
- the system packages, read by bindep for an RPM platform (the base image's) and for Debian, carry
  each platform's names, the Debian ones exist in Debian's archive;
- the pins agree with requirements.txt and the collection versions with what is installed.
"""

import json
import os
import re
import shutil
import subprocess

import pytest
import yaml
from bindep.depends import Depends

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, ".venv", "bin")
EE = os.path.join(ROOT, "execution-environment.yml")
RPM = ["platform:rpm", "platform:redhat", "platform:centos", "platform:centos-9"]
DPKG = ["platform:dpkg", "platform:debian", "platform:debian-12"]
# What the EE needs from the system, by the name each platform gives it.  CentOS Stream 9 / RHEL 9
# names on the left (the base image's), Debian's on the right.
RUNTIME = {"openssh-clients": "openssh-client", "libvirt-libs": "libvirt0"}
COMPILE = {"gcc": "gcc", "pkgconf-pkg-config": "pkgconf", "libvirt-devel": "libvirt-dev",
           "python{v}-devel": "python3-dev"}


def load(path):
    with open(path) as f:
        return yaml.safe_load(f)


def pins(path):
    out = {}
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                name, _, version = line.partition("==")
                out[name.lower()] = version
    return out


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    ctx = tmp_path_factory.mktemp("ee") / "context"
    r = subprocess.run([os.path.join(BIN, "ansible-builder"), "create", "-f", EE, "-c", str(ctx),
                        "--output-filename", "Containerfile"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    return ctx


def installed_collection(fqcn):
    """(path, version) of a collection as ansible-galaxy finds it (the `ansible` package's copy)."""
    r = subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", "list", fqcn, "--format", "json"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    ((path, found),) = json.loads(r.stdout).items()
    ns, name = fqcn.split(".")
    return os.path.join(path, ns, name), found[fqcn]["version"]


def build_arg(containerfile, name):
    m = re.search(r'^ARG %s="([^"]*)"' % name, containerfile, re.M)
    assert m, name
    return m.group(1)


@pytest.fixture(scope="module")
def introspected(context, tmp_path_factory):
    """What the builder stage's `introspect.py introspect` writes (requirements and bindep of the
    user plus every collection in the EE), run here over the installed versions of the collections
    collections/requirements.yml names."""
    coll = tmp_path_factory.mktemp("collections")
    for c in load(context / "_build" / "requirements.yml")["collections"]:
        ns, name = c["name"].split(".")
        os.makedirs(coll / "ansible_collections" / ns, exist_ok=True)
        os.symlink(installed_collection(c["name"])[0], coll / "ansible_collections" / ns / name)
    out = tmp_path_factory.mktemp("introspect")
    r = subprocess.run([os.path.join(BIN, "python"), str(context / "_build" / "scripts" / "introspect.py"),
                        "introspect", str(coll),
                        "--user-pip", str(context / "_build" / "requirements.txt"),
                        "--user-bindep", str(context / "_build" / "bindep.txt"),
                        "--write-pip", str(out / "requirements.txt"), "--write-bindep", str(out / "bindep.txt")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return out


def test_context_is_complete(context):
    cf = (context / "Containerfile").read_text()
    ee = load(EE)
    assert cf.startswith('ARG EE_BASE_IMAGE="%s"' % ee["images"]["base_image"]["name"])
    assert build_arg(cf, "PYCMD") == ee["dependencies"]["python_interpreter"]["python_path"] == "/usr/bin/python3.11"
    assert build_arg(cf, "PKGMGR") == "/usr/bin/dnf"
    for f in ("requirements.txt", "requirements.yml", "bindep.txt", "scripts/introspect.py", "scripts/assemble"):
        assert (context / "_build" / f).is_file(), f
    # every dependency kind reaches the build: collections, Python requirements, system packages
    assert "ansible-galaxy collection install" in cf and "-r requirements.yml" in cf
    assert "--user-pip=requirements.txt --user-bindep=bindep.txt" in cf
    assert (context / "_build" / "requirements.txt").read_text() == open(os.path.join(ROOT, "requirements-ee.txt")).read()
    assert (context / "_build" / "bindep.txt").read_text() == open(os.path.join(ROOT, "bindep.txt")).read()


def test_pins_agree_with_requirements_txt(context):
    dev = pins(os.path.join(ROOT, "requirements.txt"))
    ee = pins(os.path.join(ROOT, "requirements-ee.txt"))
    assert ee and all(v for v in ee.values()), "every EE requirement is pinned"
    for name, version in ee.items():
        assert dev.get(name) == version, "%s: %s in the EE, %s in requirements.txt" % (name, version, dev.get(name))
    refs = dict(r.split("==") for r in build_arg((context / "Containerfile").read_text(), "ANSIBLE_INSTALL_REFS").split())
    assert refs == {"ansible-core": dev["ansible-core"], "ansible-runner": dev["ansible-runner"]}


def test_collections_match_the_installed_ones(context):
    for c in load(context / "_build" / "requirements.yml")["collections"]:
        path, version = installed_collection(c["name"])
        assert version == c["version"], c["name"]
        with open(os.path.join(path, "MANIFEST.json")) as f:
            assert json.load(f)["collection_info"]["version"] == c["version"], c["name"]


@pytest.mark.network
def test_python_requirements_resolve_on_pypi(context, introspected, tmp_path):
    reqs = introspected / "requirements.txt"
    text = reqs.read_text()
    assert "libvirt-python==9.0.0" in text and "from collection awx.awx" in text
    refs = build_arg((context / "Containerfile").read_text(), "ANSIBLE_INSTALL_REFS").split()
    report = tmp_path / "report.json"
    r = subprocess.run([os.path.join(BIN, "pip"), "install", "--dry-run", "--ignore-installed", "--quiet",
                        "--report", str(report), "-r", str(reqs)] + refs,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    resolved = {i["metadata"]["name"].lower(): i["metadata"]["version"] for i in json.loads(report.read_text())["install"]}
    wanted = dict(pins(os.path.join(ROOT, "requirements-ee.txt")), **dict(ref.split("==") for ref in refs))
    for name, version in wanted.items():
        assert resolved.get(name) == version, (name, resolved.get(name))
    for line in text.splitlines():  # the collections' own requirements resolve too
        name = re.split(r"[<>=!~ #\[]", line.strip(), maxsplit=1)[0].lower()
        if name:
            assert name in resolved, name


def packages(bindep_file, profiles):
    return {name for name, _, _ in Depends(open(bindep_file).read()).active_rules(profiles)}


def test_system_packages_carry_each_platforms_names(introspected):
    py = re.search(r"python(\d+\.\d+)$", load(EE)["dependencies"]["python_interpreter"]["python_path"]).group(1)
    compile_rpm = {k.format(v=py): d for k, d in COMPILE.items()}
    f = str(introspected / "bindep.txt")
    assert packages(f, ["default"] + RPM) == set(RUNTIME)
    assert packages(f, ["compile"] + RPM) == set(RUNTIME) | set(compile_rpm)
    assert packages(f, ["default"] + DPKG) == set(RUNTIME.values())
    assert packages(f, ["compile"] + DPKG) == set(RUNTIME.values()) | set(compile_rpm.values())
    # no Debian name leaks into the RPM list
    rpm_all = packages(f, ["compile"] + RPM)
    assert not [p for p in rpm_all if p.endswith("-dev") or re.search(r"\d$", p)], rpm_all
    assert not (set(RUNTIME.values()) | set(compile_rpm.values())) - {"gcc"} & rpm_all


@pytest.mark.skipif(not shutil.which("apt-cache"), reason="needs Debian's apt-cache")
def test_debian_names_exist():
    for name in set(RUNTIME.values()) | set(COMPILE.values()):
        r = subprocess.run(["apt-cache", "show", name], capture_output=True, text=True)
        assert r.returncode == 0 and "Package: %s" % name in r.stdout, name
