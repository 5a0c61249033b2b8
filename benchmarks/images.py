"""Region GRU vs linear probe vs mean-pooled MLP on real photos, through the command line: the table of
docs/images.md.

Two tasks, both from Fashion-MNIST (Zalando Research, MIT licence; `apt-get install dataset-fashion-mnist`):

- categories: the data set's 10 classes; training images from its training split, held-out test images from
  its test split (class-balanced slices, fixed seed);
- arrangement: 28 x 56 canvases holding an item of footwear and a top side by side, each mirrored at random;
  the class is which side the footwear is on (vidgru/train/photo_sets.py). Training canvases are built from
  training-split articles, test canvases from test-split articles.
- arrangement_random: the same on 84 x 84 canvases, each article at a random place in its half.

Every head is trained by the same `vidgru train` command (same cached cells, split, seed, epochs, optimiser and
early stopping) and scored by `vidgru eval` on the test folder, which no model saw. The data folders are written
under --work (outside git) and reused; so are the cached embeddings.

    python benchmarks/images.py --work runs/images
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from vidgru.train.photo_sets import FASHION_MNIST_DIR, write_arrangement, write_categories

HEADS = ("gru", "linear", "mlp")
HEAD_NAMES = {"gru": "region GRU (7x7 cells, row- + column-major, bidirectional)",
              "linear": "linear probe (pooled features)", "mlp": "mean-pooled MLP"}


def prepare(work: Path, args) -> dict[str, Path]:
    tasks = {"categories": work / "fashion", "arrangement": work / "arrangement",
             "arrangement_random": work / "arrangement_random"}
    if not (tasks["categories"] / "test").is_dir():
        write_categories(tasks["categories"] / "train", "train", args.per_class_train, seed=0, root=args.fmnist)
        write_categories(tasks["categories"] / "test", "test", args.per_class_test, seed=1, root=args.fmnist)
    if not (tasks["arrangement"] / "test").is_dir():
        write_arrangement(tasks["arrangement"] / "train", "train", args.arrangement_train, seed=2, root=args.fmnist)
        write_arrangement(tasks["arrangement"] / "test", "test", args.arrangement_test, seed=3, root=args.fmnist)
    if not (tasks["arrangement_random"] / "test").is_dir():
        for split, count, seed in (("train", args.arrangement_train, 4), ("test", args.arrangement_test, 5)):
            write_arrangement(tasks["arrangement_random"] / split, split, count, seed=seed, root=args.fmnist,
                              placement="random")
    return tasks


def vidgru(*argv: str) -> None:
    cmd = [sys.executable, "-m", "vidgru", *argv]
    print("$ vidgru " + " ".join(argv), flush=True)
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {' '.join(cmd)}\n{done.stderr[-2000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default="runs/images", help="data folders, models and reports go here")
    parser.add_argument("--fmnist", default=str(FASHION_MNIST_DIR), help="folder of Fashion-MNIST's IDX files")
    parser.add_argument("--per-class-train", type=int, default=150)
    parser.add_argument("--per-class-test", type=int, default=100)
    parser.add_argument("--arrangement-train", type=int, default=400, help="canvases per class")
    parser.add_argument("--arrangement-test", type=int, default=200, help="canvases per class")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--patience", type=int, default=8)
    parser.add_argument("--hidden-size", type=int, default=128)
    parser.add_argument("--tasks", default="categories,arrangement,arrangement_random")
    args = parser.parse_args()
    work = Path(args.work)
    tasks = prepare(work, args)
    cache = str(work / "cache")
    rows = []
    for task in args.tasks.split(","):
        data = tasks[task]
        for head in HEADS:
            model = work / f"{task}-{head}.pt"
            train = ["train", str(data / "train"), "--head", head, "--out", str(model), "--epochs", str(args.epochs),
                     "--patience", str(args.patience), "--hidden-size", str(args.hidden_size), "--proj-dim",
                     str(args.hidden_size), "--seed", "0", "--cache-dir", cache, "-q"]
            if task == "categories":
                train.append("--flip-augment")  # a mirrored article is the same article; not so for arrangement
            t0 = time.time()
            vidgru(*train)
            seconds = time.time() - t0
            report = work / f"{task}-{head}.eval.json"
            vidgru("eval", str(data / "test"), "--model", str(model), "--report", str(report), "--confusion-png",
                   str(work / f"{task}-{head}.confusion.png"), "--cache-dir", cache, "-q")
            result = json.loads(report.read_text())
            rows.append((task, head, result["n"], result["accuracy"], result.get("top5_accuracy"),
                         result["macro_f1"], seconds))
            print(f"{task:<18} {head:<7} test images {result['n']}: top-1 {100 * result['accuracy']:.1f}%", flush=True)
    print()
    print("| task | model | test images | top-1 | top-5 | macro-F1 | train s |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for task, head, n, acc, top5, f1, seconds in rows:
        top5_text = f"{100 * top5:.1f}%" if top5 is not None else "-"
        print(f"| {task} | {HEAD_NAMES[head]} | {n} | {100 * acc:.1f}% | {top5_text} | {f1:.3f} | {seconds:.0f} |")


if __name__ == "__main__":
    main()
