"""make demo: a central and one enrolled commune node with sample data, on localhost.

Run from the repo root: python tools/demo.py --data demo-data
"""
from __future__ import annotations

import argparse
import random
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from appshell import accounts  # noqa: E402
from node import roles, store  # noqa: E402
from node.cli import open_db  # noqa: E402
from node.clock import local_now  # noqa: E402
from node.provision import init_node  # noqa: E402
from node.reference import CalendarCache  # noqa: E402

AGENCY = "000.00.06.H56"
ADMIN = ("admin", "Admin-demo-2026")
CLERK = ("lan", "Clerk-demo-2026")
LEADER = ("hung", "Leader-demo-2026")

FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Phan", "Vũ", "Đặng", "Bùi", "Đỗ"]
MIDDLE = ["Văn", "Thị", "Hữu", "Đức", "Minh", "Thanh", "Ngọc"]
GIVEN = ["An", "Bình", "Dũng", "Đào", "Hà", "Hùng", "Lan", "Mai", "Nam", "Phúc", "Quang", "Thảo", "Yến"]


def seed(data_dir: Path) -> None:
    settings, conn = open_db(data_dir)
    now = local_now()
    accounts.create(conn, CLERK[0], CLERK[1], "clerk", "Nguyễn Thị Lan", now, roles=roles.ROLES)
    accounts.create(conn, LEADER[0], LEADER[1], "leader", "Trần Văn Hùng", now, roles=roles.ROLES)
    cache = CalendarCache(settings["working_hours"])
    rng = random.Random(2026)
    codes = ["1.001193", "1.000894", "1.004873", "2.000815", "2.000884", "1.001776", "XA-DD-01", "1.001612"]
    for _ in range(30):
        when = now - timedelta(days=rng.randint(0, 6), hours=rng.randint(0, 3))
        ctx = store.Context(conn=conn, node=AGENCY, agency=AGENCY, actor=CLERK[0], now=when, calendar_cache=cache)
        name = f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"
        state = store.receive(ctx, procedure_code=rng.choice(codes), applicant={
            "name": name, "id_number": f"0{rng.randint(1, 96):02d}{rng.randint(0, 3)}{rng.randint(0, 99):02d}"
                                       f"{rng.randint(0, 999999):06d}",
            "phone": f"09{rng.randint(10000000, 99999999)}", "address": "Thôn Đông, xã Hòa Bình", "email": ""},
            documents=[{"name": "Tờ khai", "kind": "original", "count": 1}], channel="in_person",
            return_method="desk")
        steps = rng.choice([[], ["start"], ["start", "resolve"], ["start", "resolve", "return"],
                            ["start", "supplement"]])
        for action in steps:
            store.act(ctx, state["code"], action, {"handler": LEADER[0], "items": "Bản sao giấy tờ",
                                                   "reason": "Thiếu giấy tờ", "rating": "5"})
    conn.close()


def _cli(module: str, *args, input: str | None = None) -> str:
    result = subprocess.run([sys.executable, "-m", module, *map(str, args)], input=input, capture_output=True,
                            text=True, cwd=ROOT)
    if result.returncode != 0:
        sys.exit(f"demo: {module} {' '.join(map(str, args[:2]))} failed: {result.stderr or result.stdout}")
    return result.stdout


def _wait_for(url: str, seconds: float = 30) -> None:
    import requests
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.2)
    sys.exit(f"demo: nothing answers at {url}")


def main() -> None:
    from appshell.settings import ConfigError
    try:
        run_demo()
    except ConfigError as exc:
        sys.exit(f"demo: {exc}")


def run_demo() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="demo-data", type=Path)
    parser.add_argument("--port", default=8080, type=int, help="the node's port")
    parser.add_argument("--central-port", default=8090, type=int, help="central's port")
    args = parser.parse_args()
    node_dir, central_dir = args.data / "node", args.data / "central"
    central_url = f"http://127.0.0.1:{args.central_port}"
    code = None
    if not (central_dir / "motcua-central.toml").exists():
        print(f"Creating a demo central in {central_dir} ...")
        _cli("central.cli", "init", "--data", central_dir, "--name", "UBND tỉnh Quảng Ninh (demo)",
             "--admin", ADMIN[0], "--password-stdin", input=ADMIN[1] + "\n")
        out = _cli("central.cli", "node", "add", "--data", central_dir, "--agency", AGENCY,
                   "--name", "UBND xã Hòa Bình (demo)")
        code = out.split("code: ")[1].split()[0]
        (central_dir / "demo-token.txt").write_text(_cli("central.cli", "token", "create", "--data", central_dir,
                                                         ADMIN[0]).strip())
    if not (node_dir / "motcua.toml").exists():
        print(f"Creating a demo node in {node_dir} ...")
        init_node(node_dir, agency_code=AGENCY, agency_name="UBND xã Hòa Bình (demo)", admin=ADMIN[0],
                  password=ADMIN[1], now=local_now(), parent_name="UBND tỉnh Quảng Ninh",
                  public_url=f"http://127.0.0.1:{args.port}")
        seed(node_dir)
    central = subprocess.Popen([sys.executable, "-m", "central.cli", "run", "--data", str(central_dir),
                                "--port", str(args.central_port)], cwd=ROOT)
    try:
        _wait_for(central_url + "/")
        if code:
            print(_cli("node.cli", "enroll", "--data", node_dir, central_url, code))
        from appshell import logs
        from appshell.web import make_server
        from node import create_app
        from node.settings import load_settings
        from node.sync import SyncWorker
        logs.configure(node_dir, "node.log")
        app = create_app({"DATA_DIR": node_dir})
        server = make_server(app, "127.0.0.1", args.port, 4, "motcua")
        from node.backup import BackupScheduler
        worker = SyncWorker(node_dir, load_settings(node_dir)).start()
        from node.blob_lane import BlobLane
        lane = BlobLane(node_dir, load_settings(node_dir)).start()  # documents after events, as `run` does
        backups = BackupScheduler(node_dir, load_settings(node_dir)).start()  # as `motcua-node run` does
        app.extensions["motcua.sync"] = worker
        app.extensions["motcua.blob_lane"] = lane
        app.extensions["motcua.backup"] = backups
        token = (central_dir / "demo-token.txt").read_text().strip()
        print(f"""
motcua demo is running: one commune node, enrolled with one central, on this machine only.
  Desk (node):    http://127.0.0.1:{args.port}/   clerk {CLERK[0]} / {CLERK[1]}, leader {LEADER[0]} / {LEADER[1]},
                  admin {ADMIN[0]} / {ADMIN[1]}
  Citizen lookup: http://127.0.0.1:{args.port}/tra-cuu
  Central:        {central_url}/   admin {ADMIN[0]} / {ADMIN[1]}
  Central API:    curl -H "Authorization: Bearer {token}" {central_url}/api/v1/nodes
See the README ("See a dossier travel to central") for a walk-through. Stop with Ctrl+C.
Data lives in {args.data} (delete it to start over).
""", flush=True)
        try:
            server.run()
        finally:
            lane.stop()
            worker.stop()
            backups.stop()
    finally:
        central.terminate()
        central.wait(10)


if __name__ == "__main__":
    main()
