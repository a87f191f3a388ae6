"""What an image carries besides its pixels: EXIF, PNG text chunks, JPEG comments and XMP.

An officer who views a picture never sees its metadata, so it is read here (Pillow, headers
only: no pixel is decoded). GPS coordinates are a `direct_identifier` (kind `coordinates`,
block); other identifying metadata (artist/author, owner, camera or lens serial numbers, user
comments, descriptions) is `hidden_content` kind `image_metadata` at review, and any validated
identifier written in it (an email, a NINo ...) blocks through the identifier rules. Findings
name the fields, never their values.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

from include.checks.findings import Finding, Location, Severity
from include.checks.identifiers import identifier_finding, scan_text
from include.checks.policy import CheckPolicy

# EXIF tags (IFD0 and the Exif sub-IFD) that name or describe a person or a device.
_IDENTIFYING_TAGS = {
    0x013B: "Artist",
    0x8298: "Copyright",
    0x010E: "ImageDescription",
    0x9C9B: "XPTitle",
    0x9C9C: "XPComment",
    0x9C9D: "XPAuthor",
    0x9C9E: "XPKeywords",
    0x9C9F: "XPSubject",
    0x9286: "UserComment",
    0xA430: "CameraOwnerName",
    0xA431: "BodySerialNumber",
    0xA435: "LensSerialNumber",
    0xA420: "ImageUniqueID",
}
_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825
_GPS_LATITUDE, _GPS_LONGITUDE = 2, 4
# PNG tEXt/iTXt keys and other info entries that hold free text about the picture.
_INFO_KEYS = ("author", "comment", "description", "copyright", "title", "disclaimer", "source")
_XMP_GPS = re.compile(rb"exif:GPS(?:Latitude|Longitude)\s*[=>]\s*\"?\s*-?\d")
_XMP_PERSON = re.compile(rb"<(?:dc:creator|dc:rights|photoshop:Credit|xmpRights:Owner)\b")


def _text(value: object) -> str:
    if isinstance(value, bytes):
        # UserComment starts with an 8-byte charset code; XP* tags are UTF-16LE.
        if value[:8] in (b"ASCII\0\0\0", b"UNICODE\0", b"JIS\0\0\0\0\0", b"\0" * 8):
            enc = "utf-16" if value[:8] == b"UNICODE\0" else "latin-1"
            return value[8:].decode(enc, errors="replace").strip("\0 ")
        try:
            return value.decode("utf-16-le").strip("\0 ") if b"\0" in value else value.decode()
        except UnicodeDecodeError:
            return value.decode("latin-1", errors="replace").strip("\0 ")
    if isinstance(value, tuple):  # XP* tags may come as tuples of bytes
        return _text(bytes(value)) if all(isinstance(v, int) for v in value) else str(value)
    return str(value).strip("\0 ")


def _has_position(gps: dict[int, object]) -> bool:
    """Latitude and longitude both present and not the all-zero placeholder."""
    lat, lon = gps.get(_GPS_LATITUDE), gps.get(_GPS_LONGITUDE)
    if lat is None or lon is None:
        return False
    try:
        return any(float(x) != 0 for x in (*lat, *lon))  # type: ignore[misc]
    except (TypeError, ValueError):
        return True  # present but odd: an officer would still treat it as a position


def image_metadata_findings(path: Path, rel: str, policy: CheckPolicy) -> list[Finding]:
    """Findings for an image's metadata; [] when it has none worth an officer's eye."""
    from PIL import Image

    fields: dict[str, str] = {}
    gps_found = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # DecompressionBombWarning: no pixels are decoded here
        try:
            with Image.open(path) as img:
                exif = img.getexif()
                gps_found = _has_position(dict(exif.get_ifd(_GPS_IFD)))
                tags = {**dict(exif), **dict(exif.get_ifd(_EXIF_IFD))}
                for tag, name in _IDENTIFYING_TAGS.items():
                    if tag in tags and _text(tags[tag]):
                        fields[name] = _text(tags[tag])
                for key, value in img.info.items():
                    if str(key).lower() in _INFO_KEYS and _text(value):
                        fields[str(key)] = _text(value)
                xmp = img.info.get("xmp") or img.info.get("XML:com.adobe.xmp") or b""
        except Exception:  # noqa: BLE001 - an unreadable header leaves the generic image review
            return []
    if isinstance(xmp, str):
        xmp = xmp.encode()
    if _XMP_GPS.search(xmp):
        gps_found = True
    if _XMP_PERSON.search(xmp):
        fields.setdefault("XMP creator/rights", "")

    out: list[Finding] = []
    if gps_found:
        found = identifier_finding(
            "coordinates", policy, Location(file=rel), "The image's metadata (EXIF/XMP GPS)"
        )
        if found is not None:
            out.append(found)
    if fields:
        names = ", ".join(sorted(fields))
        out.append(
            Finding(
                rule="hidden_content",
                kind="image_metadata",
                severity=Severity.REVIEW,
                message=(
                    f"The image carries metadata that may identify a person or a device ({names}), "
                    "invisible to anyone viewing the picture: an officer checks it; strip the "
                    "metadata (export the picture again without it) if it is not needed."
                ),
                location=Location(file=rel),
            )
        )
        text = "\n".join(v for v in fields.values() if v)
        for f in scan_text(text, policy, Location(file=rel)):
            out.append(
                Finding(
                    rule=f.rule,
                    kind=f.kind,
                    severity=f.severity,
                    message=f"The image's metadata: {f.message}",
                    location=Location(file=rel),
                )
            )
    return out
