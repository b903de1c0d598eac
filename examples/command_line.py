"""Command-line trials: tune a script you already have, without changing it.

``cli_train.py`` takes ``--lr`` and ``--momentum`` and prints a JSON line of metrics per
epoch. ``tunelab run`` fills the ``{placeholders}`` of the command with each trial's
values, reads the JSON lines as reports, and stops a run early by ending the process when
ASHA (in stopping mode) says so. The same command in a shell:

    tunelab run --space examples/cli_train.yaml --metric val_loss \\
        --scheduler asha --mode stopping --min-resource 1 --max-resource 27 \\
        --trials 30 --seed 0 --study cli-demo --store command-line.db \\
        -- python examples/cli_train.py --lr {lr} --momentum {momentum} \\
           --epochs {trial.resource} --seed {trial.seed}

    python examples/command_line.py            # that command, 30 trials
    python examples/command_line.py --quick    # 6 trials, 9 epochs at most
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tunelab import Study, load_study
from tunelab.cli import cli

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> Study:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny run (for CI)")
    parser.add_argument("--store", default="command-line.db", help="where trials go")
    args = parser.parse_args(argv)
    trials, epochs = (6, 9) if args.quick else (30, 27)
    command = [
        "run", "--space", str(HERE / "cli_train.yaml"), "--metric", "val_loss",
        "--scheduler", "asha", "--mode", "stopping", "--min-resource", "1",
        "--max-resource", str(epochs), "--trials", str(trials), "--seed", "0",
        "--study", "cli-demo", "--store", args.store, "--no-progress",
        "--", sys.executable, str(HERE / "cli_train.py"), "--lr", "{lr}",
        "--momentum", "{momentum}", "--epochs", "{trial.resource}", "--seed", "{trial.seed}",
    ]
    cli.main(command, prog_name="tunelab", standalone_mode=False)
    study = load_study("cli-demo", args.store)
    for trial in study.leaderboard(5):
        print(f"trial {trial.number:2d}  val_loss {trial.value:.4f}  "
              f"epochs {trial.system_attrs.get('step')}  {trial.config}")
    return study


if __name__ == "__main__":
    main()
