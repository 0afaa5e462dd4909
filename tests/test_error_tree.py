"""The error tree drawn in ``_exceptions``'s docstring and in the README is the real hierarchy."""

from __future__ import annotations

import errno
import inspect
import os
import re
from pathlib import Path

import pytest

import karbon_async as ka
from karbon_async import _exceptions
from karbon_async import models as m
from karbon_async.testing import FakeKarbon, Fault

README = Path(__file__).resolve().parent.parent / "README.md"


def error_classes() -> dict[str, type[BaseException]]:
    return {
        name: value
        for name, value in vars(_exceptions).items()
        if inspect.isclass(value) and issubclass(value, ka.KarbonError)
    }


def test_every_error_is_exported() -> None:
    for name, cls in error_classes().items():
        assert name in ka.__all__
        assert getattr(ka, name) is cls


def test_the_docstring_tree_matches_the_class_hierarchy() -> None:
    doc = _exceptions.__doc__ or ""
    parents: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for line in doc.splitlines():
        match = re.match(r"^[\s│]*(?:[├└]── )?([A-Z]\w+Error)\b", line)
        if not match:
            continue
        depth, name = match.start(1), match.group(1)
        while stack and stack[-1][0] >= depth:
            stack.pop()
        if stack:
            parents[name] = stack[-1][1]
        stack.append((depth, name))
    classes = error_classes()
    assert set(parents) | {"KarbonError"} == set(classes)
    for name, parent in parents.items():
        assert classes[name].__bases__[0] is classes[parent], name


def test_the_readme_tree_names_every_error() -> None:
    text = README.read_text(encoding="utf-8")
    tree = text[text.index("KarbonError\n├──") :]
    tree = tree[: tree.index("```")]
    assert set(re.findall(r"\b[A-Z]\w+Error\b", tree)) == set(error_classes())


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, ka.BadRequestError),
        (409, ka.ConflictError),
        (422, ka.UnprocessableEntityError),
        (418, ka.APIStatusError),
    ],
)
def test_status_classes(status: int, cls: type[ka.APIStatusError]) -> None:
    assert _exceptions.status_error_class(status) is cls


async def test_a_422_on_creating_a_user_raises_unprocessable_entity() -> None:
    body = {"error": {"code": "4022", "message": "A user with this email address already exists"}}
    async with FakeKarbon(rate_limit=None, size=3) as fake:
        fake.add_fault(Fault.status(422, body), method="POST", path="/v3/Users")
        account = fake.accounts[0]
        async with ka.KarbonClient(
            bearer_token=account.bearer_token,
            access_key=account.access_key,
            base_url=fake.base_url,
        ) as client:
            request = m.CreateUserRequest(name="Ann", email_address="ann@example.com")
            with pytest.raises(ka.UnprocessableEntityError) as caught:
                await client.users.create(request)
            retried = len(account.arrivals)
    assert isinstance(caught.value, ka.APIStatusError)
    assert caught.value.status == 422
    assert caught.value.code == "4022"
    assert "already exists" in str(caught.value.message)
    assert retried == 1, "a 422 is final: never retried"


# Exceptions that never reach a caller: the command's bad input (main() turns it into exit code
# 2) and the converter's private control flow.
NOT_RAISED_TO_CALLERS = {"UsageError", "Fallback"}  # the compiled decoder's internal signal


def test_every_error_the_package_defines_is_a_karbon_error() -> None:
    """One root: an error class defined anywhere in the package (FakeKarbon's internals aside)
    derives from KarbonError, also when it is an OSError or ValueError as well."""
    import importlib
    import pkgutil

    outside = []
    seen = 0
    for info in pkgutil.walk_packages(ka.__path__, "karbon_async."):
        if info.name.startswith("karbon_async.testing") or info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if not (inspect.isclass(value) and issubclass(value, BaseException)):
                continue
            if value.__module__ != info.name or name in NOT_RAISED_TO_CALLERS:
                continue
            seen += 1
            if not issubclass(value, ka.KarbonError):
                outside.append(f"{info.name}.{name}")
    assert seen >= 20
    assert outside == []


def test_local_write_error_is_an_oserror_under_the_root(tmp_path: Path) -> None:
    from karbon_async import export
    from karbon_async._statefile import write_all

    assert export.LocalWriteError is ka.LocalWriteError
    assert issubclass(export.ExportStateError, ka.KarbonError)
    fd = os.open(tmp_path / "f", os.O_RDONLY | os.O_CREAT)
    try:
        with pytest.raises(ka.KarbonError) as caught:
            write_all(fd, b"x", tmp_path / "f")
    finally:
        os.close(fd)
    error = caught.value
    assert isinstance(error, ka.LocalWriteError)
    assert isinstance(error, OSError)
    assert error.errno == errno.EBADF
    assert error.filename == str(tmp_path / "f")
    assert str(error).startswith(f"cannot write {tmp_path / 'f'}: ")
