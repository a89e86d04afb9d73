"""ferry metadata in a domain's <metadata>: encode/decode round-trip, extraction, validation."""

import xml.etree.ElementTree as ET

import pytest
from ansible.module_utils.ferry_metadata import NAMESPACE, ROOT_TAG, decode, encode, from_domain_xml

LIBOSINFO_NS = "http://libosinfo.org/xmlns/libvirt/domain/1.0"

SAMPLE_META = {
    "flavor": {"name": "m1.small", "vcpus": 1, "memory_mb": 512, "disk_gb": 2},
    "image": {"name": "tiny", "sha256": "ab" * 32},
    "az": "az1",
    "server_group": None,
    "migration": {"id": "mig-0001", "role": "source", "status": "resize_finished", "dest": "hv-b1"},
    "task_state": None,
}


def domain_xml(metadata_block=""):
    """A full domain definition as `virsh dumpxml` prints it, with an optional <metadata> block."""
    return """<domain type='kvm' id='3'>
  <name>web01</name>
  <uuid>0f4f3f0e-7a54-4b7d-9d7e-1f2a3b4c5d6e</uuid>
  %s
  <memory unit='KiB'>524288</memory>
  <currentMemory unit='KiB'>524288</currentMemory>
  <vcpu placement='static'>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>
    <boot dev='hd'/>
  </os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/var/lib/ferry/instances/web01/disk.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
  </devices>
</domain>
""" % metadata_block


# ---------------------------------------------------------------- round trip

ROUND_TRIP = [
    pytest.param({}, id="empty"),
    pytest.param({"az": None}, id="none"),
    pytest.param({"ok": True, "bad": False}, id="bools"),
    pytest.param({"n": 0, "neg": -7, "big": 10 ** 30}, id="ints"),
    pytest.param({"f": 1.5, "neg": -0.25, "tiny": 1e-12, "huge": 1e100, "whole": 2.0}, id="floats"),
    pytest.param({"s": "m1.small", "empty": "", "ws": "  padded\tvalue \n"}, id="strings"),
    pytest.param({"special": "<&>\"' ]]>", "uni": "é☃ 東京"}, id="xml-special-and-unicode"),
    pytest.param({"numeric_str": "1", "bool_str": "true", "none_str": "None"}, id="strings-that-look-typed"),
    pytest.param({"flavor": {"name": "m1.small", "vcpus": 1, "ratio": 1.5, "gpu": False, "note": None}},
                 id="nested-dict"),
    pytest.param({"flavor": {}}, id="nested-empty-dict"),
    pytest.param({"hosts": ["hv-a1", "hv-a2"], "mixed": [1, None, True, "x", 2.5]}, id="lists"),
    pytest.param({"hosts": []}, id="empty-list"),
    pytest.param({"_private": 1, "with-dash": 2, "with.dot": 3, "a1": 4}, id="key-charset"),
    pytest.param(SAMPLE_META, id="realistic"),
]


@pytest.mark.parametrize("data", ROUND_TRIP)
def test_round_trip(data):
    assert decode(encode(data)) == data


@pytest.mark.parametrize("data", ROUND_TRIP)
def test_round_trip_keeps_types(data):
    out = decode(encode(data))

    def types(v):
        if isinstance(v, dict):
            return {k: types(x) for k, x in v.items()}
        if isinstance(v, list):
            return [types(x) for x in v]
        return type(v)

    assert types(out) == types(data)


@pytest.mark.parametrize("data, expected", [
    ({"hosts": ("hv-a1", "hv-a2")}, {"hosts": ["hv-a1", "hv-a2"]}),
    ({"t": ()}, {"t": []}),
])
def test_tuples_decode_as_lists(data, expected):
    assert decode(encode(data)) == expected


def test_encode_shape():
    root = ET.fromstring(encode({"b": 1, "a": {"y": None, "x": "v"}}))
    assert root.tag == "{%s}%s" % (NAMESPACE, ROOT_TAG)
    assert [(c.tag.split("}")[1], c.get("type")) for c in root] == [("a", "dict"), ("b", "int")]
    assert [c.tag.split("}")[1] for c in root[0]] == ["x", "y"]  # sorted, deterministic
    assert encode({"b": 1, "a": 2}) == encode({"a": 2, "b": 1})


def test_encode_uses_ferry_prefix():
    assert encode({"a": 1}).startswith('<ferry:instance xmlns:ferry="%s"' % NAMESPACE)


@pytest.mark.parametrize("text, expected", [
    ("", {}),
    (None, {}),
    ('<f:instance xmlns:f="%s"/>' % NAMESPACE, {}),
    # any prefix works: the namespace is what counts
    ('<f:instance xmlns:f="%s"><f:az type="str">az2</f:az></f:instance>' % NAMESPACE, {"az": "az2"}),
    # no type attribute means str
    ('<f:instance xmlns:f="%s"><f:az>az2</f:az></f:instance>' % NAMESPACE, {"az": "az2"}),
    ('<f:instance xmlns:f="%s"><f:n type="int">42</f:n><f:s type="str"/></f:instance>' % NAMESPACE,
     {"n": 42, "s": ""}),
])
def test_decode(text, expected):
    assert decode(text) == expected


@pytest.mark.parametrize("text", [
    '<instance><az>x</az></instance>',  # no namespace
    '<f:instance xmlns:f="https://other.invalid/ns"/>',
    '<f:other xmlns:f="%s"/>' % NAMESPACE,
    '<f:instance xmlns:f="%s"><f:x type="complex">1j</f:x></f:instance>' % NAMESPACE,
])
def test_decode_rejects_foreign_or_unknown(text):
    with pytest.raises(ValueError):
        decode(text)


# ---------------------------------------------------------------- from_domain_xml

LIBOSINFO = ('<libosinfo:libosinfo xmlns:libosinfo="%s"><libosinfo:os id="http://debian.org/debian/12"/>'
             '</libosinfo:libosinfo>' % LIBOSINFO_NS)
OTHER_TOOL = '<tool:state xmlns:tool="https://tool.invalid/ns/1"><tool:az>wrong</tool:az></tool:state>'


@pytest.mark.parametrize("block, expected", [
    pytest.param("", {}, id="no-metadata-element"),
    pytest.param("<metadata/>", {}, id="empty-metadata"),
    pytest.param("<metadata>%s</metadata>" % LIBOSINFO, {}, id="only-foreign"),
    pytest.param("<metadata>%s</metadata>" % encode(SAMPLE_META), SAMPLE_META, id="only-ferry"),
    pytest.param("<metadata>%s%s%s</metadata>" % (LIBOSINFO, encode(SAMPLE_META), OTHER_TOOL), SAMPLE_META,
                 id="ferry-between-foreign"),
    pytest.param("<metadata>%s%s</metadata>" % (OTHER_TOOL, encode({"az": "az2", "ok": True})),
                 {"az": "az2", "ok": True}, id="foreign-with-same-local-names"),
    # libvirt re-serialises metadata with its own prefix and indentation
    pytest.param("""<metadata>
    <ferry:instance xmlns:ferry="%s">
      <ferry:az type="str">az1</ferry:az>
      <ferry:flavor type="dict">
        <ferry:name type="str">m1.small</ferry:name>
      </ferry:flavor>
    </ferry:instance>
  </metadata>""" % NAMESPACE, {"az": "az1", "flavor": {"name": "m1.small"}}, id="pretty-printed"),
])
def test_from_domain_xml(block, expected):
    assert from_domain_xml(domain_xml(block)) == expected


def test_from_domain_xml_ignores_ferry_element_outside_metadata():
    xml = domain_xml("<description>%s</description>" % encode({"az": "az1"}))
    assert from_domain_xml(xml) == {}


# ---------------------------------------------------------------- validation

@pytest.mark.parametrize("data", [
    pytest.param({"": 1}, id="empty-key"),
    pytest.param({"1abc": 1}, id="leading-digit"),
    pytest.param({"-abc": 1}, id="leading-dash"),
    pytest.param({".abc": 1}, id="leading-dot"),
    pytest.param({"has space": 1}, id="space"),
    pytest.param({"a:b": 1}, id="colon"),
    pytest.param({"a/b": 1}, id="slash"),
    pytest.param({"a<b": 1}, id="angle"),
    pytest.param({"flavor": {"bad key": 1}}, id="nested-bad-key"),
    pytest.param({1: "x"}, id="int-key"),
    pytest.param({"a\u00b2": 1}, id="key-with-non-name-char"),
])
def test_invalid_keys_raise_valueerror(data):
    with pytest.raises(ValueError):
        encode(data)


@pytest.mark.parametrize("data", [
    pytest.param({"a": {"b": {"c": 1}}}, id="dict-in-dict"),
    pytest.param({"a": [[1]]}, id="list-in-list"),
    pytest.param({"a": [{"b": 1}]}, id="dict-in-list"),
    pytest.param({"a": {"b": [1]}}, id="list-in-dict"),
    pytest.param({"a": {1, 2}}, id="set"),
    pytest.param({"a": b"bytes"}, id="bytes"),
    pytest.param({"a": object()}, id="object"),
    pytest.param({"a": 1j}, id="complex"),
])
def test_unsupported_values_raise_valueerror(data):
    with pytest.raises(ValueError, match="unsupported type"):
        encode(data)


@pytest.mark.parametrize("value", [
    pytest.param("a\x01b", id="control-char"),
    pytest.param("a\x00b", id="nul"),
])
def test_values_xml_cannot_carry_raise_valueerror(value):
    # XML 1.0 cannot hold these characters: encode must refuse them instead of
    # producing a document that neither decode() nor libvirt can parse.
    with pytest.raises(ValueError):
        encode({"note": value})


def test_carriage_return_is_refused_not_silently_changed():
    # XML parsers normalise \r away, so a value with \r could not round-trip: refuse it.
    with pytest.raises(ValueError, match="control characters"):
        encode({"note": "line1\r\nline2\r"})
