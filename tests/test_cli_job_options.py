"""`videojob run` and `videojob submit` share the job options (cli/jobopts.py): the same flags, choices and defaults,
and the defaults are the job model's (videojob.common.jobmodel), so a job means the same here and on a cluster."""

from __future__ import annotations

import argparse

from videojob.cli import jobopts, kube, local
from videojob.common.jobmodel import JobConfig


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    local.add_parsers(sub)
    kube.add_parsers(sub)
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _options(p: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {flag: a for a in p._actions for flag in a.option_strings}


def test_run_and_submit_define_the_job_options_alike() -> None:
    run, submit = (_options(_subparsers()[c]) for c in ("run", "submit"))
    for opt in jobopts.OPTIONS:
        a, b = run[opt.flag], submit[opt.flag]
        assert a.default is None and b.default is None, opt.flag  # unset: the model's default
        assert a.choices == b.choices and a.type is b.type and type(a) is type(b), opt.flag
        assert a.help and b.help, opt.flag


def test_help_shows_the_models_default() -> None:
    run = _options(_subparsers()["run"])
    assert "(default: blur)" in run["--op"].help
    assert "(default: 18)" in run["--quality"].help and "(default: 0)" in run["--classes"].help


def test_both_commands_make_the_same_job_from_the_same_options() -> None:
    argv = [
        "--region",
        "0.1,0.2,0.3,0.4",
        "--op",
        "fill",
        "--quality",
        "30",
        "--hwaccel",
        "none",
        "--sample-every",
        "3",
    ]
    parsers = _subparsers()
    run_args = parsers["run"].parse_args(["in.mp4", "-o", "out.mp4", *argv])
    submit_args = parsers["submit"].parse_args(["in.mp4", "out.mp4", "--claim", "media", *argv])
    run_job = local.build_config(run_args)
    spec = kube.build_spec(submit_args)
    submit_job = JobConfig.model_validate({k: spec[k] for k in ("detector", "operation", "encode", "decode")})
    assert submit_job.detector == run_job.detector and submit_job.operation == run_job.operation
    assert submit_job.encode == run_job.encode and submit_job.decode == run_job.decode
    assert spec["detector"]["regions"] == [{"left": 0.1, "top": 0.2, "width": 0.3, "height": 0.4}]
    # Nothing left unset is written: the CRD's defaults (the same model's) apply.
    assert spec["encode"] == {"quality": 30} and "segmentation" not in spec


def test_unset_options_give_the_model_defaults() -> None:
    args = _subparsers()["run"].parse_args(["in.mp4", "-o", "out.mp4", "--segments", "2"])
    config = local.build_config(args)
    assert config.operation == JobConfig().operation and config.encode == JobConfig().encode
    assert config.detector.kind == "none" and config.segmentation.segments == 2
