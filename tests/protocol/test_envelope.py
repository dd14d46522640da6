import gzip
import os
import stat

import pytest

from protocol import keys
from protocol.envelope import EnvelopeError, decompress, open_sealed, seal


def test_a_sealed_payload_opens_with_the_right_key():
    key = keys.generate()
    body, sig = seal(key, {"events": [{"seq": 1}], "name": "Đặng"})
    assert open_sealed(body, sig, key.public_key()) == {"events": [{"seq": 1}], "name": "Đặng"}


def test_one_flipped_bit_or_another_key_is_refused():
    key, other = keys.generate(), keys.generate()
    body, sig = seal(key, {"a": 1, "b": "x" * 100})
    raw = bytearray(gzip.decompress(body))
    raw[5] ^= 0x01
    with pytest.raises(EnvelopeError) as info:
        open_sealed(gzip.compress(bytes(raw)), sig, key.public_key())
    assert info.value.code == "bad_signature"
    with pytest.raises(EnvelopeError):
        open_sealed(body, sig, other.public_key())
    with pytest.raises(EnvelopeError):
        open_sealed(body, None, key.public_key())


def test_size_caps_and_gzip_bombs_are_refused_before_parsing():
    key = keys.generate()
    body, sig = seal(key, {"pad": "x" * 5000})
    with pytest.raises(EnvelopeError, match="cap") as info:
        open_sealed(body, sig, key.public_key(), max_body=10)
    assert info.value.code == "too_large"
    bomb = gzip.compress(b"0" * (64 * 1024 * 1024))
    assert len(bomb) < 100_000
    with pytest.raises(EnvelopeError) as info:
        decompress(bomb, max_decompressed=1024 * 1024)
    assert info.value.code == "too_large"
    with pytest.raises(EnvelopeError) as info:
        decompress(b"not gzip at all")
    assert info.value.code == "bad_encoding"
    with pytest.raises(EnvelopeError):
        decompress(body[:-8])


def test_private_key_files_are_owner_only_and_never_overwritten(tmp_path):
    key = keys.generate()
    path = tmp_path / "node.key"
    keys.save_private(key, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keys.public_b64(keys.load_private(path)) == keys.public_b64(key)
    with pytest.raises(FileExistsError):
        keys.save_private(keys.generate(), path)
    os.chmod(path, 0o644)
    with pytest.raises(keys.KeyError_, match="owner only"):
        keys.load_private(path)


def test_fingerprints_are_short_stable_and_differ_between_keys():
    a, b = keys.public_b64(keys.generate()), keys.public_b64(keys.generate())
    assert keys.fingerprint(a) == keys.fingerprint(a) != keys.fingerprint(b)
    assert len(keys.fingerprint(a)) == 24 and keys.fingerprint(a).count("-") == 4
    assert keys.load_public(a) is not None
    with pytest.raises(keys.KeyError_):
        keys.load_public("bm90IGEga2V5")
