"""The HTTP service on a tiny trained run: every route, its limits, its key."""

import io
import json

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the service needs fastapi (the [serve] extra, in [test])")
pytest.importorskip("faiss", reason="the gallery needs faiss-cpu (the [serve] extra, in [test])")

from fastapi.testclient import TestClient  # noqa: E402

from siamese_faces.cli import main  # noqa: E402
from siamese_faces.evaluation.runs import load_run  # noqa: E402
from siamese_faces.serving.app import create_app  # noqa: E402


def client(run_dir, tmp_path, **kw):
    run = load_run(run_dir[0])
    return TestClient(create_app(run, tmp_path / "gallery", **kw)), run


def face(data, name, k=1):
    return (data / "lfw2" / name / f"{name}_{k:04d}.jpg").read_bytes()


def test_verify_answers_with_the_threshold_and_its_origin(run_dir, tmp_path):
    c, run = client(run_dir, tmp_path)
    assert c.get("/health").json()["status"] == "ok"
    data = run_dir[1]
    r = c.post(
        "/verify?faces=true", files={"image1": face(data, "Gus_G"), "image2": face(data, "Gus_G")}
    )
    body = r.json()
    assert r.status_code == 200 and body["threshold"] == run.threshold
    assert body["threshold_origin"] == "validation pairs, best accuracy"
    assert body["faces"][0].startswith("data:image/png;base64,") and len(body["faces"]) == 2
    other = c.post("/verify", files={"image1": face(data, "Gus_G"), "image2": face(data, "Hal_H")})
    assert body["score"] >= other.json()["score"]  # a photo is most like itself
    assert "faces" not in other.json()  # only when asked: an API client rarely wants them
    e = c.post("/embed", files={"image": face(data, "Ivy_I")}).json()
    assert e["dim"] == len(e["embedding"]) > 0


def png(width, height, mode="L"):
    buf = io.BytesIO()
    Image.new(mode, (width, height)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize(
    "payload, status, message",
    [
        (b"", 400, "empty upload"),
        (b"not an image at all", 400, "not an image that can be decoded"),
        (b"\xff\xd8\xff\xe0" + b"\0" * 100, 400, "not an image that can be decoded"),  # truncated
        (b"x" * 3000, 413, "over the limit of 2,000 bytes"),
    ],
)
def test_bad_uploads_are_json_errors(run_dir, tmp_path, payload, status, message):
    c, _ = client(run_dir, tmp_path, max_bytes=2000)
    r = c.post("/embed", files={"image": payload})
    assert r.status_code == status and message in r.json()["detail"]
    assert "/" not in r.json()["detail"].split(":")[0]  # names the field, no server path


def test_a_decompression_bomb_is_400(run_dir, tmp_path):
    c, _ = client(run_dir, tmp_path)
    r = c.post("/embed", files={"image": png(9000, 8000, "1")})
    assert r.status_code == 400 and "over the limit" in r.json()["detail"]


def test_no_request_value_names_a_server_file(run_dir, tmp_path):
    c, _ = client(run_dir, tmp_path)
    r = c.post("/embed", data={"image": str(run_dir[1] / "lfw2" / "Gus_G" / "Gus_G_0001.jpg")})
    assert r.status_code == 422  # a path is no upload


def test_the_api_key_guards_everything_but_health_and_the_page(run_dir, tmp_path):
    c, _ = client(run_dir, tmp_path, api_key="s3cret")
    assert c.get("/health").status_code == 200 and c.get("/").status_code == 200
    assert c.get("/gallery").status_code == 401
    assert c.get("/gallery", headers={"X-API-Key": "wrong"}).status_code == 401
    assert c.get("/gallery", headers={"X-API-Key": "s3cret"}).status_code == 200


def test_a_public_bind_needs_a_key(run_dir, capsys, monkeypatch):
    monkeypatch.delenv("SIAMESE_FACES_API_KEY", raising=False)
    assert main(["serve", str(run_dir[0]), "--host", "0.0.0.0"]) == 2
    assert "give --api-key" in capsys.readouterr().err


def test_gallery_enroll_identify_list_delete(run_dir, tmp_path):
    c, _ = client(run_dir, tmp_path)
    data = run_dir[1]
    for name in ("Alice_A", "Bob_B", "Carol_C"):
        r = c.post(f"/gallery/{name}", files=[("images", face(data, name, 1))])
        assert r.json() == {"name": name, "images": 1}
    assert c.post("/gallery/<b>x", files=[("images", face(data, "Eve_E"))]).status_code == 400
    assert [p["name"] for p in c.get("/gallery").json()] == ["Alice_A", "Bob_B", "Carol_C"]
    r = c.post("/identify", files={"image": face(data, "Alice_A", 1)}).json()
    alice = next(m["score"] for m in r["matches"] if m["name"] == "Alice_A")
    assert alice == pytest.approx(1, abs=1e-3) and alice >= r["matches"][0]["score"] - 1e-3
    assert "validation pairs" in r["threshold_origin"]
    assert r["answer"] in ("Alice_A", "unknown")
    assert c.delete("/gallery/Bob_B").json() == {"removed": "Bob_B"}
    assert c.delete("/gallery/Bob_B").status_code == 404
    assert [p["name"] for p in c.get("/gallery").json()] == ["Alice_A", "Carol_C"]


def test_the_page_and_the_docs(run_dir, tmp_path):
    c, _ = client(run_dir, tmp_path)
    page = c.get("/").text
    assert "Verify two photos" in page and "Identify against the gallery" in page
    assert "innerHTML" not in page  # names and messages are set as text, never as HTML
    assert "/verify" in json.dumps(c.get("/openapi.json").json()["paths"])
    assert c.get("/docs").status_code == 200


def test_enroll_and_identify_commands(run_dir, tmp_path, capsys):
    run, data = run_dir
    gallery = tmp_path / "g"
    assert (
        main(["enroll", str(run), "--gallery", str(gallery), "--align", "none", str(data / "lfw2")])
        == 0
    )
    assert "images of 9 people enrolled" in capsys.readouterr().out
    probe = data / "lfw2" / "Alice_A" / "Alice_A_0002.jpg"
    argv = [
        "identify",
        str(run),
        "--gallery",
        str(gallery),
        "--align",
        "none",
        str(probe),
        "--top-k",
        "9",
        "--json",
    ]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    matches = out["answers"][0]["matches"]
    # The probe itself is enrolled: its person scores ~1, the best (a 2-epoch model may tie).
    alice = next(m["score"] for m in matches if m["name"] == "Alice_A")
    assert alice == pytest.approx(1, abs=1e-3) and alice >= matches[0]["score"] - 1e-3
    assert np.isfinite(out["answers"][0]["threshold"])
