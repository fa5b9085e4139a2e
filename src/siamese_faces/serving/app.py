"""The HTTP service: a trained run loaded once, behind FastAPI (served by uvicorn).

``GET /health``; ``POST /verify`` (two images), ``/embed``, ``/identify``; ``POST /gallery/{name}``
(enroll photos), ``GET /gallery``, ``DELETE /gallery/{name}``; a web page at ``/`` and
OpenAPI docs at ``/docs``. Uploads are bytes only: no request value ever names a file on the
server. Over ``max_bytes`` is 413, not an image or too many pixels is 400, each with a JSON
``detail`` that says what was wrong. With ``api_key`` every request but ``/health`` must carry
it in the ``X-API-Key`` header.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import io
import queue
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Annotated

import numpy as np
import torch
from fastapi import FastAPI, File, HTTPException, Query, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse
from PIL import Image
from starlette.datastructures import Headers

from ..data.align import NoFaceError
from ..data.images import MAX_PIXELS, BadImageError, TooManyPixels, load_image
from ..evaluation.runs import LoadedRun
from .api import open_gallery, search_form, unknown_threshold
from .gallery import GalleryError, check_name

MAX_BYTES = 10 * 1024 * 1024
TEMPLATES = Path(__file__).parent / "templates"


def _png(gray: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(gray).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


Image_ = Annotated[UploadFile, File(description="an image file (JPEG, PNG, ...)")]


class Batcher:
    """One thread runs the model; requests that arrive while it works are embedded together
    in its next batch. Batching concurrent requests is what makes throughput: a batch of 16
    faces costs far less than 16 batches of one. While other requests are still being
    decoded, a batch waits up to ``wait`` seconds for them rather than leaving with one."""

    def __init__(self, run: LoadedRun, most: int = 64, wait: float = 0.002) -> None:
        self.run, self.most, self.wait = run, most, wait
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.decoding = 0  # requests between arriving and submitting their faces
        threading.Thread(target=self._work, daemon=True, name="embedder").start()

    def submit(self, faces: list[np.ndarray]) -> Future:
        future: Future = Future()
        self.queue.put((faces, future))
        return future

    def _batch(self) -> list:
        jobs = [self.queue.get()]
        count, deadline = len(jobs[0][0]), time.monotonic() + self.wait
        while count < self.most:
            left = deadline - time.monotonic()
            try:  # only worth waiting for a request that is on its way; else leave at once
                job = self.queue.get(timeout=left) if self.decoding and left > 0 else None
                job = self.queue.get_nowait() if job is None else job
            except queue.Empty:
                break
            jobs.append(job)
            count += len(job[0])
        return jobs

    def _work(self) -> None:
        while True:
            jobs = self._batch()
            try:
                h = self.run.embed(torch.from_numpy(np.stack([f for j in jobs for f in j[0]])))
            except Exception as exc:  # every waiting request hears of it
                for _, future in jobs:
                    future.set_exception(exc)
                continue
            start = 0
            for faces, future in jobs:
                future.set_result(h[start : start + len(faces)])
                start += len(faces)


class Service:
    """What every route shares: the run, its gallery, the limits, the model's one thread."""

    def __init__(self, run: LoadedRun, gallery_dir, max_bytes: int, far: float) -> None:
        self.run, self.max_bytes, self.far = run, max_bytes, far
        self.gallery = open_gallery(run, gallery_dir) if gallery_dir else None
        self.batcher = Batcher(run)
        self._unknown: tuple[float, str] | None = None

    async def decode(self, upload: UploadFile, field: str) -> np.ndarray:
        data = await upload.read(self.max_bytes + 1)
        if len(data) > self.max_bytes:
            raise HTTPException(413, f"{field}: over the limit of {self.max_bytes:,} bytes")
        if not data:
            raise HTTPException(400, f"{field}: empty upload; send an image file")
        try:  # decoding (and aligning) in a worker thread: the event loop stays free
            return await run_in_threadpool(load_image, field, self.run.preprocess, data=data)
        except NoFaceError:
            raise HTTPException(400, f"{field}: no face found; send a photo with a face") from None
        except TooManyPixels:  # said for the field, never naming a server path
            raise HTTPException(
                400, f"{field}: over the limit of {MAX_PIXELS:,} pixels; send a smaller image"
            ) from None
        except BadImageError:
            raise HTTPException(
                400, f"{field}: not an image that can be decoded; send a JPEG or PNG file"
            ) from None

    async def read(self, *uploads: tuple[UploadFile, str]) -> tuple[list[np.ndarray], torch.Tensor]:
        """The faces of the uploaded images (each named by its field) and their embeddings."""
        self.batcher.decoding += 1  # the batcher may wait for these faces
        try:
            faces = [await self.decode(upload, field) for upload, field in uploads]
            pending = self.batcher.submit(faces)
        finally:
            self.batcher.decoding -= 1
        return faces, await asyncio.wrap_future(pending)

    def need_gallery(self):
        if self.gallery is None:
            raise HTTPException(404, "no gallery: start the service with --gallery DIR")
        return self.gallery

    def unknown(self) -> tuple[float, str]:
        if self._unknown is None:
            self._unknown = unknown_threshold(self.run, self.far)
        return self._unknown


def create_app(
    run: LoadedRun,
    gallery_dir: str | Path | None = None,
    api_key: str | None = None,
    max_bytes: int = MAX_BYTES,
    far: float = 1e-3,
) -> FastAPI:
    """The service of ``run`` (aligned as the run is set to), with a gallery if asked."""
    app = FastAPI(title="siamese-faces", description=__doc__.split("\n\n")[0])
    svc = Service(run, gallery_dir, max_bytes, far)

    app.add_middleware(_Gate, api_key=api_key, max_bytes=max_bytes)
    _face_routes(app, svc)
    _gallery_routes(app, svc)
    _page(app, svc, bool(api_key))
    return app


class _Gate:
    """The key check and the early size limit, as plain ASGI: Starlette's ``@middleware``
    wrapper runs every request through an extra task and body stream."""

    def __init__(self, app, api_key: str | None, max_bytes: int) -> None:
        self.app, self.api_key, self.max_bytes = app, api_key, max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            refusal = self.refusal(scope)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def refusal(self, scope) -> JSONResponse | None:
        headers = Headers(scope=scope)
        # The page holds no data (its calls carry the key); /health tells only that it runs.
        if self.api_key and scope["path"] not in ("/health", "/"):
            given = headers.get("x-api-key", "")
            if not hmac.compare_digest(given.encode(), self.api_key.encode()):
                return JSONResponse({"detail": "missing or wrong X-API-Key header"}, 401)
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_bytes + 64 * 1024:  # multipart overhead
            return JSONResponse(
                {"detail": f"upload over the limit of {self.max_bytes:,} bytes"}, 413
            )
        return None


Faces = Annotated[bool, Query(description="also return the faces as the model saw them (PNG)")]


def _face_routes(app: FastAPI, svc: Service) -> None:
    run = svc.run

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "run": run.path.name, "aligned": run.align is not None}

    @app.post("/verify")
    async def verify(image1: Image_, image2: Image_, faces: Faces = False) -> dict:
        """Same person or not: the verdict, the score, the threshold and where it came from;
        with ``faces=true`` the two faces as the model saw them."""
        seen, h = await svc.read((image1, "image1"), (image2, "image2"))
        score = float(run.scores(h[:1], h[1:])[0])
        return {
            "same": score > run.threshold,
            "score": score,
            "threshold": run.threshold,
            "threshold_origin": run.threshold_origin,
            "aligned": run.align is not None,
            **({"faces": [_png(f) for f in seen]} if faces else {}),
        }

    @app.post("/embed")
    async def embed(image: Image_) -> dict:
        """The face's embedding; with a score normalisation, also its mean and standard
        deviation against the cohort, which turn two faces' cosine into the run's score."""
        _, h = await svc.read((image, "image"))
        out = {"embedding": h[0].tolist(), "dim": int(h.shape[1])}
        stats = run.net.cohort_stats(h.float())
        if stats is not None:
            out["cohort_stats"] = stats[0].tolist()
        return out


def _gallery_routes(app: FastAPI, svc: Service) -> None:
    @app.post("/identify")
    async def identify(image: Image_, top_k: int = 5, faces: Faces = False) -> dict:
        """The best-matching enrolled people; "unknown" below the threshold at the service's
        false-accept rate on the run's validation pairs."""
        gallery = svc.need_gallery()
        (face,), h = await svc.read((image, "image"))
        matches = gallery.search(search_form(svc.run, h, "query"), max(1, min(top_k, 100)))
        limit, origin = svc.unknown()
        best = matches[0][0] if matches[0] else None
        return {
            "answer": best.name if best and best.score > limit else "unknown",
            "matches": [{"name": m.name, "score": m.score} for m in matches[0]],
            "threshold": limit,
            "threshold_origin": origin,
            **({"face": _png(face)} if faces else {}),
        }

    @app.post("/gallery/{name}")
    async def enroll(name: str, images: list[UploadFile]) -> dict:
        gallery = svc.need_gallery()
        try:
            check_name(name)
        except GalleryError as exc:
            raise HTTPException(400, str(exc)) from None
        faces, h = await svc.read(*((im, f"images[{k}]") for k, im in enumerate(images)))
        vectors = search_form(svc.run, h)
        gallery.enroll([(name, vectors, [f"upload {k + 1}" for k in range(len(faces))])])
        return {
            "name": name,
            "images": sum(p["images"] for p in gallery.people() if p["name"] == name),
        }

    @app.get("/gallery")
    def people() -> list[dict]:
        return svc.need_gallery().people()

    @app.delete("/gallery/{name}")
    def remove(name: str) -> dict:
        if not svc.need_gallery().remove(name):
            raise HTTPException(404, "no such person in the gallery")
        return {"removed": name}


def _page(app: FastAPI, svc: Service, key_needed: bool) -> None:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape())
    html = env.get_template("index.html.j2").render(
        run=svc.run.path.name, gallery=svc.gallery is not None, api_key_needed=key_needed
    )

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return html
