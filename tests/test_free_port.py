"""The tests' own port picker (tests/fixtures): parallel workers and outgoing connections never
take a port a test is about to give a server."""

from __future__ import annotations

import socket

import pytest

from tests.fixtures import PORTS, _ephemeral_range, free_port


def test_ports_are_outside_the_ephemeral_range_and_never_given_twice() -> None:
    low, high = _ephemeral_range()
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    assert all(p in PORTS and not low <= p <= high for p in ports)


def test_a_busy_port_is_not_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)  # all of PORTS is ours
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", PORTS.start))
        busy.listen()
        monkeypatch.setattr("tests.fixtures.PORTS", range(PORTS.start, PORTS.start + 2))
        monkeypatch.setattr("tests.fixtures._given", set())
        assert free_port() == PORTS.start + 1


def test_parallel_workers_get_disjoint_shares(monkeypatch: pytest.MonkeyPatch) -> None:
    shares = []
    for worker in ("gw0", "gw1", "gw2"):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
        monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "3")
        shares.append({free_port() for _ in range(50)})
    # Each worker draws from its own third of PORTS, in worker order.
    assert max(shares[0]) < min(shares[1]) and max(shares[1]) < min(shares[2])
