"""Regression tests for issue 8 path #9: the trust between hypervisor hosts gave every host a full
shell on every other (so escaping one guest controlled every hypervisor's libvirt), and a
host-to-host command went through the remote shell.  On the real lab: the host users' own keys and
ssh configs, the hosts' own sshds.  Landed failing (xfail strict) before the fix: the peer
dispatcher (ferry-peer), the only command a peer host's key may run."""

import json
import shlex

from tests.integration import lab

SRC, DST = "hv-b1", "hv-b2"
REFUSED = "ferry-peer: refused"


def from_host(src, command, stdin_cmd=None):
    """(rc, stdout+stderr) of `command` run as `src`'s user on `src` (its own ~/.ssh), piped from
    `stdin_cmd` when given."""
    line = "%s | %s" % (stdin_cmd, command) if stdin_cmd else command + " </dev/null"
    out = lab.ssh(src, "( %s ) 2>&1; echo rc=$?" % line, check=False)
    text, _, rc = out.rstrip().rpartition("rc=")
    return int(rc), text


def peer(command, stdin_cmd=None, src=SRC, dst=DST, ssh="ssh"):
    return from_host(src, "%s %s %s" % (ssh, dst, command), stdin_cmd)


# A tar stream made on the sending host (its python3), one regular file or a link, any member name.
TAR = ("python3 -c %s" % shlex.quote(
    "import io, sys, tarfile\n"
    "name, kind = sys.argv[1], sys.argv[2]\n"
    "t = tarfile.open(fileobj=sys.stdout.buffer, mode='w|')\n"
    "ti = tarfile.TarInfo(name)\n"
    "if kind == 'file':\n"
    "    ti.size = 5\n"
    "    t.addfile(ti, io.BytesIO(b'evil\\n'))\n"
    "else:\n"
    "    ti.type, ti.linkname = (tarfile.SYMTYPE if kind == 'symlink' else tarfile.LNKTYPE), '/etc/passwd'\n"
    "    t.addfile(ti)\n"
    "t.close()\n") + " %s %s")


def test_a_peer_host_cannot_run_virsh_or_a_shell_on_another():
    rc, out = peer("virsh -c qemu:///session list --all")
    assert rc != 0 and REFUSED in out, out
    assert "Name" not in out and "State" not in out, out          # virsh never ran
    for command in ("id", "sha256sum /etc/passwd", "'verify x y; id'", "'cache-read $(id)'",
                    "sh -c id", "rsync --server --sender -e.LsfxC . /etc/passwd", "''"):
        rc, out = peer(command)
        assert rc != 0 and REFUSED in out, (command, out)
        assert "uid=" not in out and "root:" not in out, (command, out)
    # an interactive login (no command) gets no shell either
    rc, out = from_host(SRC, "ssh -T %s" % DST)
    assert rc != 0 and REFUSED in out, out


def test_a_peer_key_is_accepted_only_from_its_own_address():
    """from= in authorized_keys: hv-b1's key, presented from another address, is refused by sshd."""
    rc, out = peer("verify x disk.qcow2", ssh="ssh -o BindAddress=127.0.0.1")
    assert rc == 255 and "Permission denied" in out, out


def test_receive_and_reads_stay_inside_their_directories():
    _, _, hosts = lab.inventory()
    dst_root, inst = hosts[DST]["ferry_host_root"], hosts[DST]["ferry_instances_dir"]
    name = lab.unique("peer")
    try:
        # the instance name itself
        for bad in ("../..", "..", ".", "../../escape", "/tmp", "a/b", "-rf", ".hidden"):
            rc, out = peer("receive %s" % shlex.quote(bad), stdin_cmd=TAR % ("x.raw", "file"))
            assert rc != 0 and REFUSED in out, (bad, out)
        # member names, and members that are not regular files
        for member, kind in (("../../escape", "file"), ("/tmp/escape", "file"), ("a/escape", "file"),
                             ("escape", "symlink"), ("escape", "hardlink")):
            rc, out = peer("receive %s" % name, stdin_cmd=TAR % (shlex.quote(member), kind))
            assert rc != 0 and REFUSED in out, (member, kind, out)
        for path in ("%s/escape" % dst_root, "/tmp/escape", "%s/%s/escape" % (inst, name), "%s/%s/a" % (inst, name)):
            assert not lab.exists(DST, path), path
        # reads: only plain <sha256><ext> names of the cache, only verify inside an instance dir
        for command in ("cache-read ../.ssh/id_ed25519", "cache-read /etc/passwd", "cache-read .lock-x",
                        "verify %s ../../.ssh/id_ed25519" % name, "verify .. .ssh/id_ed25519"):
            rc, out = peer(command)
            assert rc != 0 and REFUSED in out, (command, out)
            assert "PRIVATE KEY" not in out, (command, out)
        # what a move needs still works: a sparse file received into the instance dir and verified
        lab.ssh(SRC, "truncate -s 8M ~/%s.raw && printf data | dd of=~/%s.raw bs=1 seek=4M conv=notrunc status=none"
                % (name, name))
        rc, out = peer("receive %s" % name, stdin_cmd="tar --create --sparse --hole-detection=seek --file=- "
                       "--directory ~ --transform 's|.*|disk.raw|' -- %s.raw" % name)
        assert rc == 0, out
        want = lab.ssh(SRC, "sha256sum ~/%s.raw" % name).split()[0]
        rc, out = peer("verify %s disk.raw" % name)
        assert rc == 0, out
        got = json.loads(out)
        assert got["sha256"] == want and got["size"] == 8 << 20, got
        assert got["path"] == "%s/%s/disk.raw" % (inst, name), got
        assert got["allocated_bytes"] < 1 << 20, got                    # the hole stayed a hole
    finally:
        lab.ssh(DST, "rm -rf %s" % shlex.quote("%s/%s" % (inst, name)), check=False)
        lab.ssh(SRC, "rm -f ~/%s.raw" % name, check=False)
