"""Start ``motcua-node`` / ``motcua-central`` processes without paying Python's start-up each time.

A fresh ``python -m node.cli ...`` spends about 0.2 s (0.5 s and more on a loaded machine) starting the
interpreter and importing Flask, waitress, cryptography and our packages before it does any work, and
the end-to-end tests start hundreds of them: CLI commands to set a world up and the servers themselves.
The fork server is one process per test worker that has imported all of that once; for each command it
forks a child, which is a real, separate OS process: its own pid, environment, working directory, stdin,
stdout and stderr files, its own sockets, threads and SQLite connections, killed by real signals, dying
with its exit code. The child calls the program's console entry point (``node.cli:main``, what the
installed ``motcua-node`` script calls) with the arguments, then exits as an interpreter does (non-daemon
threads joined, atexit handlers run, streams flushed).

What differs from ``subprocess.Popen``: the modules are imported before the child gets its environment
(our packages read settings and environment variables when a command runs, not at import), the children
share the fork server's hash seed, and the parent process that reaps them is the fork server, so the
handle (``Process``) asks it for the exit status. Code from another checkout (an older release unpacked
in a temp folder) cannot come from here: the harness starts those with a fresh interpreter.

Run as ``python -m tests.e2e.forkserver`` by ``ForkServer``; requests and replies are JSON lines on the
server's stdin and stdout.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# What the servers and CLI commands import (most of it lazily, inside the commands); a module left out
# is only imported later, in each child.
PRELOAD = ("node.cli", "central.cli", "node", "node.sync", "node.backup", "node.db", "node.provision",
           "central.app", "central.provision", "central.db", "appshell.web", "appshell.logs", "waitress",
           "waitress.server", "requests", "flask", "jinja2", "click")
PROGRAMS = ("node.cli", "central.cli")  # ``-m`` modules with a click ``main`` the fork server can run


def serves(module: str, cwd: Path = ROOT) -> bool:
    """Whether ``python -m module`` run in ``cwd`` can come from the fork server: one of this checkout's
    programs, unless ``MOTCUA_TEST_FORKSERVER=0`` asks for a fresh interpreter each time."""
    return (os.environ.get("MOTCUA_TEST_FORKSERVER", "1") != "0" and module in PROGRAMS
            and Path(cwd).resolve() == ROOT)


# --- the server side (runs in its own process) -----------------------------------------------------------

def _child(request: dict, ctl: tuple[int, int]) -> None:
    """In the forked child: become the requested command, then exit like an interpreter. Never returns."""
    code = 1
    try:
        for fd in ctl:
            os.close(fd)
        os.chdir(request["cwd"])
        if request.get("umask") is not None:
            os.umask(request["umask"])
        os.environ.clear()
        os.environ.update(request["env"])
        time.tzset()  # TZ as a fresh process would read it
        stdin = os.open(request["stdin"] or os.devnull, os.O_RDONLY)
        stdout = os.open(request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        stderr = stdout if request["stderr"] == request["stdout"] else os.open(
            request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        for fd, target in ((stdin, 0), (stdout, 1), (stderr, 2)):
            os.dup2(fd, target)
        for fd in {stdin, stdout, stderr}:
            os.close(fd)
        module = request["module"]
        sys.argv = [str(ROOT / (module.replace(".", "/") + ".py")), *request["args"]]
        import importlib
        main = importlib.import_module(module).main
        try:
            main(args=request["args"], prog_name=f"python -m {module}")  # what click shows for ``-m``
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if exc.code is not None and not isinstance(exc.code, int):
                print(exc.code, file=sys.stderr)
        except BaseException:
            import traceback
            traceback.print_exc()
            code = 1
        threading._shutdown()  # type: ignore[attr-defined]  # as the interpreter does at exit
        import atexit
        atexit._run_exitfuncs()
    except BaseException:
        try:
            import traceback
            traceback.print_exc()
        except BaseException:
            pass
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:
            pass
        os._exit(code)


def _serve() -> None:
    ctl_in, ctl_out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(2, 1)  # nothing of ours is printed; a stray print goes to the test worker's stderr
    os.close(devnull)
    import importlib
    for name in PRELOAD:
        importlib.import_module(name)
    reader = os.fdopen(ctl_in, "r", encoding="utf-8")
    writer = os.fdopen(ctl_out, "w", encoding="utf-8")

    def reply(value) -> None:
        writer.write(json.dumps(value) + "\n")
        writer.flush()

    reply({"ready": os.getpid()})
    for line in reader:  # blocking reads only: no timed waits here (see faketime_unsafe in pyproject)
        request = json.loads(line)
        if request["op"] == "spawn":
            pid = os.fork()
            if pid == 0:
                _child(request, (ctl_in, ctl_out))
            reply({"pid": pid})
        elif request["op"] == "poll":
            try:
                done, status = os.waitpid(request["pid"], os.WNOHANG)
            except ChildProcessError:
                reply({"error": "no such child"})
                continue
            reply({"returncode": os.waitstatus_to_exitcode(status) if done else None})


# --- the client side (the test worker) -------------------------------------------------------------------

class ForkServer:
    """One fork server per test process, started on first use, gone when the test process ends."""

    _instance: ForkServer | None = None
    _instance_lock = threading.Lock()

    @classmethod
    def get(cls) -> ForkServer:
        with cls._instance_lock:
            if cls._instance is None or cls._instance.proc.poll() is not None:
                cls._instance = cls()
            return cls._instance

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.e2e.forkserver"], cwd=ROOT,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8")
        ready = self.proc.stdout.readline()
        if not ready:
            raise RuntimeError("the fork server did not start (see stderr)")

    def request(self, **message) -> dict:
        with self.lock:
            self.proc.stdin.write(json.dumps(message) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the fork server stopped")
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"fork server: {answer['error']}")
        return answer

    def spawn(self, module: str, args: list[str], *, env: dict, cwd: Path, stdin: str | None, stdout: str,
              stderr: str, umask: int | None = None) -> Process:
        pid = self.request(op="spawn", module=module, args=list(args), env=dict(env), cwd=str(cwd), stdin=stdin,
                           stdout=stdout, stderr=stderr, umask=umask)["pid"]
        return Process(self, pid, [sys.executable, "-m", module, *args])


class Process:
    """The part of ``subprocess.Popen`` the harness uses, for a child of the fork server."""

    def __init__(self, server: ForkServer, pid: int, args: list[str]):
        self.server, self.pid, self.args = server, pid, args
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self.server.request(op="poll", pid=self.pid)["returncode"]
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.002
        while self.poll() is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(self.args, timeout)
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        import signal
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        import signal
        self.send_signal(signal.SIGKILL)


def run(module: str, args: list[str], *, input: str | None, timeout: float, cwd: Path = ROOT,
        env: dict | None = None, umask: int | None = None) -> subprocess.CompletedProcess:
    """``subprocess.run([python, "-m", module, *args], input=input, capture_output=True, text=True)``, from
    the fork server when it ``serves`` the module, else exactly that; ``umask``: the child's umask."""
    args = [str(a) for a in args]
    if not serves(module, cwd):
        return subprocess.run([sys.executable, "-m", module, *args], input=input, capture_output=True, text=True,
                              timeout=timeout, cwd=cwd, env=env,
                              preexec_fn=None if umask is None else (lambda: os.umask(umask)))
    with tempfile.TemporaryDirectory(prefix="motcua-cli-") as tmp:
        stdin = None
        if input is not None:
            stdin = os.path.join(tmp, "stdin")
            with open(stdin, "w") as f:
                f.write(input)
        out, err = os.path.join(tmp, "stdout"), os.path.join(tmp, "stderr")
        proc = ForkServer.get().spawn(module, args, env=dict(os.environ) if env is None else env, cwd=cwd,
                                      stdin=stdin, stdout=out, stderr=err, umask=umask)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        with open(out) as o, open(err) as e:
            return subprocess.CompletedProcess(proc.args, proc.returncode, o.read(), e.read())


if __name__ == "__main__":
    _serve()
