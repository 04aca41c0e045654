"""``simcse-st encode``: embed a corpus of any size into a folder, chunk by chunk, resumably."""

from __future__ import annotations

import argparse

from simcse_st.commands._apps import MODEL_HELP, add_batch_size_argument
from simcse_st.commands._runtime import add_runtime_arguments, runtime_record


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``encode`` subcommand."""
    from simcse_st.corpus.engines import ENGINES
    from simcse_st.corpus.store import DTYPES

    parser = subparsers.add_parser(
        "encode",
        help="embed a large corpus into a folder: streamed, resumable, sharded, multi-process or on Ray",
        description="Read --corpus (one sentence a line) --chunk-size lines at a time, embed them with MODEL and "
        "write the embeddings (a memory-mapped .npy) and the sentences to --out. Killed and run again with the same "
        "arguments, it continues after the last completed chunk and ends with the same files as an uninterrupted "
        "run. `simcse-st index --from-embeddings` turns the folders into a search index.",
    )
    parser.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    parser.add_argument("--corpus", metavar="FILE", required=True,
                        help="UTF-8 text file, one sentence a line (blank lines are skipped)")
    parser.add_argument("--out", metavar="DIR", required=True, help="folder to write (or resume) the embeddings in")
    parser.add_argument("--chunk-size", type=int, default=10_000, metavar="N",
                        help="sentences read, encoded and written at a time; memory follows it (default: %(default)s)")
    parser.add_argument("--dtype", choices=DTYPES, default="float32", help="stored embeddings (default: %(default)s)")
    parser.add_argument("--shard", metavar="I/N", default=None,
                        help="encode only the I-th (0-based) of N contiguous slices of the sentences, e.g. 0/4 ... "
                        "3/4 for four jobs (a Slurm array, Kubernetes jobs)")
    parser.add_argument("--devices", metavar="LIST", default=None,
                        help="comma-separated devices for sentence-transformers' multi-process encoding, one process "
                        "each: cuda:0,cuda:1 or cpu,cpu")
    parser.add_argument("--engine", choices=ENGINES, default="local",
                        help="local: this process (or --devices); ray: a Ray Data actor pool (default: %(default)s)")
    parser.add_argument("--ray-address", metavar="ADDR", default=None,
                        help="Ray cluster to connect to with --engine ray (default: a running or new local Ray)")
    parser.add_argument("--ray-actors", type=int, default=1, metavar="N",
                        help="model replicas (Ray actors) with --engine ray (default: %(default)s)")
    parser.add_argument("--ray-gpus-per-actor", type=float, default=0.0, metavar="G",
                        help="GPUs each Ray actor reserves (default: %(default)s)")
    add_batch_size_argument(parser)
    add_runtime_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Encode the corpus (or continue an interrupted run) and print a summary."""
    from simcse_st.corpus import encode_corpus

    devices = [device.strip() for device in args.devices.split(",") if device.strip()] if args.devices else None
    encoded = encode_corpus(
        args.model, args.corpus, args.out, chunk_size=args.chunk_size, dtype=args.dtype, shard=args.shard,
        devices=devices, engine=args.engine, ray_address=args.ray_address, ray_actors=args.ray_actors,
        ray_gpus_per_actor=args.ray_gpus_per_actor, batch_size=args.batch_size, runtime=runtime_record(args),
    )
    manifest = encoded.manifest
    print(f"Encoded sentences {manifest['start']:,} to {manifest['stop']:,} of {manifest['corpus']['sentences']:,} "
          f"(shard {manifest['shard']}) into {args.out}: {manifest['dimension']}-d {manifest['dtype']} embeddings")
    return 0
