"""Profiles: display names in any script, avatar uploads judged by their bytes, defaults.

Every image is made here with Pillow; the refused ones are each wrong in one way.
A refused upload must leave the previous avatar exactly as it was.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from io import BytesIO
from pathlib import Path
from xml.etree import ElementTree

import pytest
from flask import Flask
from PIL import ExifTags, Image

from chat import create_app
from chat.services import avatars

from . import images
from .conftest import InProcessUser
from .support import ApiUser

STORED_URL = re.compile(r"^/avatars/([0-9a-f]{64})\.webp$")


def upload(user: InProcessUser, data: bytes, filename: str = "photo.png", field: str = "avatar"):
    return user.call(
        "POST",
        "/api/me/avatar",
        data={field: (BytesIO(data), filename, "image/png")},
        content_type="multipart/form-data",
    )


def me(user: InProcessUser) -> dict:
    response = user.call("GET", "/api/me")
    assert response.status_code == 200
    return response.get_json()


def stored_files(app: Flask) -> list[str]:
    folder = Path(app.config["UPLOAD_FOLDER"]) / "avatars"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# ---- accepted uploads -----------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "source_format"),
    [(images.png, "PNG"), (images.jpeg, "JPEG"), (images.gif, "GIF"), (images.webp, "WEBP")],
)
def test_each_accepted_format_becomes_a_square_thumbnail_without_metadata(
    app: Flask, make_user, make, source_format: str
) -> None:
    data = make()
    source = Image.open(BytesIO(data))
    assert source.format == source_format and source.size[0] != source.size[1]
    if source_format != "GIF":  # GIF has no EXIF; the others are sent with camera data and GPS
        assert source.getexif().get_ifd(ExifTags.IFD.GPSInfo), "precondition: GPS in the upload"

    alice = make_user("Alice")
    # The file name and declared type are deliberately wrong: only the bytes count.
    response = upload(alice, data, filename="holiday.txt")
    assert response.status_code == 200, response.get_data(as_text=True)
    user = response.get_json()
    assert user["id"] == alice.id and "email" in user
    match = STORED_URL.match(user["avatar_url"])
    assert match, user["avatar_url"]
    assert me(alice)["avatar_url"] == user["avatar_url"]

    served = alice.client.get(user["avatar_url"])
    assert served.status_code == 200
    assert served.mimetype == "image/webp"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    cache = served.headers["Cache-Control"]
    assert "max-age=31536000" in cache and "immutable" in cache
    assert hashlib.sha256(served.data).hexdigest() == match.group(1), "named by its content"
    assert stored_files(app) == [f"{match.group(1)}.webp"]

    thumbnail = Image.open(BytesIO(served.data))
    assert thumbnail.format == "WEBP"
    assert thumbnail.size == (256, 256)
    assert len(thumbnail.getexif()) == 0
    for key in ("exif", "xmp", "icc_profile", "comment"):
        assert key not in thumbnail.info, key
    assert b"Leaky 3000" not in served.data and b"TestCam" not in served.data


def test_a_phone_photo_keeps_its_orientation(make_user) -> None:
    """EXIF orientation 6 (rotate 90 degrees clockwise) is applied, then the tag is gone."""
    alice = make_user()
    response = upload(alice, images.jpeg(size=(300, 200), orientation=6), "IMG_0001.JPG")
    assert response.status_code == 200
    thumbnail = Image.open(BytesIO(alice.client.get(response.get_json()["avatar_url"]).data))
    rgb = thumbnail.convert("RGB")
    # Stored left red / right blue; shown rotated clockwise, red is on top.
    top, bottom = rgb.getpixel((128, 20)), rgb.getpixel((128, 235))
    assert top[0] > 200 and top[2] < 60, top
    assert bottom[2] > 200 and bottom[0] < 60, bottom
    assert len(thumbnail.getexif()) == 0


def test_transparency_survives(make_user) -> None:
    picture = Image.new("RGBA", (200, 200), (0, 0, 0, 0))
    picture.paste((30, 90, 200, 255), (0, 0, 100, 200))
    out = BytesIO()
    picture.save(out, "PNG")
    alice = make_user()
    response = upload(alice, out.getvalue())
    assert response.status_code == 200
    thumbnail = Image.open(BytesIO(alice.client.get(response.get_json()["avatar_url"]).data))
    assert thumbnail.mode == "RGBA"
    assert thumbnail.getpixel((250, 128))[3] == 0
    assert thumbnail.getpixel((5, 128))[3] == 255


# ---- refused uploads ------------------------------------------------------------

REFUSED = {
    "text named .png": (images.not_an_image, 400, "not_an_image"),
    "truncated png": (lambda: images.noisy_png()[:6000], 400, "broken_image"),
    "empty file": (lambda: b"", 400, "not_an_image"),
    "pixel flood 20000x20000": (lambda: images.pixel_flood_png(20000, 20000), 400, None),
    "64 megapixels": (lambda: images.pixel_flood_png(8000, 8000), 400, "image_too_large"),
    "5.5 MB": (lambda: images.sized_file(int(5.5 * images.MB)), 413, "too_large"),
    "6 MB": (lambda: images.sized_file(6 * images.MB), 413, "too_large"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_refused_uploads_keep_the_old_avatar(app: Flask, make_user, case: str) -> None:
    make, status, code = REFUSED[case]
    alice = make_user()
    first = upload(alice, images.png())
    assert first.status_code == 200
    before = first.get_json()["avatar_url"]
    files_before = stored_files(app)

    response = upload(alice, make(), filename="photo.png")
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) >= {"error", "message"} and body["message"]
    if code:
        assert body["error"] == code
    else:
        assert body["error"] in {"image_too_large", "broken_image"}

    assert me(alice)["avatar_url"] == before
    assert stored_files(app) == files_before
    assert alice.client.get(before).status_code == 200


def test_upload_needs_the_avatar_field_and_a_login(client, make_user) -> None:
    alice = make_user()
    response = upload(alice, images.png(), field="photo")
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid"
    no_file = alice.call("POST", "/api/me/avatar", data={}, content_type="multipart/form-data")
    assert no_file.status_code == 400
    anonymous = InProcessUser(client)
    assert upload(anonymous, images.png()).status_code == 401
    assert anonymous.call("DELETE", "/api/me/avatar").status_code == 401
    assert anonymous.call("PATCH", "/api/me", json={"display_name": "x"}).status_code == 401


def test_six_megabytes_get_a_json_413_from_the_real_server(make_api_user) -> None:
    alice: ApiUser = make_api_user()
    response = alice.request(
        "POST",
        "/api/me/avatar",
        files={"avatar": ("big.png", images.sized_file(6 * images.MB), "image/png")},
    )
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"
    assert alice.request("GET", "/api/me").json()["avatar_url"].endswith(".svg")


# ---- removing, sharing, storage ---------------------------------------------------


def test_removing_the_avatar_returns_to_the_default_and_frees_the_file(
    app: Flask, make_user
) -> None:
    alice = make_user("Ada Lovelace")
    default = me(alice)["avatar_url"]
    assert default.endswith(".svg")
    assert upload(alice, images.jpeg()).status_code == 200
    assert len(stored_files(app)) == 1
    response = alice.call("DELETE", "/api/me/avatar")
    assert response.status_code == 200
    assert response.get_json()["avatar_url"] == default
    assert stored_files(app) == []
    # Removing again is harmless.
    assert alice.call("DELETE", "/api/me/avatar").status_code == 200


def test_replacing_the_avatar_deletes_the_old_file(app: Flask, make_user) -> None:
    alice = make_user()
    first = upload(alice, images.png()).get_json()["avatar_url"]
    second = upload(alice, images.webp()).get_json()["avatar_url"]
    assert first != second
    assert stored_files(app) == [second.rsplit("/", 1)[1]]
    assert alice.client.get(first).status_code == 404


def test_identical_pictures_share_one_file_until_the_last_user_lets_go(
    app: Flask, make_user
) -> None:
    alice, bob = make_user("Alice"), make_user("Bob")
    data = images.png()
    url_a = upload(alice, data).get_json()["avatar_url"]
    url_b = upload(bob, data).get_json()["avatar_url"]
    assert url_a == url_b and len(stored_files(app)) == 1
    alice.call("DELETE", "/api/me/avatar")
    assert bob.client.get(url_b).status_code == 200
    bob.call("DELETE", "/api/me/avatar")
    assert stored_files(app) == []


def test_stored_avatars_need_a_login_and_a_well_formed_name(client, make_user) -> None:
    alice = make_user()
    url = upload(alice, images.png()).get_json()["avatar_url"]
    anonymous = client.get(url)
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    assert alice.client.get("/avatars/..%2Fchat.sqlite3").status_code == 404
    assert alice.client.get("/avatars/" + "0" * 64 + ".webp").status_code == 404
    assert alice.client.get("/avatars/not-a-hash.webp").status_code == 404


def test_upload_folder_is_configurable_and_defaults_under_instance(
    tmp_path: Path, migrated_template: Path
) -> None:
    from config import INSTANCE_DIR, Config

    assert Path(Config.UPLOAD_FOLDER) == INSTANCE_DIR / "uploads"
    app = create_app("testing", UPLOAD_FOLDER="media", SQLALCHEMY_DATABASE_URI="sqlite://")
    with app.app_context():
        assert avatars.avatar_folder() == Path(app.instance_path) / "media" / "avatars"
    app = create_app(
        "testing", UPLOAD_FOLDER=str(tmp_path / "x"), SQLALCHEMY_DATABASE_URI="sqlite://"
    )
    with app.app_context():
        assert avatars.avatar_folder() == tmp_path / "x" / "avatars"


# ---- default avatars ----------------------------------------------------------------


def test_default_avatar_is_the_initials_on_a_stable_colour(make_user) -> None:
    alice = make_user("Ada Lovelace")
    url = me(alice)["avatar_url"]
    response = alice.client.get(url)
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "max-age=31536000" in response.headers["Cache-Control"]
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    svg = ElementTree.fromstring(response.data)
    text = svg.find("{http://www.w3.org/2000/svg}text")
    assert text is not None and text.text == "AL"

    renamed = alice.call("PATCH", "/api/me", json={"display_name": "김민수"}).get_json()
    assert renamed["avatar_url"] != url, "a rename changes the URL, so no cache shows old initials"
    assert renamed["avatar_url"].split("/")[3] == url.split("/")[3], "the colour stays"
    svg = ElementTree.fromstring(alice.client.get(renamed["avatar_url"]).data)
    assert svg.find("{http://www.w3.org/2000/svg}text").text == "김"


def test_default_avatar_escapes_what_the_name_carries(make_user) -> None:
    alice = make_user("<script>alert(1)</script> &\"'")
    response = alice.client.get(me(alice)["avatar_url"])
    assert response.status_code == 200
    assert b"<script" not in response.data
    svg = ElementTree.fromstring(response.data)  # still well-formed XML
    assert svg.find("{http://www.w3.org/2000/svg}text").text == "<&"
    assert [child.tag.split("}")[1] for child in svg] == ["rect", "text"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Ada Lovelace", "AL"),
        ("ada", "A"),
        ("김 민수", "김민"),
        ("🦊 Fox", "🦊F"),
        ("👩‍👩‍👧 family", "👩‍👩‍👧F"),
        ("🇰🇷 Seoul", "🇰🇷S"),
        ("e\u0301mile zola", "E\u0301Z"),
        ("محمد علي", "مع"),
        ("straße", "S"),
    ],
)
def test_initials(name: str, expected: str) -> None:
    assert avatars.initials(name) == expected


def test_default_avatar_urls_that_we_never_made_are_404(client) -> None:
    for path in [
        "/avatars/default/0/.svg",
        "/avatars/default/99/QQ.svg",
        "/avatars/default/0/%%%.svg",
        "/avatars/default/0/AA.svg",  # decodes to a control character
        "/avatars/default/0/" + "QUFB" * 30 + ".svg",  # too long
    ]:
        assert client.get(path).status_code == 404, path


def test_palette_colours_keep_white_initials_readable() -> None:
    def luminance(hex_colour: str) -> float:
        channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    for colour in avatars.PALETTE:
        assert 1.05 / (luminance(colour) + 0.05) >= 4.5, colour


# ---- display names --------------------------------------------------------------------

ROUND_TRIP = [
    "김민수",
    "이서연 🌸",
    "🦊🦊🦊",
    "👩‍👩‍👧‍👦 Family",
    "محمد علي",
    "דנה לוי",
    "Zoë e\u0301",
    "名前",
    "가" * 50,
]


@pytest.mark.parametrize("name", ROUND_TRIP)
def test_names_in_any_script_round_trip(make_user, name: str) -> None:
    alice, bob = make_user("Alice"), make_user("Bob")
    response = alice.call("PATCH", "/api/me", json={"display_name": f"  {name}\u3000"})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["display_name"] == name
    assert me(alice)["display_name"] == name
    seen = bob.call("GET", f"/api/users/{alice.id}").get_json()
    assert seen["display_name"] == name
    page = bob.client.get(f"/people/{alice.id}").get_data(as_text=True)
    assert name in page


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"display_name": ""},
        {"display_name": "   "},
        {"display_name": "x" * 51},
        {"display_name": "가" * 51},
        {"display_name": 42},
        {"display_name": None},
        {"display_name": "nul\x00byte"},
        {"display_name": "two\nlines"},
        {"display_name": "bell\x07"},
        {"display_name": "line\u2028separator"},
    ],
)
def test_bad_display_names_are_400_and_change_nothing(make_user, payload: dict) -> None:
    alice = make_user("Alice")
    response = alice.call("PATCH", "/api/me", json=payload)
    assert response.status_code == 400, payload
    body = response.get_json()
    assert body["error"] == "invalid" and body["message"]
    assert me(alice)["display_name"] == "Alice"


def test_user_lookup_hides_email_and_404s_for_nobody(make_user) -> None:
    alice, bob = make_user("Alice"), make_user("Bob")
    seen = bob.call("GET", f"/api/users/{alice.id}").get_json()
    assert set(seen) == {"id", "display_name", "avatar_url", "created_at", "online"}
    assert seen["online"] is False
    missing = bob.call("GET", f"/api/users/{uuid.uuid4()}")
    assert missing.status_code == 404 and missing.get_json()["error"] == "not_found"
    assert bob.call("GET", "/api/users/not-a-uuid").status_code == 404


# ---- the profile page ---------------------------------------------------------------------


def test_profile_page_renames_and_uploads_with_forms(make_user) -> None:
    alice = make_user("Alice")
    page = alice.client.get("/profile")
    assert page.status_code == 200 and "Your profile" in page.get_data(as_text=True)
    renamed = alice.client.post(
        "/profile", data={"csrf_token": alice.csrf, "name-display_name": " 앨리스 "}
    )
    assert renamed.status_code == 302
    assert me(alice)["display_name"] == "앨리스"

    uploaded = alice.client.post(
        "/profile/avatar",
        data={"csrf_token": alice.csrf, "photo-avatar": (BytesIO(images.jpeg()), "me.jpg")},
        content_type="multipart/form-data",
    )
    assert uploaded.status_code == 302
    url = me(alice)["avatar_url"]
    assert STORED_URL.match(url)
    assert url in alice.client.get("/profile").get_data(as_text=True)

    refused = alice.client.post(
        "/profile/avatar",
        data={"csrf_token": alice.csrf, "photo-avatar": (BytesIO(images.not_an_image()), "a.png")},
        content_type="multipart/form-data",
    )
    assert refused.status_code == 400
    assert "not a PNG, JPEG, GIF or WebP" in refused.get_data(as_text=True)
    assert me(alice)["avatar_url"] == url

    bad_name = alice.client.post(
        "/profile", data={"csrf_token": alice.csrf, "name-display_name": "tab\there"}
    )
    assert bad_name.status_code == 400
    assert me(alice)["display_name"] == "앨리스"

    removed = alice.client.post("/profile/avatar/remove", data={"csrf_token": alice.csrf})
    assert removed.status_code == 302
    assert me(alice)["avatar_url"].endswith(".svg")


def test_profile_forms_need_the_csrf_token(make_user) -> None:
    alice = make_user("Alice")
    response = alice.client.post("/profile", data={"name-display_name": "Mallory"})
    assert response.status_code == 400
    assert me(alice)["display_name"] == "Alice"


def test_registration_follows_the_same_name_rule(client) -> None:
    user = InProcessUser(client)
    response = user.call(
        "POST",
        "/api/auth/register",
        json={
            "email": "nul@example.org",
            "password": "a long enough password",
            "display_name": "nul\x00name",
        },
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid"


def test_openapi_lists_the_people_endpoints(client) -> None:
    paths = client.get("/api/openapi.json").get_json()["paths"]
    for path, method in [
        ("/api/me", "patch"),
        ("/api/me/avatar", "post"),
        ("/api/me/avatar", "delete"),
        ("/api/users", "get"),
        ("/api/users/{user_id}", "get"),
        ("/api/rooms/direct", "post"),
    ]:
        assert method in paths.get(path, {}), (method, path)
    upload_body = paths["/api/me/avatar"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in upload_body
