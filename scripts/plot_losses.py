"""Plots the style and content loss curves of `atelier train` runs (their FILE.losses.csv) side by
side, smoothed over 10 steps, for docs/training.md.

    python scripts/plot_losses.py OUT.png LABEL=RUN.losses.csv [LABEL=RUN.losses.csv ...]

Needs matplotlib (not part of the project's test environment; any Python with it will do).
"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def smooth(values, n=10):
    return [sum(values[max(0, i - n + 1):i + 1]) / len(values[max(0, i - n + 1):i + 1]) for i in range(len(values))]


def main():
    out, runs = sys.argv[1], [a.split("=", 1) for a in sys.argv[2:]]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for label, path in runs:
        rows = list(csv.DictReader(open(path)))
        steps = [int(r["step"]) for r in rows]
        for ax, key in zip(axes, ["style", "content"]):
            ax.plot(steps, smooth([float(r[key]) for r in rows]), label=label)
    for ax, key in zip(axes, ["style", "content"]):
        ax.set_title(f"{key} loss (own network's units; 10-step mean)")
        ax.set_xlabel("step")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=90)


if __name__ == "__main__":
    main()
