"""Digitisation figures: stored bytes per A4 page, intake with 2 pages on one core, peak RSS, blob throughput.

    .venv/bin/python bench/documents.py               # about a minute on 2 cores
    .venv/bin/python bench/documents.py --intakes 10  # quick look

What it does, on real files in a temp folder and a real node process:

1. stored bytes per A4 page: synthetic but realistic pages made with Pillow (tests/node/document_samples.py:
   printed-form strokes, uneven light, sensor noise, slight blur) as a 12-MP phone photo (JPEG q92 with
   EXIF/GPS, as phones write them) and as a flatbed scan at 300 dpi (grayscale PNG, as scanner software
   writes it), each normalised by node/scans.py (long side 2339 px = A4 at 200 dpi, grayscale when the page
   has no colour, JPEG quality 55 gray / 60 colour);
2. starts ``motcua-node run`` under ``taskset -c 0`` (one core) and runs intakes end to end through the
   JSON API: the dossier, then its two pages (12-MP phone photos, one with a red stamp) uploaded and normalised;
   prints p50/p95 of the whole intake;
3. peak node RSS (VmHWM of the node process from /proc) after all of that, i.e. while normalising 12-MP
   photos (target < 150 MB);
4. blob write throughput: BlobStore.put of 1 MB pages (AES-GCM, temp file, fsync, rename, fsync folder).

Prints figures against the targets; asserts nothing and exits 0 even when a target is missed.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import requests
from benchlib import log  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from node import scans  # noqa: E402
from node.blobs import BlobStore  # noqa: E402
from tests.e2e.harness import PY, Node, Server  # noqa: E402
from tests.node import document_samples as samples  # noqa: E402

AGENCY = "000.00.06.H56"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def vm_hwm_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def stored_per_page(pages: int) -> None:
    log("1. stored bytes per A4 page (after normalisation)")
    for label, make in (("phone photo 12 MP", lambda s: samples.phone_photo(seed=s)),
                        ("flatbed scan 300 dpi", lambda s: samples.flatbed_scan(seed=s, dpi=300))):
        originals, stored = [], []
        for seed in range(pages):
            data = make(seed + 1)
            out = scans.normalise([data], 50 * 2**20)
            originals.append(len(data))
            stored.append(out.size)
        avg_o, avg_s = sum(originals) / pages, sum(stored) / pages
        log(f"   {label:22s} original {avg_o / 1024:7.0f} KB  stored {avg_s / 1024:6.0f} KB "
            f"({100 * avg_s / avg_o:4.1f} %)  at long side {scans.MAX_SIDE} px")


def intake_on_one_core(root: Path, intakes: int) -> None:
    node = Node(root)
    argv = [PY, "-m", "node.cli", "run", "--data", str(node.dir), "--port", str(node.port)]
    if shutil.which("taskset"):
        argv = ["taskset", "-c", "0", *argv]
        pinned = "pinned to core 0"
    else:
        pinned = "NOT pinned (no taskset)"
    node.server = Server(argv, node.port, root / "node.log").start("/dang-nhap")
    # a black-and-white page and one with a red stamp
    photos = [samples.phone_photo(seed=s, colour=bool(s % 2)) for s in range(4)]
    mean_mb = sum(map(len, photos)) / len(photos) / 2**20
    log(f"2. intake with 2 pages end to end, node {pinned}; photos {mean_mb:.1f} MB each")
    h = {"Authorization": f"Bearer {node.token}"}
    http = requests.Session()
    http.get(node.url + "/dang-nhap", timeout=30)
    idle = vm_hwm_mb(node.server.proc.pid)
    times = []
    try:
        for i in range(intakes):
            started = time.perf_counter()
            r = http.post(node.url + "/api/v1/dossiers", headers=h, timeout=60, json={
                "procedure_code": "1.001193",
                "applicant": {"name": "Nguyễn Văn Dũng", "id_number": "001203004567", "phone": "0912345678",
                              "address": "Thôn Đông, xã Hòa Bình", "email": ""},
                "documents": [{"name": "Tờ khai", "kind": "original", "count": 1},
                              {"name": "Giấy chứng sinh", "kind": "original", "count": 1}],
                "channel": "in_person", "return_method": "desk"})
            code = r.json()["code"]
            for component in (0, 1):
                up = http.post(f"{node.url}/api/v1/dossiers/{code}/attachments", headers=h, timeout=120,
                               data={"component": str(component)},
                               files={"file": ("IMG.jpg", photos[(2 * i + component) % len(photos)])})
                if up.status_code != 201:
                    log(f"   upload refused: {up.status_code} {up.text[:200]}")
            times.append((time.perf_counter() - started) * 1000)
        log(f"   {intakes} intakes: p50 {percentile(times, 50):.0f} ms, p95 {percentile(times, 95):.0f} ms")
        rss = vm_hwm_mb(node.server.proc.pid)
        log(f"3. peak node RSS (VmHWM) after normalising {2 * intakes} 12-MP photos: {rss:.0f} MB "
            f"(target < 150 MB: {'met' if rss < 150 else 'MISSED'}; {idle:.0f} MB before the first upload)")
    finally:
        node.stop()


def blob_throughput(root: Path, count: int) -> None:
    blobs = BlobStore(root / "blobs-bench")
    blobs.root.mkdir(parents=True, exist_ok=True)
    pages = [os.urandom(2**20) for _ in range(count)]
    started = time.perf_counter()
    for page in pages:
        blobs.put(page)
    seconds = time.perf_counter() - started
    log(f"4. blob write throughput: {count} x 1 MB in {seconds:.2f} s = {count / seconds:.1f} MB/s "
        f"({1000 * seconds / count:.1f} ms a blob, fsync included)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--intakes", type=int, default=20)
    parser.add_argument("--pages", type=int, default=3, help="pages per kind for the bytes-per-page figure")
    parser.add_argument("--blobs", type=int, default=50)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="motcua-bench-docs-"))
    try:
        stored_per_page(args.pages)
        intake_on_one_core(root, args.intakes)
        blob_throughput(root, args.blobs)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
