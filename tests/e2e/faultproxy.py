"""A fault-injecting TCP proxy for sync tests (this kernel has no tc netem).

Runs an asyncio loop in a daemon thread, listening on 127.0.0.1 and forwarding to a target
port. Faults can be changed while it runs:

    latency      seconds added before each forwarded chunk (each direction)
    bandwidth    bytes per second per direction (0 = unlimited); sleeps to shape
    drop_after   close a connection after this many bytes upstream (mid-body), once per setting
    reset        answer new connections with a TCP reset
    stall        accept and read, but forward nothing (the peer must time out)
    down         refuse new connections (closed immediately)
    tamper       flip one bit near the end of every response chunk (a forger on the path)
Counters: bytes_up / bytes_down (what crossed the "wire").
"""
from __future__ import annotations

import asyncio
import socket
import struct
import threading
from dataclasses import dataclass


@dataclass
class Faults:
    latency: float = 0.0
    bandwidth: int = 0
    drop_after: int = 0
    reset: bool = False
    stall: bool = False
    down: bool = False
    tamper: bool = False


class FaultProxy:
    CHUNK = 4096

    def __init__(self, target_port: int, target_host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self.faults = Faults()
        self.bytes_up = 0
        self.bytes_down = 0
        self.connections = 0
        self._loop = asyncio.new_event_loop()
        self._server = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="fault-proxy")
        self._writers: set = set()
        self.port = None

    # -- control -------------------------------------------------------------------------------
    def start(self) -> FaultProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("proxy did not start")
        return self

    def stop(self) -> None:
        async def shutdown():
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            # end every pipe now: a coroutine left suspended would be closed when the loop is collected,
            # raising "Event loop is closed" as an unraisable exception at the end of the test session
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def set(self, **faults) -> None:
        for key, value in faults.items():
            if not hasattr(self.faults, key):
                raise AttributeError(key)
            setattr(self.faults, key, value)

    def heal(self) -> None:
        self.faults = Faults()

    def cut_all(self) -> None:
        """Abort every open connection (as when a link dies mid-transfer)."""
        def abort():
            for writer in list(self._writers):
                writer.transport.abort()
        self._loop.call_soon_threadsafe(abort)

    @property
    def idle(self) -> bool:
        """Every exchange through the proxy is closed or closing (after cut_all, once the loop has aborted them;
        a stalled pipe notices only when the stall ends)."""
        return all(writer.transport.is_closing() for writer in list(self._writers))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- loop ----------------------------------------------------------------------------------
    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _handle(self, reader, writer):
        self.connections += 1
        faults = self.faults
        if faults.down:
            writer.transport.abort()
            return
        if faults.reset:
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return
        self._writers.add(writer)  # from here on a cut_all reaches it, even while central is dialled
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            self._writers.discard(writer)
            writer.transport.abort()
            return
        if writer.transport.is_closing() or self.faults.down:  # cut (or the link went down) meanwhile
            self._writers.discard(writer)
            for w in (writer, up_writer):
                w.transport.abort()
            return
        self._writers.add(up_writer)
        budget = {"left": faults.drop_after or None}
        try:
            await asyncio.gather(self._pipe(reader, up_writer, "up", budget),
                                 self._pipe(up_reader, writer, "down", budget))
        except Exception:
            pass
        finally:
            for w in (writer, up_writer):
                self._writers.discard(w)
                w.transport.abort()

    async def _pipe(self, reader, writer, direction, budget):
        while True:
            data = await reader.read(self.CHUNK)
            if not data:
                writer.close()
                return
            faults = self.faults
            while faults.stall:
                await asyncio.sleep(0.05)
                faults = self.faults
            if faults.latency:
                await asyncio.sleep(faults.latency)
            if direction == "down" and faults.tamper and len(data) > 64:
                data = data[:-10] + bytes([data[-10] ^ 0x01]) + data[-9:]
            if direction == "up" and budget["left"] is not None:
                if len(data) >= budget["left"]:
                    writer.write(data[:budget["left"]])
                    self.bytes_up += budget["left"]
                    raise ConnectionResetError("dropped by proxy")
                budget["left"] -= len(data)
            if direction == "up":
                self.bytes_up += len(data)
            else:
                self.bytes_down += len(data)
            if faults.bandwidth:
                # shape in small slices so a 64 kbit/s link behaves like one
                step = max(1, faults.bandwidth // 20)
                for i in range(0, len(data), step):
                    piece = data[i:i + step]
                    writer.write(piece)
                    await writer.drain()
                    await asyncio.sleep(len(piece) / faults.bandwidth)
            else:
                writer.write(data)
                await writer.drain()
