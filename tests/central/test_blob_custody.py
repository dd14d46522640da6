"""Central's custody of document blobs: what it says it holds, backups, the check, USB bundles, restores."""
from __future__ import annotations

import base64
import hashlib
import os
from datetime import timedelta

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from central.blob_intake import accept_object
from central.blobstore import storage_for
from central.bundle import import_blob_files
from central.cli import main
from central.store import blobs
from domain import digitisation
from domain.dossier import apply_event
from protocol import blobbundle, blobobject, keys
from tests.central.conftest import APPLICANT, OTHER_AGENCY, FakeNode, add_node, open_reply, token


def make_object(data: bytes, central_public):
    """An MCT1 object as a node makes it: the data encrypted under its own key, that key sealed to central."""
    digest = hashlib.sha256(data).hexdigest()
    blob_key, nonce = AESGCM.generate_key(256), os.urandom(12)
    part = nonce + AESGCM(blob_key).encrypt(nonce, data, blobobject.aad(digest))
    return digest, blobobject.seal_header(blob_key, digest, central_public) + part


def attach(node: FakeNode, code: str, digest: str, size: int, attachment_id: str) -> None:
    state = node.states[code]
    data = digitisation.add(state, {"hash": digest, "size": size, "mime": "image/jpeg", "pages": 1},
                            component=0, source="file", at=state["created_at"], by="lan", attachment_id=attachment_id)
    node.states[code] = apply_event(state, node.append("attachment.added", code, data))


@pytest.fixture
def world(central_app, central, conn, node, clock):
    """A dossier of the enrolled node with two documents, pushed; central holds the bytes of the first only."""
    key = central_app.extensions["motcua.central_key"]
    code = node.receive()
    first = make_object(b"\xff\xd8 first page " * 400, key.public_key())
    second = make_object(b"\xff\xd8 second page " * 300, key.public_key())
    attach(node, code, first[0], 4000, "a1")
    attach(node, code, second[0], 3000, "a2")
    assert node.push(central).status_code == 200
    storage = storage_for(central_app.config["DATA_DIR"])
    assert accept_object(conn, storage, key, digest=first[0], raw=first[1], node=node.agency, source="link",
                         now=clock.now)
    return {"code": code, "first": first, "second": second, "storage": storage, "key": key, "node": node}


def test_the_dossier_api_lists_each_document_with_its_hash_and_whether_central_holds_its_bytes(
        web_app, world, db, clock):
    r = web_app.test_client().get(f"/api/v1/dossiers/{world['code']}", headers=token(db, clock))
    assert r.status_code == 200, r.text
    listed = [(d["id"], d["hash"], d["held"]) for d in r.json["documents"]]
    assert listed == [("a1", world["first"][0], True), ("a2", world["second"][0], False)]
    assert db.execute("SELECT count(*) FROM access_log WHERE dossier = ? AND action = 'api.view'",
                      (world["code"],)).fetchone()[0] == 1


def test_the_dossier_page_says_which_documents_central_has_received(admin, world):
    page = admin.get(f"/ho-so/{world['code']}").get_data(as_text=True)
    table = page[page.index('id="central-documents"'):]
    rows = table.split("<tr")[2:4]
    assert world["first"][0][:16] in rows[0] and "Đã nhận tệp" in rows[0] and "Chưa nhận tệp" not in rows[0]
    assert world["second"][0][:16] in rows[1] and "Chưa nhận tệp" in rows[1]


# --- backups and the check --------------------------------------------------------------------------

def test_a_backup_carries_the_blob_objects_and_a_restore_into_a_fresh_folder_verifies_every_one(
        central_dir, world, conn, tmp_path, central_backend):
    out = tmp_path / "backups" / ("central.dump" if central_backend == "postgresql" else "central.db")
    result = CliRunner().invoke(main, ["backup", "--data", str(central_dir), "--to", str(out)])
    assert result.exit_code == 0, result.output
    assert "Document files: 1 " in result.output
    copy = out.with_name(out.name + ".blobs") / world["first"][0][:2] / world["first"][0]
    assert copy.read_bytes() == world["first"][1]  # as stored: encrypted, never the plaintext
    assert b"first page" not in copy.read_bytes()
    conn.close()

    import shutil
    fresh = tmp_path / "fresh" / "central"
    fresh.parent.mkdir()
    shutil.copytree(central_dir, fresh, ignore=shutil.ignore_patterns("blobs", "motcua-central.db*"))
    if central_backend == "sqlite":
        assert not (fresh / "blobs").exists() and not (fresh / "motcua-central.db").exists()
        args = ["restore", "--data", str(fresh), "--from", str(out)]
    else:
        args = ["restore", "--data", str(fresh), "--from", str(out), "--force"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "Document files: 1 put back" in result.output
    checked = CliRunner().invoke(main, ["blobs", "check", "--data", str(fresh)])
    assert checked.exit_code == 0, checked.output
    assert "1 of 1 held document files verified; 0 missing, 0 damaged" in checked.output


def test_the_check_names_missing_damaged_and_unreferenced_objects_in_english_without_personal_data(
        central_dir, central_app, world, conn, clock):
    storage, key = world["storage"], world["key"]
    third = make_object(b"third " * 500, key.public_key())
    fourth = make_object(b"fourth " * 500, key.public_key())
    for digest, raw in (world["second"], third):
        assert accept_object(conn, storage, key, digest=digest, raw=raw, node="000.00.06.H56", source="usb",
                             now=clock.now)
    storage.put(fourth[0], fourth[1])  # an object with no row: e.g. an extra copied into a backup
    path = storage.path(world["first"][0])
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 0x55
    path.write_bytes(bytes(raw))  # bit rot
    storage.delete(third[0])  # a lost file
    storage.append("left-by-a-crash", 0, b"partial")  # staged bytes whose upload row is gone
    up = blobs.start_upload(conn, "000.00.06.H56", fourth[0], len(fourth[1]), clock.now - timedelta(days=2))
    result = CliRunner().invoke(main, ["blobs", "check", "--data", str(central_dir)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert any(line.startswith(f"damaged: blob {world['first'][0][:16]} from node 000.00.06.H56") for line in lines)
    assert any(line.startswith(f"missing: blob {third[0][:16]}") for line in lines)
    assert any(line.startswith(f"unreferenced: object {fourth[0][:16]}") for line in lines)
    assert "stale staging: staged bytes left-by-a-crash belong to no upload in progress" in lines
    assert any(line.startswith(f"stale staging: upload of blob {fourth[0][:16]} by node 000.00.06.H56 stopped at 0/")
               for line in lines) and up["received"] == 0
    assert "1 of 3 held document files verified; 1 missing, 1 damaged, 1 unreferenced, 2 stale uploads" \
        in result.output
    for secret in (APPLICANT["name"], APPLICANT["id_number"], APPLICANT["phone"]):
        assert secret not in result.output

    forgot = CliRunner().invoke(main, ["blobs", "check", "--data", str(central_dir), "--forget-damaged"])
    assert forgot.exit_code == 1
    assert f"forgotten: blob {world['first'][0][:16]} is no longer held; run `motcua-node blobs requeue`" \
        in forgot.output
    assert blobs.held(conn, [world["first"][0], world["second"][0], third[0]]) == {world["second"][0]}
    assert not storage.has(world["first"][0])  # the damaged file is gone, so a new delivery is stored
    again = CliRunner().invoke(main, ["blobs", "check", "--data", str(central_dir)])
    assert again.exit_code == 0, again.output
    assert accept_object(conn, storage, key, digest=world["first"][0], raw=world["first"][1], node="000.00.06.H56",
                         source="link", now=clock.now)


# --- USB bundles ------------------------------------------------------------------------------------

def write_bundle(folder, node: FakeNode, objects, max_size: int, *, key=None, set_id="s1") -> list:
    """Files exactly as node/bundle.py writes them (the node package is not imported here)."""
    plans = blobbundle.plan([(d, len(raw)) for d, raw in objects], max_size, manifest_room=4096)
    raws = dict(objects)
    paths = []
    for number, pieces in enumerate(plans, start=1):
        datas = [raws[p.hash][p.offset:p.offset + p.length] for p in pieces]
        manifest = {"node": node.agency, "set": set_id, "part": number, "parts": len(plans), "created_at": "x",
                    "pieces": blobbundle.piece_entries(pieces, datas)}
        path = folder / f"b-{set_id}-{number}.motcua"
        path.write_bytes(blobbundle.header(manifest, key or node.key) + b"".join(datas))
        paths.append(path)
    return paths


def test_blobs_split_across_several_files_import_in_any_order_and_a_second_import_stores_nothing(
        world, conn, clock, tmp_path):
    paths = write_bundle(tmp_path, world["node"], [world["second"], world["first"]], 10_000)
    assert len(paths) == 2  # the 8.4 kB and 6.2 kB objects do not fit one 10 kB file: one is split
    result = import_blob_files(conn, world["storage"], world["key"], list(reversed(paths)), now=clock.now)
    assert (result.imported, result.duplicates, result.problems) == (1, 1, [])
    assert blobs.held(conn, [world["second"][0]]) == {world["second"][0]}
    assert world["storage"].read(world["second"][0]) == world["second"][1]
    assert conn.execute("SELECT source FROM blobs WHERE hash = ?", (world["second"][0],)).fetchone()[0] == "usb"
    again = import_blob_files(conn, world["storage"], world["key"], paths, now=clock.now)
    assert (again.imported, again.duplicates, again.problems) == (0, 2, [])


def test_usb_blob_files_are_checked_for_signature_node_and_naming(world, central, conn, clock, tmp_path):
    node, key = world["node"], world["key"]
    bad = make_object(b"bad page " * 200, key.public_key())
    broken = bad[1][:-1] + bytes([bad[1][-1] ^ 1])
    code = node.receive()
    attach(node, code, bad[0], 1800, "b1")
    assert node.push(central).status_code == 200
    stranger = make_object(b"not this node's " * 100, key.public_key())
    paths = write_bundle(tmp_path, node, [(bad[0], broken), world["second"], stranger], 1 << 20)
    forged = write_bundle(tmp_path, node, [world["second"]], 1 << 20, key=keys.generate(), set_id="forged")
    junk = tmp_path / "junk.motcua"
    junk.write_bytes(blobbundle.MAGIC + b"\x00\x00\x00\x05{oops")
    result = import_blob_files(conn, world["storage"], key, paths + forged + [junk], now=clock.now)
    assert result.imported == 1 and blobs.held(conn, [world["second"][0]]) == {world["second"][0]}
    problems = "\n".join(result.problems)
    assert f"refused blob {bad[0][:16]} from node {node.agency}: blob {bad[0][:12]}: fails its authentication tag" \
        in problems
    assert f"refused blob {stranger[0][:16]} from node {node.agency}: no dossier of that node names it" in problems
    assert f"refused {forged[0].name}: not signed by an active key of node '{node.agency}'" in problems
    assert "refused junk.motcua: manifest is not JSON" in problems
    assert len(result.problems) == 4
    assert blobs.held(conn, [bad[0], stranger[0]]) == set() and not world["storage"].has(bad[0])


def test_a_piece_missing_from_the_files_given_leaves_that_blob_incomplete_and_stores_nothing(
        world, conn, clock, tmp_path):
    paths = write_bundle(tmp_path, world["node"], [world["second"]], 8000)
    assert len(paths) == 2 and all(p.stat().st_size <= 8000 for p in paths)
    result = import_blob_files(conn, world["storage"], world["key"], paths[:1], now=clock.now)
    assert result.imported == 0 and result.problems[0].startswith(f"incomplete blob {world['second'][0][:16]}")
    assert not world["storage"].has(world["second"][0])
    done = import_blob_files(conn, world["storage"], world["key"], paths[1:] + paths[:1], now=clock.now)
    assert done.imported == 1 and done.problems == []


# --- restore: a rebuilt node fetches its blobs back -----------------------------------------------------

def restore_call(node: FakeNode, central, central_app, digest: str, offset: int = 0, limit: int = 1 << 20,
                 key=None):
    payload = node.payload(hash=digest, offset=offset, limit=limit, public_key=keys.public_b64(key or node.key))
    response = node.post(central, blobobject.RESTORE_PATH, payload, key=key)
    return response.status_code, open_reply(central_app, response)


def test_central_gives_a_node_back_its_blob_sealed_to_that_nodes_key_piece_by_piece(
        world, central, central_app):
    node, digest = world["node"], world["first"][0]
    header, data, size = None, b"", None
    while size is None or len(data) < size:
        status, reply = restore_call(node, central, central_app, digest, offset=len(data), limit=1000)
        assert status == 200, reply
        assert len(base64.b64decode(reply["data"])) <= 1000
        header, size = base64.b64decode(reply["header"]), reply["size"]
        data += base64.b64decode(reply["data"])
    assert blobobject.open_object(header + data, digest, node.key) == b"\xff\xd8 first page " * 400
    with pytest.raises(blobobject.BlobObjectError):
        blobobject.open_object(header + data, digest, world["key"])  # sealed to the node, not to central


def test_a_restore_reply_carries_at_most_one_capped_piece_and_a_damaged_object_is_never_served(
        world, central, central_app, conn, clock):
    node, key = world["node"], world["key"]
    big = make_object(os.urandom(blobobject.MAX_RESTORE_PIECE + 5000), key.public_key())
    code = node.receive()
    attach(node, code, big[0], len(big[1]), "big")
    assert node.push(central).status_code == 200
    assert accept_object(conn, world["storage"], key, digest=big[0], raw=big[1], node=node.agency, source="link",
                         now=clock.now)
    status, reply = restore_call(node, central, central_app, big[0], limit=50 * 2**20)
    assert status == 200 and len(base64.b64decode(reply["data"])) == blobobject.MAX_RESTORE_PIECE
    assert reply["size"] == len(big[1]) - blobobject.HEADER
    path = world["storage"].path(big[0])
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 1
    path.write_bytes(bytes(raw))
    status, reply = restore_call(node, central, central_app, big[0])
    assert (status, reply["error"]["code"]) == (409, "damaged")
    assert "motcua-central blobs check" in reply["error"]["message"]


def test_central_serves_a_blob_only_to_the_node_whose_dossiers_name_it_and_only_once_it_holds_it(
        world, central, central_app, conn, clock):
    other = FakeNode(clock, agency=OTHER_AGENCY)
    assert other.enrol(central, add_node(conn, clock, agency=OTHER_AGENCY, name="UBND xã Khác")).status_code == 200
    status, reply = restore_call(other, central, central_app, world["first"][0])
    assert (status, reply["error"]["code"]) == (404, "not_named")
    status, reply = restore_call(world["node"], central, central_app, world["second"][0])
    assert (status, reply["error"]["code"]) == (404, "not_held")
    status, reply = restore_call(world["node"], central, central_app, world["first"][0], key=None)
    assert status == 200
    payload = world["node"].payload(hash=world["first"][0], offset=0, limit=10,
                                    public_key=keys.public_b64(other.key))
    refused = world["node"].post(central, blobobject.RESTORE_PATH, payload)
    assert refused.status_code == 400  # it cannot ask central to seal the key to someone else's key
    unsigned = world["node"].post(central, blobobject.RESTORE_PATH, payload, signature="AAAA")
    assert unsigned.status_code in (401, 403)


def test_an_admin_opens_a_document_central_holds_decrypted_uncached_and_access_logged(admin, viewer, world, db):
    code = world["code"]
    page = admin.get(f"/ho-so/{code}").get_data(as_text=True)
    assert f'href="/ho-so/{code}/tai-lieu/a1"' in page and f'href="/ho-so/{code}/tai-lieu/a2"' not in page
    opened = admin.get(f"/ho-so/{code}/tai-lieu/a1")
    assert opened.status_code == 200 and opened.data == b"\xff\xd8 first page " * 400
    assert opened.headers["Cache-Control"] == "no-store" and opened.mimetype == "image/jpeg"
    assert db.execute("SELECT username FROM access_log WHERE dossier = ? AND action = 'web.document:a1'",
                      (code,)).fetchall()[0][0] == "admin"
    waiting = admin.get(f"/ho-so/{code}/tai-lieu/a2")
    assert waiting.status_code == 404 and "chưa nhận được tệp" in waiting.get_data(as_text=True)
    assert admin.get(f"/ho-so/{code}/tai-lieu/nope").status_code == 404
    assert viewer.get(f"/ho-so/{code}/tai-lieu/a1").status_code == 403
    assert "tai-lieu/a1" not in viewer.get(f"/ho-so/{code}").get_data(as_text=True)
