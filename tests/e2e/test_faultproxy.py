"""The proxy itself: forwards, shapes, drops, resets and stalls as told."""
import contextlib
import socket
import threading
import time

import pytest

from tests.e2e.faultproxy import FaultProxy


@pytest.fixture
def echo_port():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    stop = threading.Event()

    def serve():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            def echo(c):
                with c:
                    while True:
                        try:
                            data = c.recv(65536)
                        except OSError:
                            return
                        if not data:
                            return
                        c.sendall(data)
            threading.Thread(target=echo, args=(conn,), daemon=True).start()
    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1]
    stop.set()
    server.close()


@pytest.fixture
def proxy(echo_port):
    p = FaultProxy(echo_port).start()
    yield p
    p.stop()


def roundtrip(port, payload, timeout=5.0):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(payload)
        received = b""
        while len(received) < len(payload):
            chunk = s.recv(65536)
            if not chunk:
                break
            received += chunk
        return received


def test_forwards_both_ways_and_counts_bytes(proxy):
    assert roundtrip(proxy.port, b"hello" * 100) == b"hello" * 100
    assert proxy.bytes_up == 500 and proxy.bytes_down == 500


def test_bandwidth_cap_slows_a_transfer(proxy):
    proxy.set(bandwidth=20_000)
    started = time.monotonic()
    assert roundtrip(proxy.port, b"x" * 10_000) == b"x" * 10_000
    assert time.monotonic() - started >= 0.4  # 10 kB each way at 20 kB/s, both directions overlap


def test_drop_after_n_bytes_cuts_the_connection(proxy):
    proxy.set(drop_after=100)
    assert len(roundtrip(proxy.port, b"y" * 1000)) < 1000


def test_reset_and_down_refuse_connections(proxy):
    proxy.set(reset=True)
    with pytest.raises(OSError):
        roundtrip(proxy.port, b"z" * 10)
    proxy.set(reset=False, down=True)
    with contextlib.suppress(ConnectionResetError):
        assert roundtrip(proxy.port, b"z" * 10) == b""


def test_stall_makes_the_peer_time_out(proxy):
    proxy.set(stall=True)
    with pytest.raises(socket.timeout):
        roundtrip(proxy.port, b"s" * 10, timeout=0.5)
    proxy.heal()
    assert roundtrip(proxy.port, b"ok") == b"ok"
