"""A checkpoint's files as another process (or a full disk) left them: checkpoint_problem names the bad one, never
raises (console/runs/checkpoints.py)."""
from __future__ import annotations

import io
import json
import zipfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.runs.checkpoints import checkpoint_problem, state_file_problem


def _archive(payload: bytes = b"\1" * 4096) -> bytes:
    """A zip archive of stored members with their CRC-32s, as torch.save writes one."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
        z.writestr("archive/data/0", payload)
    return buf.getvalue()


def _checkpoint(folder, optimizer: bytes):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": 4}))
    header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    (folder / "adapter_model.safetensors").write_bytes(len(header).to_bytes(8, "little") + header + b"\0" * 8)
    (folder / "optimizer.pt").write_bytes(optimizer)
    return folder


def test_a_whole_cut_or_flipped_optimizer(tmp_path):
    whole = _archive()
    assert checkpoint_problem(_checkpoint(tmp_path / "checkpoint-4", whole)) is None
    cut = _checkpoint(tmp_path / "checkpoint-5", whole[: len(whole) // 2])
    assert checkpoint_problem(cut) == "optimizer.pt is cut or corrupt (not a whole torch archive)"
    flipped = bytearray(whole)
    flipped[whole.index(b"\1" * 64) + 10] ^= 0xFF
    folder = _checkpoint(tmp_path / "checkpoint-6", bytes(flipped))
    assert checkpoint_problem(folder) is None  # the readers' check reads the archive's directory only
    assert checkpoint_problem(folder, verify=True) == "optimizer.pt is corrupt (its part 0 fails its checksum)"
    (folder / "optimizer.pt").write_bytes(b"")
    assert state_file_problem(folder / "optimizer.pt") == "optimizer.pt is empty"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(optimizer=st.binary(max_size=2048), weights=st.binary(max_size=256), verify=st.booleans())
def test_any_bytes_in_a_checkpoint_give_an_answer_not_an_exception(tmp_path_factory, optimizer, weights, verify):
    folder = _checkpoint(tmp_path_factory.mktemp("ckpt") / "checkpoint-4", optimizer)
    (folder / "adapter_model.safetensors").write_bytes(weights)
    answer = checkpoint_problem(folder, verify=verify)
    assert answer is None or isinstance(answer, str)
