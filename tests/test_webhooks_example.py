"""examples/webhook_worker.py runs end to end against an embedded FakeKarbon."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "webhook_worker.py"


async def test_example_worker_self_test(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("webhook_worker_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        code = await module.amain(["--self-test", "--listen", "127.0.0.1:0", "--timeout", "10"])
    finally:
        del sys.modules[spec.name]
    out = capsys.readouterr().out
    assert code == 0, out
    assert "subscription Work: created" in out
    assert "description='self-test change'" in out
    assert "self-test passed" in out


async def test_example_worker_needs_credentials(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("KARBON_BEARER_TOKEN", "KARBON_ACCESS_KEY", "KARBON_WEBHOOK_SIGNING_KEY"):
        monkeypatch.delenv(name, raising=False)
    spec = importlib.util.spec_from_file_location("webhook_worker_example2", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        assert await module.amain(["--signing-key", "k" * 20]) == 2
    finally:
        del sys.modules[spec.name]
    assert "KARBON_BEARER_TOKEN" in capsys.readouterr().err
