"""A store records the runtime that made its embeddings, and a resume in another runtime is refused (no OpenVINO
needed: the check reads the manifests)."""

from __future__ import annotations

from pathlib import Path

import pytest

from simcse_st.corpus.resume import check_resumable
from simcse_st.corpus.store import corpus_manifest


def _manifest(runtime: dict | None) -> dict:
    from simcse_st.corpus.chunks import CorpusScan, ShardSpec

    scan = CorpusScan(path="/c.txt", bytes=10, sentences=2, sha256="ab" * 32)
    return corpus_manifest("/model", "f" * 64, 32, scan, ShardSpec(0, 1), 100, "float32", runtime)


@pytest.mark.parametrize(("was", "now", "said"), [
    (None, {"name": "openvino", "file": None}, "another runtime: torch (now openvino)"),
    ({"name": "openvino", "file": "openvino/openvino_model.xml"},
     {"name": "openvino", "file": "openvino/openvino_model_qint8_quantized.xml"},
     "openvino (openvino/openvino_model.xml) (now openvino (openvino/openvino_model_qint8_quantized.xml))"),
])
def test_a_resume_in_another_runtime_is_refused(was, now, said):
    with pytest.raises(ValueError, match="holds embeddings made in another runtime") as error:
        check_resumable(Path("/enc"), _manifest(was), _manifest(now))
    assert said in str(error.value) and "--runtime" in str(error.value)


def test_the_same_runtime_resumes_and_a_store_without_a_record_is_torch():
    check_resumable(Path("/enc"), _manifest({"name": "openvino", "file": "x.xml"}),
                    _manifest({"name": "openvino", "file": "x.xml"}))
    old = _manifest(None)
    del old["runtime"]  # written before the runtime was recorded: PyTorch was the only one
    check_resumable(Path("/enc"), old, _manifest({"name": "torch"}))
    assert _manifest(None)["runtime"] == {"name": "torch"}
