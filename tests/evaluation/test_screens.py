"""experiments/screens.py: a screen's rows as they come, then as JSON and summarised."""

import json

from ..helpers import script


def test_rows_go_to_stderr_as_they_come_then_json_and_the_summary(capsys):
    screens = script("experiments", "screens")
    seen = []

    def summary(rows, out):
        seen.append(rows)
        print("summary", file=out)

    rows = [{"run": "a", "acc": 0.9}, {"run": "b", "acc": 0.8}]
    screens.report_rows(iter(rows), summary, as_json=True)
    out, err = capsys.readouterr()
    assert json.loads(out) == rows and seen == [rows]
    assert err.splitlines() == [json.dumps(rows[0]), json.dumps(rows[1]), "summary"]
    screens.report_rows(iter(rows), summary, as_json=False)
    out, err = capsys.readouterr()
    assert out == "summary\n" and len(err.splitlines()) == 2


def test_a_saved_screen_is_summarised_again_without_running_one(tmp_path, capsys):
    screens = script("experiments", "screens")
    (tmp_path / "rows.json").write_text(json.dumps([{"run": "a"}]))
    args = screens.screen_parser("A screen.\n\nMore.", ["x", "y"]).parse_args(
        ["--summary", str(tmp_path / "rows.json")]
    )
    assert args.ways == "x,y" and args.runs == []
    got = []
    assert screens.saved_summary(args, got.append) and got == [[{"run": "a"}]]
    assert not screens.saved_summary(screens.screen_parser("A.", ["x"]).parse_args([]), print)
