"""ferry metadata kept in a libvirt domain's <metadata> element.

State lives with the guest: flavor, image, AZ, server group and the state of a
move are written into the domain XML under ferry's own namespace, so any
controller (a shell, AWX) can read where a guest stands.

The encoding is deliberately simple and round-trips a flat dict whose values
are None, str, int, float, bool, or a flat dict of those:

    <ferry:instance xmlns:ferry="https://ferry.invalid/xmlns/instance/1.0">
      <ferry:flavor type="dict"><ferry:name type="str">m1.small</ferry:name>...</ferry:flavor>
      <ferry:az type="none"/>
    </ferry:instance>
"""

import re
import xml.etree.ElementTree as ET

NAMESPACE = "https://ferry.invalid/xmlns/instance/1.0"
PREFIX = "ferry"
ROOT_TAG = "instance"

_SCALARS = {
    "str": str,
    "int": int,
    "float": float,
}


def _tag(name):
    return "{%s}%s" % (NAMESPACE, name)


_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
# characters XML 1.0 cannot carry, and \r which parsers normalise away
_BAD_TEXT_RE = re.compile("[\x00-\x08\x0b\x0c\x0d\x0e-\x1f]")


def _check_key(key):
    if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
        raise ValueError("metadata key %r is not a valid XML name" % (key,))


def _check_text(key, text):
    if _BAD_TEXT_RE.search(text):
        raise ValueError("metadata value for %r has control characters XML cannot carry" % (key,))
    return text


def _encode_value(parent, key, value, nested):
    _check_key(key)
    el = ET.SubElement(parent, _tag(key))
    if value is None:
        el.set("type", "none")
    elif isinstance(value, bool):
        el.set("type", "bool")
        el.text = "true" if value else "false"
    elif isinstance(value, (int, float, str)):
        el.set("type", type(value).__name__)
        el.text = _check_text(key, str(value))
    elif isinstance(value, dict) and not nested:
        el.set("type", "dict")
        for k in sorted(value):
            _encode_value(el, k, value[k], nested=True)
    elif isinstance(value, (list, tuple)) and not nested:
        el.set("type", "list")
        for item in value:
            _encode_value(el, "item", item, nested=True)
    else:
        raise ValueError("metadata value for %r has unsupported type %s"
                         % (key, type(value).__name__))


def encode(data):
    """Return the <ferry:instance> XML string for a metadata dict."""
    ET.register_namespace(PREFIX, NAMESPACE)
    root = ET.Element(_tag(ROOT_TAG))
    for key in sorted(data):
        _encode_value(root, key, data[key], nested=False)
    return ET.tostring(root, encoding="unicode")


def _decode_value(el):
    kind = el.get("type", "str")
    if kind == "none":
        return None
    if kind == "bool":
        return (el.text or "") == "true"
    if kind == "dict":
        return {_local(child.tag): _decode_value(child) for child in el}
    if kind == "list":
        return [_decode_value(child) for child in el]
    if kind in _SCALARS:
        return _SCALARS[kind](el.text or "")
    raise ValueError("unknown metadata type %r" % kind)


def _local(tag):
    return tag.split("}", 1)[1] if "}" in tag else tag


def encode_plain(data):
    """The same element without the namespace, as virDomainSetMetadata wants it (libvirt adds
    the namespace from its key/uri arguments)."""
    text = encode(data)
    root = ET.fromstring(text)
    for el in root.iter():
        el.tag = _local(el.tag)
    return ET.tostring(root, encoding="unicode")


def decode(xml_text):
    """Parse a <ferry:instance> element (string) back into a dict."""
    if not xml_text:
        return {}
    root = ET.fromstring(xml_text)
    if root.tag != _tag(ROOT_TAG):
        raise ValueError("not a ferry metadata element: %s" % root.tag)
    return {_local(child.tag): _decode_value(child) for child in root}


def from_domain_xml(domain_xml):
    """Extract ferry metadata from a full domain XML document ({} if none)."""
    root = ET.fromstring(domain_xml)
    meta = root.find("metadata")
    if meta is None:
        return {}
    el = meta.find(_tag(ROOT_TAG))
    if el is None:
        return {}
    return decode(ET.tostring(el, encoding="unicode"))
