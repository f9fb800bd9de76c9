"""Export a sentence-transformers model to ONNX and quantise it to int8 (per channel).

Runs in a child process (``python -m projectqa.server.embedding_export <model> <out>``,
started by ``embedding_onnx``): torch and transformers are needed only here, so a
server or worker that embeds with ONNX Runtime never imports them, and a crash or a
hang of the exporter cannot take the server down with it.

The graph holds the whole sentence embedding: the transformer, mean pooling over the
attention mask and L2 normalisation, as sentence-transformers computes them. Only its
matrix multiplications are quantised (dynamic uint8, one scale per output channel):
per-tensor scales lose too much of MiniLM (cosine to fp32 0.91-0.95 against 0.993).
"""

from __future__ import annotations

import inspect
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch

from .embedding_onnx import MODEL_FILE

# Change embedding_onnx.RECIPE with anything below that changes what model.onnx holds.
OPSET = 17
FP32_FILE = "model-fp32.onnx"


def export(transformer_dir: Path, out_dir: Path) -> Path:
    """Write ``out_dir/model.onnx`` (int8) from the transformer in ``transformer_dir``."""
    fp32 = out_dir / FP32_FILE
    _export_fp32(transformer_dir, fp32)
    _fuse(fp32, transformer_dir)
    int8 = out_dir / MODEL_FILE
    _quantise(fp32, int8)
    fp32.unlink()
    return int8


def _export_fp32(transformer_dir: Path, target: Path) -> None:
    from transformers import AutoModel

    # Eager attention traces into plain MatMul/Softmax nodes, which the quantiser knows.
    model = AutoModel.from_pretrained(
        str(transformer_dir), local_files_only=True, attn_implementation="eager"
    ).eval()
    inputs = _input_names(model)
    sample = torch.ones((2, 16), dtype=torch.long)
    axes = {name: {0: "batch", 1: "tokens"} for name in inputs}
    with torch.no_grad():
        torch.onnx.export(
            SentenceEmbedding(model, inputs),
            tuple(sample if n != "token_type_ids" else torch.zeros_like(sample) for n in inputs),
            str(target),
            input_names=inputs,
            output_names=["sentence_embedding"],
            dynamic_axes={**axes, "sentence_embedding": {0: "batch"}},
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,  # the TorchScript exporter: no onnxscript needed, works offline
        )


def _input_names(model: Any) -> list[str]:
    """BERT takes token type ids; DistilBERT, MPNet and others do not."""
    accepted = inspect.signature(model.forward).parameters
    names = ["input_ids", "attention_mask"]
    return [*names, "token_type_ids"] if "token_type_ids" in accepted else names


def _fuse(model_file: Path, transformer_dir: Path) -> None:
    """Fuse attention, layer norms and GELU into ONNX Runtime's transformer operators
    (in place): ~1.2x faster before quantisation, and QAttention after it. A graph the
    BERT patterns do not match stays as it is, unfused but correct."""
    from onnxruntime.transformers.optimizer import optimize_model

    config = json.loads((transformer_dir / "config.json").read_text(encoding="utf-8"))
    fused = optimize_model(
        str(model_file),
        model_type="bert",
        num_heads=int(config.get("num_attention_heads", 0)),
        hidden_size=int(config.get("hidden_size", 0)),
        opt_level=0,  # graph fusions only: nothing specific to this machine's CPU
    )
    fused.save_model_to_file(str(model_file))


def _quantise(source: Path, target: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(source),
        str(target),
        # One scale per output channel: per-tensor scales lose too much (cosine 0.95).
        per_channel=True,
        # Full 8-bit range: as close to fp32 as 7-bit weights here (cosine 0.993) and faster.
        reduce_range=False,
        # Unsigned weights: ONNX Runtime multiplies uint8 activations by int8 weights with
        # an instruction that saturates on x86 CPUs without VNNI, and QAttention lost the
        # most to it (cosine to fp32 0.9929 against 0.9947, hybrid recall@5 0.026 below
        # fp32 on bench/eval against +0.009); uint8 x uint8 never saturates, so vectors
        # no longer depend on the CPU, for about 8 % of int8's speed (docs/RETRIEVAL.md).
        weight_type=QuantType.QUInt8,
        op_types_to_quantize=["MatMul", "Attention"],
        # The fused operators live in another domain, whose outputs shape inference
        # cannot type; they are all float.
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


class SentenceEmbedding(torch.nn.Module):
    """Transformer, then mean pooling and L2 normalisation as sentence-transformers."""

    def __init__(self, transformer: Any, inputs: list[str]) -> None:
        super().__init__()
        self.transformer = transformer
        self.inputs = inputs

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        named = dict(zip(self.inputs, args, strict=True))
        hidden = self.transformer(**named)[0]
        mask = named["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        summed = (hidden * mask).sum(dim=1)
        pooled = summed / mask.sum(dim=1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, p=2.0, dim=1)


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        module = "python -m projectqa.server.embedding_export"
        print(f"usage: {module} <transformer dir> <out dir> [parent pid]", file=sys.stderr)
        return 2
    if len(argv) == 3:  # a server or worker stopped (or killed) meanwhile needs no model
        from .worker import die_with_parent

        die_with_parent(int(argv[2]))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    started = time.monotonic()
    written = export(Path(argv[0]), Path(argv[1]))
    print(f"exported {written} in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
