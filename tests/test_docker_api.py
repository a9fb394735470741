"""What stackkit reads from the Docker Engine API: container state and bound ports, log tails
(framed or not), in whatever shape an engine answers."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator

import pytest

from stackkit.docker_api import Engine

Answers = dict[str, tuple[int, str, bytes]]


@pytest.fixture
def engine() -> Iterator[tuple[Engine, Answers]]:
    """An engine at a local HTTP server that answers each path (without query) as told."""
    answers: Answers = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, content_type, body = answers.get(
                self.path.split("?")[0], (404, "application/json", b'{"message": "no such"}')
            )
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield Engine(f"tcp://127.0.0.1:{server.server_address[1]}"), answers
    server.shutdown()


def _frame(stream: int, text: bytes) -> bytes:
    return bytes([stream, 0, 0, 0]) + len(text).to_bytes(4, "big") + text


def test_state_of_a_restarting_container_names_the_ports_it_binds(
    engine: tuple[Engine, Answers],
) -> None:
    api, answers = engine
    inspect = {
        "State": {"Status": "restarting", "ExitCode": 1},
        "RestartCount": 7,
        "HostConfig": {
            "PortBindings": {
                "4317/tcp": [{"HostIp": "127.0.0.1", "HostPort": "4317"}],
                "13133/tcp": [{"HostIp": "127.0.0.1", "HostPort": "13133"}],
                "9/tcp": [{"HostPort": ""}, {"HostPort": "99999"}, "junk"],
            }
        },
    }
    answers["/containers/s-otelcol/json"] = (200, "application/json", json.dumps(inspect).encode())
    state = api.state("s-otelcol")
    assert state is not None
    assert (state.status, state.exit_code, state.restarts) == ("restarting", 1, 7)
    assert state.host_ports == {4317, 13133}
    assert api.state("nothing-here") is None


@pytest.mark.parametrize(
    "body", [b"[]", b'{"State": "x", "HostConfig": 3, "RestartCount": true}', b"{}"]
)
def test_state_in_a_strange_shape_is_read_safely(
    engine: tuple[Engine, Answers], body: bytes
) -> None:
    api, answers = engine
    answers["/containers/c/json"] = (200, "application/json", body)
    state = api.state("c")
    assert state is None or (state.status == "?" and state.restarts == 0 and not state.host_ports)


def test_log_tail_of_framed_and_raw_output(engine: tuple[Engine, Answers]) -> None:
    api, answers = engine
    framed = _frame(1, b"starting\n") + _frame(2, b"Error: bad config\x1b[31m\n'x' unknown\n")
    answers["/containers/a/logs"] = (200, "application/vnd.docker.multiplexed-stream", framed)
    assert api.log_tail("a", 2) == ["Error: bad config\\x1b[31m", "'x' unknown"]
    # A TTY container's output is not framed; older engines call framed output raw-stream.
    answers["/containers/b/logs"] = (200, "application/vnd.docker.raw-stream", b"one\ntwo\n")
    assert api.log_tail("b", 5) == ["one", "two"]
    answers["/containers/c/logs"] = (200, "application/vnd.docker.raw-stream", framed)
    assert api.log_tail("c", 1) == ["'x' unknown"]
    assert api.log_tail("gone") == []
