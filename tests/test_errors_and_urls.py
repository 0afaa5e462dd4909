from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import karbon_async as ka
from karbon_async._exceptions import parse_error_body
from karbon_async._urls import ensure_same_origin, odata_key_literal, origin_of, path_segment


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"error":{"code":"4004","message":"Not here"}}', ("4004", "Not here")),
        (
            b'{"error":{"code":"4003","message":"Invalid Model.","details":{"code":"X"}}}',
            ("4003", "Invalid Model."),
        ),
        (b'{"Error":{"Code":"4002","Message":"overpay"}}', ("4002", "overpay")),
        (
            b'{"statusCode":"429","message":"Rate limit is exceeded."}',
            ("429", "Rate limit is exceeded."),
        ),
        (
            b'{"error":{"statusCode":"401","message":"JWT not present."}}',
            ("401", "JWT not present."),
        ),
        (b"<html>Bad Gateway</html>", (None, "<html>Bad Gateway</html>")),
        (b"", (None, None)),
        (b"[1,2]", (None, "[1,2]")),
    ],
)
def test_every_error_body_shape(body: bytes, expected: tuple[str | None, str | None]) -> None:
    code, message, _ = parse_error_body(body)
    assert (code, message) == expected


def test_error_tree() -> None:
    for cls in (
        ka.BadRequestError,
        ka.AuthenticationError,
        ka.PermissionDeniedError,
        ka.NotFoundError,
        ka.ConflictError,
        ka.RateLimitError,
        ka.ServerError,
    ):
        assert issubclass(cls, ka.APIStatusError)
    for cls in (ka.APIStatusError, ka.TransportError, ka.UnsafeURLError, ka.ConfigurationError):
        assert issubclass(cls, ka.KarbonError)
    assert issubclass(ka.ConnectError, ka.TransportError)
    assert issubclass(ka.RequestTimeoutError, ka.TransportError)


def test_foreign_origins_are_refused() -> None:
    origin = origin_of("https://api.karbonhq.com")
    assert origin == ("https", "api.karbonhq.com", 443)
    ensure_same_origin("https://API.karbonhq.com:443/v3/Contacts?$skip=100", origin)
    for url in (
        "http://api.karbonhq.com/v3/Contacts",
        "https://api.karbonhq.com:8443/v3/Contacts",
        "https://api.karbonhq.com.evil.example/v3/Contacts",
        "https://evil.example/?https://api.karbonhq.com",
        "//api.karbonhq.com/v3",
    ):
        with pytest.raises(ka.UnsafeURLError):
            ensure_same_origin(url, origin)


@given(st.text(min_size=1))
def test_path_keys_cannot_change_the_path(key: str) -> None:
    try:
        segment = path_segment(key)
    except ValueError:
        return
    for forbidden in "/?#":
        assert forbidden not in segment
    assert segment not in (".", "..")


@pytest.mark.parametrize("key", ["", " ", "a/b", "a?b", "a#b", "..", "a\nb", "a\\b"])
def test_bad_keys_are_refused(key: str) -> None:
    with pytest.raises(ValueError):
        path_segment(key)


def test_odata_key_literal_doubles_quotes() -> None:
    assert odata_key_literal("MAG-C-0042") == "'MAG-C-0042'"
    assert odata_key_literal("O'Brien") == "'O''Brien'"
    assert odata_key_literal("a b") == "'a%20b'"
