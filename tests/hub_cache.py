"""Offline stand-ins for the Hugging Face Hub: a cache laid out as huggingface_hub writes it, and the prepared
datasets cache the ``datasets`` library reads offline, holding MTEB's STS datasets made from the SentEval files.

With ``HF_HUB_OFFLINE=1`` the Hub client resolves a model name from ``models--ORG--NAME/{blobs, snapshots/<commit>,
refs/main}``. ``datasets`` (5.x) offline does not read that cache: it reloads the dataset prepared by an earlier
online ``load_dataset``, ``<HF_DATASETS_CACHE>/ORG___NAME/default/0.0.0/<commit>/`` (Arrow files and
``dataset_info.json``). :func:`write_mteb_sts_datasets` writes both, as a machine that ran MTEB's STS12,
STSBenchmark and SICK-R once online has them: the repositories' files (``<split>.jsonl.gz`` with ``sentence1``,
``sentence2`` and ``score``) at the revisions MTEB pins, and the prepared datasets made from them by ``datasets``'
own JSON builder.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from simcse_st.data.sts import load_sts_task


def write_hub_cache(
    cache: Path, repository: str, files: Path, repo_type: str = "model", commit: str | None = None
) -> str:
    """Lay the files of ``files`` out as huggingface_hub's cache of the ``repo_type`` repository ``repository``.

    Each file (subfolders included) becomes a blob named by its SHA-256, linked from ``snapshots/<commit>/``;
    ``refs/main`` names the commit (by default a hash of the repository's name), as after a push and a download.
    Called again for the same repository with another commit, it adds that commit (a later push). Returns the commit.
    """
    folder = cache / f"{repo_type}s--{repository.replace('/', '--')}"
    commit = commit or hashlib.sha1(repository.encode()).hexdigest()
    snapshot = folder / "snapshots" / commit
    (folder / "blobs").mkdir(parents=True, exist_ok=True)
    snapshot.mkdir(parents=True)
    for path in sorted(file for file in files.rglob("*") if file.is_file()):
        blob = hashlib.sha256(path.read_bytes()).hexdigest()
        shutil.copyfile(path, folder / "blobs" / blob)
        link = snapshot / path.relative_to(files)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(Path(*[".."] * (len(path.relative_to(files).parts) + 1), "blobs", blob))
    (folder / "refs").mkdir(exist_ok=True)
    (folder / "refs" / "main").write_text(commit)
    return commit


MTEB_STS_SPLITS: dict[str, dict[str, list[tuple[str, str]]]] = {
    # MTEB task -> Hub split -> (our task, our split) whose SentEval pairs it holds
    "STS12": {"test": [("STS12", "test")]},
    "STSBenchmark": {"train": [("STSBenchmark", "train")], "validation": [("STSBenchmark", "dev")],
                     "test": [("STSBenchmark", "test")]},
    # MTEB's SICK-R: all 9,927 SICK pairs in one test split
    "SICK-R": {"test": [("SICKRelatedness", "train"), ("SICKRelatedness", "dev"), ("SICKRelatedness", "test")]},
}
"""The stand-ins' splits. (The Hub's STS12 also has a train split, which SentEval's files do not hold.)"""


def write_mteb_sts_datasets(data_dir: Path, root: Path) -> tuple[Path, Path]:
    """Write MTEB's STS12, STSBenchmark and SICK-R datasets, at the revisions MTEB pins, from the SentEval files
    under ``data_dir``: a huggingface_hub cache and a prepared datasets cache under ``root``.

    Returns:
        ``(hub_cache, datasets_cache)``: the values of ``HF_HUB_CACHE`` and ``HF_DATASETS_CACHE``.
    """
    import mteb
    from datasets.packaged_modules.json.json import Json

    hub_cache, datasets_cache = root / "hub", root / "datasets"
    for task_name, splits in MTEB_STS_SPLITS.items():
        dataset = mteb.get_task(task_name).metadata.dataset
        files = root / "files" / task_name
        files.mkdir(parents=True)
        for split, sources in splits.items():
            with gzip.open(files / f"{split}.jsonl.gz", "wt", encoding="utf-8") as handle:
                for task, our_split in sources:
                    for subset in load_sts_task(task, our_split, data_dir):
                        for s1, s2, score in zip(subset.sentences1, subset.sentences2, subset.scores, strict=True):
                            handle.write(json.dumps({"sentence1": s1, "sentence2": s2, "score": score}) + "\n")
        commit = write_hub_cache(hub_cache, dataset["path"], files, repo_type="dataset", commit=dataset["revision"])
        snapshot = hub_cache / f"datasets--{dataset['path'].replace('/', '--')}" / "snapshots" / commit
        organization, name = dataset["path"].split("/")
        builder = Json(cache_dir=str(root / "building"), dataset_name=name, config_name="default",
                       data_files={split: str(snapshot / f"{split}.jsonl.gz") for split in splits})
        builder.download_and_prepare(output_dir=str(datasets_cache / f"{organization}___{name}" / "default" / "0.0.0"
                                                 / commit))
    return hub_cache, datasets_cache


def start_simcse_st(*arguments: str | Path, cache: Path, home: Path, **environment: str) -> subprocess.Popen:
    """Start ``simcse-st ARGUMENTS`` in a fresh process that sees only ``cache`` as the Hub, offline."""
    environment = {
        **os.environ, "HF_HOME": str(home), "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1", **environment,
    }
    command = [sys.executable, "-m", "simcse_st.cli", *map(str, arguments)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)
