"""The searcher-overhead report: verdicts and growth from given measurements."""

from __future__ import annotations

from benchmarks import searcher_overhead as so


def _result(tpe_1000: float, gp_300_mean: float, warm_1000: float = 0.9
            ) -> dict[str, list[dict[str, float]]]:
    return {
        "tpe": [{"trials": 100, "tunelab": 1.0, "optuna": 3.0},
                {"trials": 1000, "tunelab": tpe_1000, "optuna": 12.0}],
        "tpe_warm": [{"trials": 100, "tunelab": 0.8, "optuna": 2.0},
                     {"trials": 1000, "tunelab": warm_1000, "optuna": 10.0}],
        "gp": [{"trials": 100, "tunelab": 8.0, "tunelab_mean": 9.0, "optuna": 80.0,
                "optuna_mean": 90.0},
               {"trials": 300, "tunelab": 30.0, "tunelab_mean": gp_300_mean,
                "optuna": 900.0, "optuna_mean": 950.0}],
    }


def test_report_states_both_limits_and_the_growth() -> None:
    text = so.render(_result(1.5, 40.0), 60.0, ("1.0", "1.0"), "cmd")
    assert "Limit 2 ms at 1,000 trials (between other work): met (1.50 ms)" in text
    assert "Limit 2 ms at 1,000 trials (consecutive): met (0.90 ms)" in text
    assert "Limit 100 ms at 300 trials: met (mean 40.0 ms)" in text
    assert "grows 1.5x for 10x the trials (0.15 of linear)" in text
    assert "| 1,000 | 1.50 | 12.00 | 8.0x |" in text
    assert "| 1,000 | 0.90 | 10.00 | 11.1x |" in text
    assert text.index("### Between other work") < text.index("| 1,000 | 1.50 |") \
        < text.index("### Consecutive") < text.index("| 1,000 | 0.90 |")
    assert "| 90-99 | 8.0 | 9.0 | 80.0 | 90.0 | 10.0x |" in text


def test_report_says_not_met_when_over_the_limits() -> None:
    text = so.render(_result(2.5, 120.0, 2.1), 60.0, ("1.0", "1.0"), "cmd")
    assert "Limit 2 ms at 1,000 trials (between other work): **not met** (2.50 ms)" in text
    assert "Limit 2 ms at 1,000 trials (consecutive): **not met** (2.10 ms)" in text
    assert "Limit 100 ms at 300 trials: **not met** (mean 120.0 ms)" in text


def test_report_scales_tunelab_to_the_issue_s_optuna_figures() -> None:
    text = so.render(_result(1.5, 40.0), 60.0, ("1.0", "1.0"), "cmd")  # Optuna 12 ms
    assert "Optuna's TPE took 12.00 ms here" in text
    assert ("this reading's ratio tunelab would take 2.00-2.62 ms where Optuna takes 16-21 ms "
            "(around the limit)") in text
    text = so.render(_result(1.2, 40.0), 60.0, ("1.0", "1.0"), "cmd")
    assert "tunelab would take 1.60-2.10 ms" in text and "(around the limit)" in text
    text = so.render(_result(1.0, 40.0), 60.0, ("1.0", "1.0"), "cmd")
    assert "tunelab would take 1.33-1.75 ms where Optuna takes 16-21 ms (within the limit)" in text
    # the consecutive reading is scaled by its own ratio (0.9 ms next to Optuna's 10 ms)
    assert "tunelab would take 1.44-1.89 ms where Optuna takes 16-21 ms (within the limit)" in text
