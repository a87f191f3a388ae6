"""Image metadata: EXIF GPS blocks as coordinates, other identifying metadata is for review,
and an image without either keeps only the generic review (issue 14)."""

from __future__ import annotations

from pathlib import Path

from PIL import ExifTags, Image, PngImagePlugin

from include.checks.engine import check_path
from include.checks.findings import Severity
from include.checks.policy import CheckPolicy


def jpeg(path: Path, *, gps: dict | None = None, artist: str | None = None, **exif_ifd) -> Path:
    exif = Image.Exif()
    exif[ExifTags.Base.Software] = "chart-maker 1.0"  # metadata that identifies no one
    if artist:
        exif[ExifTags.Base.Artist] = artist
    if gps is not None:
        exif[ExifTags.IFD.GPSInfo] = gps
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    for name, value in exif_ifd.items():
        sub[getattr(ExifTags.Base, name)] = value
    Image.new("RGB", (16, 16), "white").save(path, exif=exif)
    return path


def findings(path: Path):
    [fr] = check_path(path, CheckPolicy()).files
    assert fr.type == "image"
    return sorted(((f.rule, f.kind, f.severity) for f in fr.findings), key=str)


GENERIC = ("unchecked_file_type", "image", Severity.REVIEW)
LONDON = {1: "N", 2: (51.0, 30.0, 26.0), 3: "W", 4: (0.0, 7.0, 39.0)}


def test_exif_gps_coordinates_block(tmp_path):
    got = findings(jpeg(tmp_path / "photo.jpg", gps=LONDON))
    assert ("direct_identifier", "coordinates", Severity.BLOCK) in got and GENERIC in got
    [fr] = check_path(tmp_path / "photo.jpg", CheckPolicy()).files
    gps = next(f for f in fr.findings if f.kind == "coordinates")
    assert "51" not in gps.message  # the position itself is never repeated


def test_gps_block_without_a_position_and_plain_exif_are_only_the_generic_review(tmp_path):
    # A GPS block holding only a version and a zero position, and a Software tag: no finding.
    placeholder = {0: b"\x02\x02\x00\x00", 2: (0.0, 0.0, 0.0), 4: (0.0, 0.0, 0.0)}
    assert findings(jpeg(tmp_path / "chart.jpg", gps=placeholder)) == [GENERIC]


def test_author_serial_and_comment_are_for_review(tmp_path):
    path = jpeg(
        tmp_path / "p.jpg",
        artist="Jane Smith",
        BodySerialNumber="SN-4471",
        UserComment=b"ASCII\x00\x00\x00taken at the clinic",
    )
    got = findings(path)
    # The artist's name is also found as a name (review: metadata, not a header, names it).
    expected = [
        GENERIC,
        ("hidden_content", "image_metadata", Severity.REVIEW),
        ("direct_identifier", "person_name", Severity.REVIEW),
    ]
    assert got == sorted(expected, key=str)
    [fr] = check_path(path, CheckPolicy()).files
    meta = next(f for f in fr.findings if f.kind == "image_metadata")
    assert "Artist" in meta.message and "BodySerialNumber" in meta.message
    assert "UserComment" in meta.message and "Jane" not in meta.message


def test_an_email_in_png_text_metadata_blocks(tmp_path):
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "jane.doe@example.org")
    path = tmp_path / "fig.png"
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)
    got = findings(path)
    assert ("direct_identifier", "email", Severity.BLOCK) in got
    assert ("hidden_content", "image_metadata", Severity.REVIEW) in got
