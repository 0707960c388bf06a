"""The GraphQL app on a real loopback port: in-process (:class:`Server`) or as ``govreg serve``
in a subprocess (:class:`Serve`), and the sample city with one core element."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from registry.api.app import create_app
from registry.home import Registry
from registry.load import load_valid_home
from registry.store import Store
from registry.vocab import SecurityLevel
from tests.support.cli import GOVREG
from tests.support.paths import CITY

CORE = "tax_paid_amount"  # owner tax; real_estate and big_data_center hold agreements for it


def city_with_a_core_element() -> Registry:
    registry, _ = load_valid_home(CITY)
    els = dict(registry.elements)
    els[CORE] = els[CORE].model_copy(update={"security": SecurityLevel.CORE})
    sections = {name: dict(section) for name, section in registry.sections()}
    sections["elements"] = els
    return Registry.build(registry.settings, sections)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """The real app on a loopback port; ``options`` go to ``create_app`` (a 4 KB body limit unless
    given)."""

    def __init__(self, store: Store, **options: Any):
        self.store = store
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(store, **{"max_body": 4096, **options}),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 300  # a ceiling for a hung start, not a budget
        while not self.server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *_: Any) -> None:
        self.server.should_exit = True
        self.thread.join(10)


class Serve:
    """``govreg serve`` in a subprocess; its log goes to a file the test can read."""

    def __init__(self, url: str, folder: Path, *args: str, env: dict[str, str] | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / f"serve-{self.port}.log"
        self.cmd = [*GOVREG, "serve", "--store", url, "--port", str(self.port), *args]
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Serve:
        out = self.log.open("wb")
        self.proc = subprocess.Popen(self.cmd, stdout=out, stderr=subprocess.STDOUT, env=self.env)
        for _ in range(600):  # bounded: 600 tries, whatever the machine's speed
            if self.proc.poll() is not None:
                pytest.fail(f"govreg serve exited {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=5).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        pytest.fail(f"govreg serve did not answer: {self.log.read_text()[-2000:]}")

    def __exit__(self, *_: Any) -> None:
        assert self.proc is not None
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def post(self, token: str | None, body: Any = None, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        headers.update(kw.pop("headers", {}))
        if body is not None:
            kw["json"] = body
        return httpx.post(self.url + "/graphql", headers=headers, timeout=kw.pop("timeout", 60), **kw)
