import re
import warnings

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siamese_faces.data.layout import open_dataset
from siamese_faces.data.lfw import (
    DuplicatePairsWarning,
    PairsFormatError,
    check_disjoint,
    parse_pairs,
    resolve_images,
)


def parse(tmp_path, text, name="p.txt"):
    path = tmp_path / name
    path.write_text(text)
    return path, parse_pairs(path)


def error(tmp_path, text):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(PairsFormatError) as info:
        parse_pairs(path)
    return str(info.value)


def test_view1_parses_same_then_different(tmp_path):
    _, pf = parse(tmp_path, "2\nA_B\t1\t2\nC_D\t3\t4\nA_B\t1\tC_D\t2\nE_F\t1\tA_B\t4\n")
    assert pf.format == "view1" and pf.folds == 1
    assert [p.same for p in pf.pairs] == [True, True, False, False]
    assert pf.pairs[0].name1 == pf.pairs[0].name2 == "A_B"
    assert (pf.pairs[2].name1, pf.pairs[2].index1, pf.pairs[2].name2, pf.pairs[2].index2) == (
        "A_B",
        1,
        "C_D",
        2,
    )
    assert [p.line for p in pf.pairs] == [2, 3, 4, 5]
    assert pf.people == {"A_B", "C_D", "E_F"}


def test_view2_parses_folds(tmp_path):
    lines = ["3 1"]
    for f in range(3):
        lines += [f"P{f}\t1\t2", f"P{f}\t1\tQ{f}\t1"]
    _, pf = parse(tmp_path, "\n".join(lines) + "\n")
    assert pf.format == "view2" and pf.folds == 3
    assert [p.fold for p in pf.pairs] == [0, 0, 1, 1, 2, 2]
    assert [p.same for p in pf.pairs] == [True, False] * 3


def test_crlf_and_trailing_blank_lines_are_fine(tmp_path):
    _, pf = parse(tmp_path, "1\r\nA\t1\t2\r\nA\t1\tB\t1\r\n\r\n\n")
    assert len(pf.pairs) == 2


@pytest.mark.parametrize(
    "text, line, message",
    [
        ("1\nA\t1\nA\t1\tB\t1\n", 2, "3 tab-separated fields"),
        ("1\nA\t1\t2\nA\t1\tB\n", 3, "4 tab-separated fields"),
        ("1\nA\tx\t2\nA\t1\tB\t1\n", 2, "not an integer"),
        ("1\nA\t0\t2\nA\t1\tB\t1\n", 2, "must be positive"),
        ("1\nA\t1\t-3\nA\t1\tB\t1\n", 2, "must be positive"),
        ("2\nA\t1\t2\nA\t1\tB\t1\n", 3, "header says"),
        ("1\nA\t1\t2\nA\t1\tB\t1\nC\t1\t2\n", 4, "header says"),
        ("x\nA\t1\t2\n", 1, "header"),
        ("", 1, "empty pairs file"),
        ("1\n../etc\t1\t2\nA\t1\tB\t1\n", 2, "path separator"),
        ("1\nA/B/C\t1\t2\nA\t1\tB\t1\n", 2, "path separator"),  # Group/Name at most
        ("1\n/A\t1\t2\nA\t1\tB\t1\n", 2, "path separator"),
        ("1\nA/..\t1\t2\nA\t1\tB\t1\n", 2, "path separator"),
        ("1\nA//B\t1\t2\nA\t1\tB\t1\n", 2, "path separator"),
        ("1\nA\t1\t2\nA\t1\t..\\x\t1\n", 3, "path separator"),
    ],
)
def test_every_error_names_file_and_line(tmp_path, text, line, message):
    msg = error(tmp_path, text)
    assert re.search(rf"bad\.txt:{line}\b", msg), msg
    assert message in msg


def test_missing_file_is_named(tmp_path):
    with pytest.raises(PairsFormatError, match="nope.txt: pairs file not found"):
        parse_pairs(tmp_path / "nope.txt")


def test_duplicate_pairs_warn_with_their_lines(tmp_path):
    text = "2\nA\t1\t2\nA\t2\t1\nA\t1\tB\t1\nC\t1\tD\t1\n"
    with pytest.warns(DuplicatePairsWarning, match="lines 2, 3"):
        parse(tmp_path, text)


def test_no_warning_without_duplicates(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parse(tmp_path, "1\nA\t1\t2\nA\t1\tB\t1\n")


def test_missing_image_is_an_error_naming_the_line(lfw_like):
    ds = open_dataset(lfw_like)
    bad = lfw_like / "bad.txt"
    bad.write_text("1\nAlice_A\t1\t9\nAlice_A\t1\tBob_B\t1\n")
    with pytest.raises(PairsFormatError, match=r"bad\.txt:2: Alice_A has no image Alice_A_0009"):
        resolve_images(parse_pairs(bad), ds)
    bad.write_text("1\nAlice_A\t1\t2\nAlice_A\t1\tNobody\t1\n")
    with pytest.raises(PairsFormatError, match=r"bad\.txt:3: no such person"):
        resolve_images(parse_pairs(bad), ds)


def test_resolve_images_gives_the_numbered_files(lfw_like):
    ds = open_dataset(lfw_like)
    pf = parse_pairs(lfw_like / "pairsDevTrain.txt")
    files = resolve_images(pf, ds)
    assert files[0][0].name == "Alice_A_0001.jpg" and files[0][1].name == "Alice_A_0002.jpg"


def test_overlap_between_train_and_test_is_an_error(tmp_path):
    _, a = parse(tmp_path, "1\nA\t1\t2\nA\t1\tB\t1\n", "a.txt")
    _, b = parse(tmp_path, "1\nC\t1\t2\nB\t1\tD\t1\n", "b.txt")
    with pytest.raises(PairsFormatError, match="share 1 person"):
        check_disjoint(a, b)
    assert check_disjoint(a, b, allow_overlap=True) == {"B"}


names = st.from_regex(r"[A-Za-z][A-Za-z_\-]{0,15}", fullmatch=True)
indices = st.integers(min_value=1, max_value=9999)


@given(
    st.lists(st.tuples(names, indices, indices), min_size=1, max_size=8),
    st.lists(st.tuples(names, indices, names, indices), min_size=8, max_size=8),
)
def test_roundtrip_any_valid_view1_file(tmp_path_factory, same, different):
    different = different[: len(same)]
    text = (
        "\n".join(
            [str(len(same))]
            + ["\t".join(map(str, s)) for s in same]
            + ["\t".join(map(str, d)) for d in different]
        )
        + "\n"
    )
    path = tmp_path_factory.mktemp("h") / "p.txt"
    path.write_text(text)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DuplicatePairsWarning)
        pf = parse_pairs(path)
    assert [(p.name1, p.index1, p.index2) for p in pf.pairs[: len(same)]] == same
    assert [(p.name1, p.index1, p.name2, p.index2) for p in pf.pairs[len(same) :]] == different


@given(st.text(max_size=60))
def test_arbitrary_text_parses_or_fails_cleanly(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("h") / "p.txt"
    path.write_text(text)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DuplicatePairsWarning)
        try:
            pf = parse_pairs(path)
        except PairsFormatError as exc:
            assert str(path) in str(exc)
        else:
            assert len(pf.pairs) % 2 == 0


@pytest.mark.parametrize("index", ["1_0", "+1", "\u0661", " 1x", "1.0"])
def test_an_index_is_plain_ascii_digits(tmp_path, index):
    path = tmp_path / "pairs.txt"
    path.write_text(f"1\nA_B\t{index}\t2\nA_B\t1\tC_D\t1\n", encoding="utf-8")
    with pytest.raises(PairsFormatError, match=f"{path}:2: image index"):
        parse_pairs(path)


def test_a_byte_order_mark_and_any_line_ends_are_read(tmp_path):
    path = tmp_path / "pairs.txt"
    path.write_bytes("\ufeff1\rA_B\t1\t2\r\nA_B\t1\tC_D\t1\r".encode())
    pf = parse_pairs(path)
    assert [(p.name1, p.index1, p.index2) for p in pf.pairs] == [("A_B", 1, 2), ("A_B", 1, 1)]


def test_errors_quote_a_short_excerpt_and_name_non_utf8(tmp_path):
    path = tmp_path / "pairs.txt"
    path.write_text("x" * 100_000 + "\n")
    with pytest.raises(PairsFormatError) as info:
        parse_pairs(path)
    assert len(str(info.value)) < 400 and "xxxxx" not in str(info.value)  # no echo of the line
    path.write_bytes(b"1\n\xff\xfe\t1\t2\n")
    with pytest.raises(PairsFormatError, match="not UTF-8 text"):
        parse_pairs(path)
    with pytest.raises(PairsFormatError, match="a folder, not a pairs file"):
        parse_pairs(tmp_path)
