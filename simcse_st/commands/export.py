"""``simcse-st export``: a model as an OpenVINO folder for fast CPU inference, optionally quantized to int8."""

from __future__ import annotations

import argparse

from simcse_st.commands._apps import MODEL_HELP


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``export`` subcommand."""
    from simcse_st.exported import QUANTIZATIONS

    parser = subparsers.add_parser(
        "export",
        help="export a model to OpenVINO (optionally int8) for fast CPU inference; needs the [openvino] extra",
        description="Write MODEL to --out as a sentence-transformers folder that runs in OpenVINO "
        "(SentenceTransformer(DIR, backend='openvino', ...) loads it without simcse-st), quantized with "
        "--quantize, and report what quantization cost: the cosine to the PyTorch model over held-out sentences, "
        "and STS-B dev before and after when the data root holds it. Every encoding command runs the folder "
        "in OpenVINO when given it as MODEL.",
    )
    parser.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    parser.add_argument("--out", metavar="DIR", required=True,
                        help="folder to write (new, empty, or an earlier export, which is replaced)")
    parser.add_argument("--quantize", choices=QUANTIZATIONS, default="none",
                        help="none: float32; int8-weights: int8 weights, no calibration; int8-static: int8 weights and "
                        "activations, calibrated on --calibration (default: %(default)s)")
    parser.add_argument("--calibration", metavar="FILE", default=None,
                        help="UTF-8 sentences, one a line, to calibrate int8-static on and to compare embeddings on "
                        "(default: the data root's wiki/wiki1m_sample.txt)")
    parser.add_argument("--calibration-size", type=int, default=300, metavar="N",
                        help="calibration sentences drawn from --calibration (default: %(default)s)")
    parser.add_argument("--data-dir", metavar="ROOT", default=None,
                        help="the data root, for the default calibration sample and STS-B dev (default: "
                        "$SIMCSE_DATA_DIR)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Export, then print what quantization cost and the line that loads the folder."""
    from simcse_st.export import check_quantization, export_model
    from simcse_st.exported import load_line

    check_quantization(args.quantize)
    if args.quantize == "int8-static" or args.calibration is not None:
        print(f"Calibration sentences: {args.calibration or 'the data root wiki/wiki1m_sample.txt'} "
              f"({args.calibration_size} drawn for calibration, the rest held out)")
    report = export_model(args.model, args.out, args.quantize, args.calibration, args.calibration_size,
                          args.data_dir)
    if report.calibration:
        print(f"Calibrated on {report.calibration['sentences']} sentences of {report.calibration['source']} at "
              f"{report.calibration['max_length']} tokens")
    if report.cosine:
        print(f"Cosine to the PyTorch model over {report.cosine['sentences']} held-out sentences: mean "
              f"{report.cosine['mean']:.6f}, min {report.cosine['min']:.6f}")
    if report.stsb_dev:
        print(f"STS-B dev Spearman x100: PyTorch {report.stsb_dev['torch']:.2f}, "
              f"export {report.stsb_dev['export']:.2f}")
    print(f"Exported {args.model} ({args.quantize}) to {args.out}. Load it without simcse-st with:\n"
          f"  from sentence_transformers import SentenceTransformer\n  model = {load_line(args.out, report.file)}\n"
          f"or give {args.out} as MODEL to any simcse-st command.")
    return 0
