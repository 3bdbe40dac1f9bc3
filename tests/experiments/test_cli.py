"""The command line: --version, every option's help shows its default, flags checked before any file with
one line and exit status 2, and a missing optional dependency named by its extra."""
import argparse
import dataclasses
import importlib

import pytest

from minidl import __version__
from minidl.experiments import cli, engine


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.setattr(cli, "EXPERIMENTS", cli.EXPERIMENTS + ["engine_toy"])
    return "engine_toy"


def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"minidl {__version__}"


def _subparsers(parser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield sub
                yield from _subparsers(sub)


def test_every_option_has_help_with_its_default(toy):
    subs = list(_subparsers(cli.build_parser()))
    assert len(subs) >= len(cli.EXPERIMENTS) + len(cli.REPRODUCTIONS)
    for sub in subs:
        for action in sub._actions:
            if action.option_strings and action.dest not in ("help", "list"):
                assert action.help and "default" in action.help, (sub.prog, action.dest)
    text = next(s for s in subs if s.prog.endswith("engine_toy")).format_help()
    assert "(default: 50; --quick: 20)" in text


def test_every_help_page_formats_even_with_a_percent_sign_in_a_help_text(toy, monkeypatch):
    import engine_toy
    percent = dataclasses.replace(
        engine_toy.EXPERIMENT, help="fit lines of two slopes, 100 % of them",
        settings=engine_toy.EXPERIMENT.settings + (engine.Setting("share", 0.5, "rows used, 1 = 100 %"),))
    monkeypatch.setattr(engine_toy, "EXPERIMENT", percent)
    parser = cli.build_parser()
    assert "100 % of them" in parser.format_help()  # onenow --help raised ValueError on "the original's 1 %"
    for sub in _subparsers(parser):
        sub.format_help()
    assert "rows used, 1 = 100 % (default: 0.5)" in next(
        s for s in _subparsers(parser) if s.prog.endswith("engine_toy")).format_help()


@pytest.mark.parametrize("argv, message", [
    (["onenow", "--epochs", "0"], "minidl onenow: --epochs must be positive, got 0"),
    (["onenow", "--seeds", "0"], "minidl onenow: --seeds must be positive, got 0"),
    (["onenow", "--paths", "0"], "minidl onenow: --paths must be positive, got 0"),
    (["onenow", "--lr", "nan"], "minidl onenow: --lr must be a finite number, got nan"),
    (["onenow", "--dropout", "0.1", "inf"], "minidl onenow: --dropout must be a finite number, got inf"),
    (["digits", "--quick", "--momentum", "1.5"], "minidl digits: --momentum must be in [0, 1), got 1.5"),
    (["spectrum", "--epochs", "0"], "minidl spectrum: --epochs must be positive, got 0"),
    (["spectrum", "--workers", "0"], "minidl spectrum: --workers must be 1 or more, got 0"),
    (["reproduce", "edjm", "--percentile", "100"],
     "minidl reproduce edjm: --percentile must be in [0, 100), got 100.0"),
    (["reproduce", "low-rank", "--width", "8"],
     "minidl reproduce low-rank: --width must be above 10, the paper's rank, got 8"),
    (["reproduce", "pruning", "--points", "1"], "minidl reproduce pruning: --points must be 2 or more, got 1")])
def test_bad_flags_of_an_engine_experiment_exit_2_before_any_file(tmp_path, capsys, argv, message):
    out = tmp_path / "run"
    assert cli.main(argv + ["--out", str(out)]) == 2
    assert capsys.readouterr().err == message + "\n" and not out.exists()


@pytest.mark.parametrize("argv, message", [
    (["onenow", "--updates", "abc"], "minidl onenow: argument --updates: invalid int value: 'abc' "
                                     "(see minidl onenow --help)"),
    (["onenow", "--bogus"], "minidl onenow: unrecognized arguments: --bogus (see minidl onenow --help)"),
    (["reproduce", "low-rank", "--bogus"], "minidl reproduce low-rank: unrecognized arguments: --bogus "
                                           "(see minidl reproduce low-rank --help)"),
    (["reproduce"], "minidl reproduce: name a reproduction, or use --list (see minidl reproduce --help)"),
    (["reproduce", "--list", "low-rank", "--quick"], "minidl reproduce: --list lists the reproductions; give it "
                                                     "or low-rank, not both (see minidl reproduce --help)"),
    (["nothing"], "minidl: argument COMMAND: invalid choice: 'nothing'"),
    ([], "minidl: the following arguments are required: COMMAND (see minidl --help)")])
def test_a_flag_argparse_refuses_is_one_line_without_the_usage_block(capsys, argv, message):
    with pytest.raises(SystemExit) as done:
        cli.main(argv)
    err = capsys.readouterr().err
    assert done.value.code == 2 and err.startswith(message) and err.count("\n") == 1


def test_an_address_where_nothing_listens_is_one_line_before_any_file(tmp_path, capsys, monkeypatch):
    import socket
    with socket.socket() as listening:                     # a port that answers, then one that no longer does
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        assert engine._unanswered(f"127.0.0.1:{port}") is None
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{port}")
    assert cli.main(["digits", "--quick", "--out", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err.startswith(f"minidl digits: --address 127.0.0.1:{port} (or RAY_ADDRESS): "
                                              f"nothing answers there (Connection refused); start the head "
                                              f"with `ray start --head --port {port}`")
    assert not (tmp_path / "run").exists()
    assert engine._unanswered("auto") is None and engine._unanswered("ray://head:10001") is None


def test_ctrl_c_is_exit_status_130_and_one_line_saying_how_to_resume(tmp_path, capsys, monkeypatch):
    def interrupted(experiment, args):
        raise KeyboardInterrupt
    monkeypatch.setattr(engine, "main", interrupted)
    assert cli.main(["digits", "--quick", "--out", str(tmp_path / "run")]) == 130
    assert capsys.readouterr().err == "\nminidl digits: interrupted; the same command resumes from the stored " \
                                      "trials\n"


def test_an_out_folder_that_cannot_be_made_is_one_line(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    out = tmp_path / "file" / "run"
    assert cli.main(["digits", "--quick", "--out", str(out)]) == 2
    assert capsys.readouterr().err == f"minidl digits: cannot write into {out} (Not a directory); give a " \
                                      "writable --out\n"


def test_an_explicit_flag_beats_quick(tmp_path):
    assert cli.main(["digits", "--quick", "--epochs", "2", "--out", str(tmp_path)]) == 0
    assert len((tmp_path / "history.csv").read_text().splitlines()) == 1 + 2


def test_workers_without_ray_name_the_extra(tmp_path, capsys, monkeypatch, toy):
    real = importlib.util.find_spec
    monkeypatch.setattr(engine.importlib.util, "find_spec", lambda name: None if name == "ray" else real(name))
    out = tmp_path / "run"
    assert cli.main([toy, "--workers", "2", "--out", str(out)]) == 2
    assert "pip install 'minidl[cluster]'" in capsys.readouterr().err and not out.exists()


def test_a_subcommand_whose_dependency_is_missing_parses_its_flags_and_names_the_extra(capsys, monkeypatch):
    real = importlib.import_module

    def without_ray(name):
        if name == "minidl.experiments.digits":
            raise ModuleNotFoundError("No module named 'ray'", name="ray")
        return real(name)

    monkeypatch.setattr(cli.importlib, "import_module", without_ray)
    assert cli.main(["digits", "--quick", "--epochs", "3"]) == 2
    assert "pip install 'minidl[cluster]'" in capsys.readouterr().err


def test_an_engine_run_from_the_command_line_and_no_bar_off_a_terminal(tmp_path, capsys, toy):
    assert cli.main([toy, "--quick", "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and "not judged (smoke run)" in captured.out
    assert (tmp_path / "report.md").is_file()


def test_an_engine_experiment_as_a_reproduction(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(cli.REPRODUCTIONS, "toy", "engine_toy")
    assert cli.main(["reproduce", "--list"]) == 0
    assert "toy                      fit lines of two slopes" in capsys.readouterr().out
    assert cli.main(["reproduce", "toy", "--points", "-3", "--out", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err == "minidl reproduce toy: --points must be positive, got -3\n"
